"""
### User segments pipeline

Ingest the review files into the lake (bad lines quarantined with a reason), validate
them, clean and model them with dbt, validate again between stages, publish the marts
analysts query (`reviews`, `users`, `items`), embed the review text, segment the users,
publish the segment marts (`segments`, `user_segments`, ...), and write a run summary
and a segment report.

`ingest` → GX `raw_reviews` → (load) dbt `clean` → GX `staged_reviews` → dbt `features`
→ GX `user_features` → dbt `marts` (→ export) → Spark NLP `embed_reviews` (spark-submit,
incremental) → GX `review_embeddings` → Spark MLlib `segment_users` (spark-submit)
→ GX `user_segments` → dbt `segments` → recommendations: Spark MLlib refit of the
segmentation on each user's earlier reviews (`segment_evaluation_users`), per-segment
rankings and per-user top-N lists, offline evaluation against popularity and random
baselines (MLflow) → GX `recommendations` → dbt `recommendations` → interest
classifier: train and compare in MLflow, register the best as `challenger` → promotion
gate (`champion` only if it beats the current one) → report → summary. A failed hard expectation fails its task
and nothing downstream runs, so bad data is never published. The `score_new_users`
DAG runs when this one publishes its segments.

The load and export steps move tables between the lake and the warehouse when it is
a PostgreSQL server (`USERSEGMENTS_PROFILE=production`); with the embedded DuckDB
warehouse, dbt reads and writes the lake itself and they only log that.

Params set at trigger time: which source files, strict expectations, the
segmentation: algorithm, a forced number of segments (empty: chosen by silhouette),
the smallest segment allowed, the feature group weights; the recommendation list
length and recency half-life; and the promotion gate's margin and per-class floor.
"""

from __future__ import annotations

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Param, dag, task
from cosmos import DbtTaskGroup

from usersegments.airflow_cli import SPARK_CONN_ID
from usersegments.assets import (
    INTEREST_CLASSIFIER,
    PUBLISHED_MARTS,
    RAW_REVIEWS,
    REVIEW_EMBEDDINGS,
    SEGMENT_RECOMMENDATIONS,
    SETTINGS,
    USER_SEGMENTS,
)
from usersegments.config import PROJECT_DIR
from usersegments.dbt_tasks import task_group_args
from usersegments.encoder import encoder_dir
from usersegments.spark import spark_conf, staged_jars


def spark_job(job: str, args: list[str], task_id: str | None = None) -> SparkSubmitOperator:
    """spark_jobs/<job>.py through spark-submit, on the lake and the encoder's embeddings."""
    return SparkSubmitOperator(
        task_id=task_id or job,
        conn_id=SPARK_CONN_ID,
        application=str(PROJECT_DIR / "spark_jobs" / f"{job}.py"),
        name=job,
        jars=",".join(staged_jars(SETTINGS)),
        conf=spark_conf(),
        application_args=[
            "--lake-dir", str(SETTINGS.lake_dir),
            "--encoder-dir", str(encoder_dir(SETTINGS)),
            *args,
        ],
    )  # fmt: skip


@dag(
    dag_id="user_segments_pipeline",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # The embedded DuckDB warehouse takes one writing process at a time (and blocks
    # readers in other processes while it writes): run one task at a time. A PostgreSQL
    # warehouse takes concurrent writers, so there independent dbt nodes and tests run
    # side by side (the stages themselves are a chain).
    max_active_runs=1,
    max_active_tasks=4 if SETTINGS.production else 1,
    doc_md=__doc__,
    tags=["user-segments"],
    params={
        "source_files": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Source files",
            description="File names in the source folder to ingest; empty for all of them.",
        ),
        "strict_expectations": Param(
            False,
            type="boolean",
            title="Strict expectations",
            description="Stop the run on soft (warning) expectation failures too.",
        ),
        "segmentation_algorithm": Param(
            "kmeans",
            type="string",
            enum=["kmeans", "bisecting_kmeans", "gaussian_mixture"],
            title="Segmentation algorithm",
            description="Spark MLlib clustering of the fused user features.",
        ),
        "segment_count": Param(
            None,
            type=["null", "integer"],
            minimum=2,
            title="Number of segments",
            description="Force k; leave empty to choose it by silhouette over k = 3..10.",
        ),
        "min_segment_share": Param(
            0.01,
            type="number",
            minimum=0,
            maximum=0.5,
            title="Smallest segment (share of users)",
            description="k with a smaller segment is not chosen; a run with one fails its expectations.",
        ),
        "feature_weights": Param(
            {"behaviour": 1.0, "text": 1.0, "graph": 1.0},
            type="object",
            title="Feature group weights",
            description="Weight of each feature group in the fused features (0 leaves it out).",
        ),
        "recommendation_count": Param(
            10,
            type="integer",
            minimum=1,
            maximum=100,
            title="Recommendations per user",
            description="Length of each user's top-N list; the offline metrics are @N.",
        ),
        "recency_half_life_days": Param(
            365,
            type="number",
            exclusiveMinimum=0,
            title="Recency half-life (days)",
            description="A review's weight in its segment's item ranking halves every this many days.",
        ),
        "promotion_margin": Param(
            0.01,
            type="number",
            minimum=0,
            maximum=1,
            title="Promotion margin (macro F1)",
            description="The challenger becomes champion only if its held-out macro F1 beats the champion's by this much.",
        ),
        "class_f1_floor": Param(
            0.5,
            type="number",
            minimum=0,
            maximum=1,
            title="Per-class F1 floor",
            description="No challenger with a class below this held-out F1 becomes champion.",
        ),
    },
)
def user_segments_pipeline():
    @task(outlets=[RAW_REVIEWS])
    def ingest(params=None, run_id=None) -> dict:
        from usersegments.ingest import ingest_sources

        SETTINGS.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        (SETTINGS.lake_dir / "clean").mkdir(parents=True, exist_ok=True)
        return ingest_sources(
            SETTINGS.source_dir, SETTINGS.lake_dir, run_id, params["source_files"] or None
        )

    @task
    def validate(checkpoint: str, params=None, run_id=None) -> dict:
        from usersegments.quality import run_checkpoint

        return run_checkpoint(checkpoint, SETTINGS, run_id, strict=params["strict_expectations"])

    @task
    def load_warehouse(source: str) -> dict:
        """Production profile: the dbt source's lake tables into PostgreSQL (DuckDB reads them in place)."""
        from usersegments.warehouse_load import load_source

        return load_source(source, SETTINGS)

    @task
    def export_marts() -> dict:
        """Production profile: the exported marts to lake/clean (DuckDB's dbt post-hook does it)."""
        from usersegments.warehouse_load import export_marts

        return export_marts(SETTINGS)

    @task
    def validate_user_segments(params=None, run_id=None) -> dict:
        from usersegments.quality import run_checkpoint, segment_size_parameters

        return run_checkpoint(
            "user_segments",
            SETTINGS,
            run_id,
            strict=params["strict_expectations"],
            parameters=segment_size_parameters(SETTINGS, params["min_segment_share"]),
        )

    @task
    def train_interest_classifier(run_id=None) -> dict:
        from ml.data import NotEnoughClasses
        from ml.train import train

        try:
            return train(SETTINGS, segmentation_run_id=run_id, pipeline_run_id=run_id)
        except NotEnoughClasses as reason:
            # e.g. one source file: one interest; the segments are still published
            print(f"interest classifier not trained: {reason}")
            return {"skipped": str(reason)}

    @task
    def recommend_segments(params=None, run_id=None) -> dict:
        from ml.recommend import RecommenderConfig, recommend_and_evaluate

        config = RecommenderConfig(
            top_n=params["recommendation_count"], half_life_days=params["recency_half_life_days"]
        )
        return recommend_and_evaluate(SETTINGS, run_id, config)

    @task
    def validate_recommendations(params=None, run_id=None) -> dict:
        from usersegments.quality import run_checkpoint

        return run_checkpoint(
            "recommendations",
            SETTINGS,
            run_id,
            strict=params["strict_expectations"],
            parameters={"top_n": params["recommendation_count"]},
        )

    @task(outlets=[INTEREST_CLASSIFIER])
    def promote_interest_classifier(training: dict, params=None, dag=None, run_id=None) -> dict:
        from ml.registry import GatePolicy, gate

        if "skipped" in training:
            return training
        policy = GatePolicy(params["promotion_margin"], params["class_f1_floor"])
        return {**training, "gate": gate(SETTINGS, policy, actor=f"airflow:{dag.dag_id}/{run_id}")}

    @task
    def segment_report(run_id=None) -> str:
        from usersegments.segment_report import write_report

        return str(write_report(SETTINGS, run_id))

    @task(outlets=[*PUBLISHED_MARTS, REVIEW_EMBEDDINGS, USER_SEGMENTS, SEGMENT_RECOMMENDATIONS])
    def summarise(
        ingest_report: dict,
        checks: list[dict],
        report: str,
        classifier: dict,
        recommendations: dict,
        run_id=None,
    ) -> dict:
        from usersegments.summary import build_summary, format_summary

        summary = build_summary(
            SETTINGS, run_id, ingest_report, checks, report, classifier, recommendations
        )
        print(format_summary(summary))
        return summary

    ingest_report = ingest()
    raw_check = validate.override(task_id="validate_raw_reviews")("raw_reviews")
    load_raw = load_warehouse.override(task_id="load_raw_reviews")("amazon")
    dbt_clean = DbtTaskGroup(group_id="dbt_clean", **task_group_args("tag:clean", SETTINGS))
    staged_check = validate.override(task_id="validate_staged_reviews")("staged_reviews")
    dbt_features = DbtTaskGroup(
        group_id="dbt_features", **task_group_args("tag:features", SETTINGS)
    )
    features_check = validate.override(task_id="validate_user_features")("user_features")
    dbt_marts = DbtTaskGroup(group_id="dbt_marts", **task_group_args("tag:marts", SETTINGS))
    marts_export = export_marts()
    embed_reviews = spark_job("embed_reviews", ["--batch-id", "{{ run_id }}"])
    embeddings_check = validate.override(task_id="validate_review_embeddings")("review_embeddings")
    segment_users = spark_job(
        "segment_users",
        [
            "--run-id", "{{ run_id }}",
            "--algorithm", "{{ params.segmentation_algorithm }}",
            "--k", "{{ params.segment_count or 0 }}",
            "--min-segment-share", "{{ params.min_segment_share }}",
            "--weights", "{{ params.feature_weights | tojson }}",
        ],
    )  # fmt: skip
    segments_check = validate_user_segments()
    load_segmentation = load_warehouse.override(task_id="load_segmentation")("segmentation")
    dbt_segments = DbtTaskGroup(
        group_id="dbt_segments", **task_group_args("tag:segments", SETTINGS)
    )
    # the evaluation's segmentation: the published run's settings, earlier reviews only
    segment_evaluation_users = spark_job(
        "segment_users",
        ["--run-id", "{{ run_id }}", "--evaluation"],
        task_id="segment_evaluation_users",
    )
    recommendations = recommend_segments()
    recommendations_check = validate_recommendations()
    load_recommendations = load_warehouse.override(task_id="load_recommendations")(
        "recommendations"
    )
    dbt_recommendations = DbtTaskGroup(
        group_id="dbt_recommendations", **task_group_args("tag:recommendations", SETTINGS)
    )
    training = train_interest_classifier()
    classifier = promote_interest_classifier(training)
    report = segment_report()
    summary = summarise(
        ingest_report,
        [
            raw_check,
            staged_check,
            features_check,
            embeddings_check,
            segments_check,
            recommendations_check,
        ],
        report,
        classifier,
        recommendations,
    )

    ingest_report >> raw_check >> load_raw >> dbt_clean >> staged_check >> dbt_features
    (
        dbt_features
        >> features_check
        >> dbt_marts
        >> marts_export
        >> embed_reviews
        >> embeddings_check
    )
    (embeddings_check >> segment_users >> segments_check >> load_segmentation >> dbt_segments)
    dbt_segments >> segment_evaluation_users >> recommendations >> recommendations_check
    recommendations_check >> load_recommendations >> dbt_recommendations >> training
    classifier >> report >> summary


user_segments_pipeline()
