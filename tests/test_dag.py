"""The DAG file as the scheduler sees it."""

from __future__ import annotations

import time

from usersegments.config import PROJECT_DIR


def test_dag_imports_without_errors_and_parses_fast():
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=str(PROJECT_DIR / "dags"))
    elapsed = time.perf_counter() - started

    assert bag.import_errors == {}
    assert "user_segments_pipeline" in bag.dags
    # rendered from the pre-built manifest: no dbt invocation while parsing
    assert elapsed < 30, f"parsing took {elapsed:.1f}s"


def test_every_stage_is_gated_by_its_checkpoint():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT_DIR / "dags")).dags["user_segments_pipeline"]
    tasks = {task.task_id: task for task in dag.tasks}

    def downstream(task_id: str) -> set[str]:
        return {t.task_id for t in tasks[task_id].get_flat_relatives(upstream=False)}

    dbt = {t for t in tasks if t.startswith("dbt_")}
    assert dbt, "dbt models are rendered as tasks"
    assert dbt <= downstream("validate_raw_reviews")
    assert {t for t in dbt if not t.startswith("dbt_clean.")} <= downstream(
        "validate_staged_reviews"
    )
    assert {t for t in dbt if t.startswith("dbt_marts.")} <= downstream("validate_user_features")
    assert "embed_reviews" in downstream("dbt_marts.users.run")
    assert "validate_review_embeddings" in downstream("embed_reviews")
    assert "summarise" in downstream("validate_review_embeddings")
    assert set(dag.params.keys()) >= {"source_files", "strict_expectations"}
