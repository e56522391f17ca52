"""
### Score new users

Runs each time the pipeline publishes a segmentation (the `lake.segments` asset).
Scores the users no earlier scoring run has scored with the champion interest
classifier (`models:/interest_classifier@champion` in the MLflow registry), assigns
each to the nearest centroid of the current segments, validates the result, and
publishes the `user_interest_scores` mart.

`score_users` → GX `user_scores` (every current user scored exactly once; this run
wrote the users it read minus those already scored) → dbt `scoring` → publish.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import chain, dag, task

from orchestration.assets import USER_INTEREST_SCORES, USER_SEGMENTS
from orchestration.tasks import dbt_stage
from usersegments.config import Settings

SETTINGS = Settings.from_env()


@dag(
    dag_id="score_new_users",
    schedule=[USER_SEGMENTS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # one writer of the embedded DuckDB warehouse at a time
    max_active_runs=1,
    max_active_tasks=1,
    doc_md=__doc__,
    tags=["user-segments", "ml"],
)
def score_new_users():
    @task
    def score_users(run_id=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from ml.scoring import ChampionMissing
        from ml.scoring import score_new_users as score

        try:
            return score(SETTINGS, run_id)
        except ChampionMissing as reason:
            raise AirflowSkipException(str(reason)) from None

    @task
    def validate_user_scores(report: dict, run_id=None) -> dict:
        from usersegments.quality import run_checkpoint, update_data_docs

        expected = {"expected_new_scores": report["users_read"] - report["already_scored"]}
        summary = run_checkpoint("user_scores", SETTINGS, run_id, parameters=expected)
        update_data_docs(SETTINGS, run_id)
        return summary

    @task
    def load_scores() -> dict:
        """Production profile: the scores into PostgreSQL (DuckDB reads the lake in place)."""
        from usersegments.warehouse_load import load_source

        return load_source("scoring", SETTINGS)

    @task(outlets=[USER_INTEREST_SCORES])
    def publish(report: dict, check: dict) -> dict:
        return {**report, "expectations_passed": check["passed"]}

    report = score_users()
    check = validate_user_scores(report)
    chain(check, load_scores(), dbt_stage("scoring", SETTINGS), publish(report, check))


score_new_users()
