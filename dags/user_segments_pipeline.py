"""
### User segments pipeline

`ingest` → GX `raw_reviews` → dbt `clean` → GX `staged_reviews` → dbt `features`
→ GX `user_features` → dbt `marts` → Spark NLP `embed_reviews` → GX `review_embeddings`
→ `segment_users` (k by macro-silhouette and stability, Spark places every user) → GX
`user_segments` → dbt `segments` → report (and the run in MLflow's `user_segmentation`)
→ evaluation refit (`segment_evaluation_users`) → `recommend_segments` → GX
`recommendations` → dbt `recommendations` → publish → interest classifier (train,
register `challenger`) → promotion gate → summary.

Write-audit-publish: dbt builds the run's tables apart (`start_build`), the gates audit
them, `publish_warehouse` replaces the published ones in one transaction. A failed hard
expectation stops everything downstream: analysts keep the previous run's tables, never
half of one. `load_*` and `export_marts` move tables between the lake and a PostgreSQL
warehouse (production profile). `score_new_users` runs when this DAG publishes segments.

Data intervals: on its schedule (yearly by default) or in a backfill (`make backfill`,
Airflow's own), a run sees the reviews before its data interval's end, the platform as
it was then; a manual run without a logical date sees everything.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import chain, dag, task

from orchestration.assets import (
    INTEREST_CLASSIFIER,
    PUBLISHED_MARTS,
    RAW_REVIEWS,
    REVIEW_EMBEDDINGS,
    SEGMENT_RECOMMENDATIONS,
    USER_SEGMENTS,
)
from orchestration.checkpoints import PIPELINE_CHECKPOINTS, expectation_parameters
from orchestration.params import PIPELINE_PARAMS
from orchestration.tasks import AS_OF, dbt_stage, spark_job, warehouse_pool
from orchestration.warehouse import export_marts, load, publish, start_build
from usersegments.config import Settings

SETTINGS = Settings.from_env()
BUILD = SETTINGS.for_build()  # the run's tables, until they are published
RUN = ["--run-id", "{{ run_id }}"]
SEGMENTATION = [
    *("--as-of", AS_OF),
    *("--algorithm", "{{ params.segmentation_algorithm }}"),
    *("--k", "{{ params.segment_count or 0 }}"),
    *("--min-segment-share", "{{ params.min_segment_share }}"),
    *("--weights", "{{ params.feature_weights | tojson }}"),
    *("--refit-every", "{{ params.refit_every_intervals }}"),
    *("--max-moved-share", "{{ params.max_moved_share }}"),
    *("--force-refit", "{{ params.force_refit }}"),
]


@dag(
    dag_id="user_segments_pipeline",
    # yearly by default (USERSEGMENTS_PIPELINE_SCHEDULE); the reviews start in 2001, so
    # a backfill can replay the history from there
    schedule=SETTINGS.pipeline_schedule,
    start_date=pendulum.datetime(2001, 1, 1, tz="UTC"),
    catchup=False,
    # The embedded DuckDB warehouse takes one writing process at a time: one task at a
    # time. PostgreSQL takes concurrent writers (and dbt's threads build a stage's
    # independent models side by side).
    max_active_runs=1,
    max_active_tasks=4 if SETTINGS.production else 1,
    doc_md=__doc__,
    tags=["user-segments"],
    params=PIPELINE_PARAMS,
)
def user_segments_pipeline():
    @task(outlets=[RAW_REVIEWS])
    def ingest(params=None, run_id=None) -> dict:
        from usersegments.ingest import IngestPolicy, ingest_sources

        policy = IngestPolicy(params["max_quarantined_share"])
        files, retire = params["source_files"] or None, params["retire_files"] or None
        return ingest_sources(SETTINGS, run_id, files, retire, policy)

    @task
    def validate(checkpoint: str, params=None, run_id=None) -> dict:
        from usersegments.quality import run_checkpoint

        parameters = expectation_parameters(checkpoint, params, SETTINGS)
        strict = params["strict_expectations"]
        return run_checkpoint(checkpoint, BUILD, run_id, strict=strict, parameters=parameters)

    # Off: the evaluation refit is skipped (and only it: the trigger rules downstream
    # decide), and recommend_segments publishes the lists alone.
    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def offline_evaluation(params=None) -> bool:
        return params["offline_evaluation"]

    @task(trigger_rule="none_failed")
    def recommend_segments(params=None, run_id=None) -> dict:
        from ml.recommend import RecommenderConfig, recommend_and_evaluate

        config = RecommenderConfig(params["recommendation_count"], params["recency_half_life_days"])
        return recommend_and_evaluate(SETTINGS, run_id, config, params["offline_evaluation"])

    @task
    def train_interest_classifier(run_id=None) -> dict:
        from ml.train import train_if_possible

        return train_if_possible(SETTINGS, segmentation_run_id=run_id, pipeline_run_id=run_id)

    @task(outlets=[INTEREST_CLASSIFIER])
    def promote_interest_classifier(training: dict, params=None, dag=None, run_id=None) -> dict:
        from ml.registry import GatePolicy, gate_training

        policy = GatePolicy(params["promotion_margin"], params["class_f1_floor"])
        return gate_training(SETTINGS, training, policy, actor=f"airflow:{dag.dag_id}/{run_id}")

    @task
    def segment_report(run_id=None) -> str:
        from ml.segmentation_runs import log_segmentation
        from usersegments.segment_report import write_report

        report = write_report(BUILD, run_id)  # the history marts are in the run's build
        log_segmentation(SETTINGS, run_id, report)  # the run in MLflow, report attached
        return str(report)

    @task(
        outlets=[*PUBLISHED_MARTS, REVIEW_EMBEDDINGS, USER_SEGMENTS, SEGMENT_RECOMMENDATIONS],
        pool=warehouse_pool(SETTINGS),
    )
    def summarise(
        ingested: dict, checks: list, report: str, classifier: dict, recommended: dict, run_id=None
    ) -> dict:
        from usersegments.quality import update_data_docs
        from usersegments.summary import build_summary, format_summary

        update_data_docs(SETTINGS, run_id)  # of the run's checkpoints, all passed
        summary = build_summary(SETTINGS, run_id, ingested, checks, report, classifier, recommended)
        print(format_summary(summary))
        return summary

    def check(name: str):
        return validate.override(task_id=f"validate_{name}")(name)

    def dbt(tag: str):
        return dbt_stage(tag, BUILD)

    ingested = ingest()
    checks = [check(name) for name in PIPELINE_CHECKPOINTS]
    raw, staged, features, embeddings, segments, recommendations = checks
    recommended = recommend_segments()
    training = train_interest_classifier()
    classifier = promote_interest_classifier(training)
    report = segment_report()
    chain(
        ingested,
        raw,
        start_build(SETTINGS),
        load("amazon", "load_raw_reviews", BUILD),
        dbt("clean"),
        staged,
        dbt("features"),
        features,
        dbt("marts"),
        export_marts(BUILD),
        spark_job("embed_reviews", ["--batch-id", "{{ run_id }}"], SETTINGS, jars=True),
        embeddings,
        spark_job("segment_users", [*RUN, *SEGMENTATION], SETTINGS),
        segments,
        load("segmentation", "load_segmentation", BUILD),
        dbt("segments"),
        report,
        offline_evaluation(),
        spark_job("segment_evaluation_users", RUN, SETTINGS),
        recommended,
        recommendations,
        load("recommendations", "load_recommendations", BUILD),
        dbt("recommendations"),
        publish(SETTINGS),
        training,
        classifier,
        summarise(ingested, checks, report, classifier, recommended),
    )


user_segments_pipeline()
