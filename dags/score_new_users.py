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
from airflow.sdk import dag, task
from cosmos import DbtTaskGroup

from usersegments.assets import SETTINGS, USER_INTEREST_SCORES, USER_SEGMENTS
from usersegments.dbt_tasks import task_group_args


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
            report = score(SETTINGS, run_id)
        except ChampionMissing as reason:
            raise AirflowSkipException(str(reason)) from None
        print(report)
        return report

    @task
    def validate_user_scores(report: dict, run_id=None) -> dict:
        from usersegments.quality import run_checkpoint

        expected = report["users_read"] - report["already_scored"]
        return run_checkpoint(
            "user_scores", SETTINGS, run_id, parameters={"expected_new_scores": expected}
        )

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
    dbt_scoring = DbtTaskGroup(group_id="dbt_scoring", **task_group_args("tag:scoring", SETTINGS))
    check >> load_scores() >> dbt_scoring >> publish(report, check)


score_new_users()
