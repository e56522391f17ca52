"""How the DAGs run the project's stages, configured once from the settings.

- dbt: astronomer-cosmos task groups, rendered from the pre-built manifest (``make
  setup`` runs ``dbt parse``), so the scheduler never invokes dbt to parse a DAG. Each
  model is one task running ``dbt build`` on it (the model, then its tests): a failed
  test fails the model's task and stops everything downstream.
- Spark: ``spark-submit`` of a job in spark_jobs/ on the lake and the encoder.
"""

from __future__ import annotations

from typing import Any

from usersegments.airflow_cli import SPARK_CONN_ID, WAREHOUSE_POOL
from usersegments.config import AS_OF_FORMAT, DBT_PROJECT_DIR, MANIFEST_PATH, Settings
from usersegments.encoder import encoder_dir
from usersegments.spark import SPARK_JOBS_DIR, spark_conf, staged_jars

# The "as of" a run sees: its data interval's end (UTC), for a scheduled or backfilled
# run and a manual one given a logical date; empty (everything) for a manual run
# without one, whose template context has no data_interval_end at all (and Airflow's
# templates are strict about undefined names). dbt takes it as the var ``as_of``, the
# segmentation job as --as-of.
AS_OF = (
    f"{{{{ data_interval_end.in_timezone('UTC').strftime('{AS_OF_FORMAT}') "
    "if data_interval_end is defined and data_interval_end else '' }}"
)


class ManifestMissing(RuntimeError):
    pass


def warehouse_pool(settings: Settings) -> str:
    """The pool of the tasks that open the published warehouse, in any DAG: the embedded
    DuckDB file takes one process at a time, and ``max_active_tasks`` only limits one
    DAG. A run's build is its own (one run at a time); PostgreSQL takes many writers."""
    return "default_pool" if settings.production or settings.building else WAREHOUSE_POOL


def task_group_args(select: str, settings: Settings) -> dict[str, Any]:
    """Arguments for a cosmos DbtTaskGroup running the dbt nodes ``select`` picks."""
    from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import (
        ExecutionMode,
        InvocationMode,
        LoadMode,
        TestBehavior,
        TestIndirectSelection,
    )

    if not MANIFEST_PATH.exists():
        raise ManifestMissing(f"{MANIFEST_PATH} not found: run `make setup` (or `make manifest`)")
    return {
        "project_config": ProjectConfig(
            dbt_project_path=DBT_PROJECT_DIR,
            manifest_path=MANIFEST_PATH,
            install_dbt_deps=False,
            env_vars=settings.env(),
        ),
        "profile_config": ProfileConfig(
            profile_name="usersegments",
            target_name=settings.dbt_target,
            profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml",
        ),
        "execution_config": ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            # dbt is installed beside Airflow: run it in-process, about 1 s a node.
            invocation_mode=InvocationMode.DBT_RUNNER,
            # A test of several models runs once, after all of them (see below).
            test_indirect_selection=TestIndirectSelection.CAUTIOUS,
        ),
        "render_config": RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=[select],
            # one task per model (`dbt build`: run, then its tests), not two
            test_behavior=TestBehavior.BUILD,
            # The pipeline declares its own assets on the tasks that publish them.
            emit_datasets=False,
            should_detach_multiple_parents_tests=True,
        ),
    }


def dbt_group(tag: str, settings: Settings):
    """The dbt nodes tagged ``tag`` as the task group ``dbt_<tag>``."""
    from cosmos import DbtTaskGroup

    return DbtTaskGroup(
        group_id=f"dbt_{tag}",
        operator_args={"pool": warehouse_pool(settings), "vars": {"as_of": AS_OF}},
        **task_group_args(f"tag:{tag}", settings),
    )


def spark_job(job: str, args: list[str], settings: Settings, jars: bool = False):
    """spark_jobs/<job>.py through spark-submit, on the lake and the encoder. ``jars``:
    the staged jars on the classpath (Spark NLP), which the MLlib jobs do not need."""
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    common = ["--lake-dir", str(settings.lake_dir), "--encoder-dir", str(encoder_dir(settings))]
    return SparkSubmitOperator(
        task_id=job,
        conn_id=SPARK_CONN_ID,
        application=str(SPARK_JOBS_DIR / f"{job}.py"),
        name=job,
        jars=",".join(staged_jars(settings)) if jars else None,
        conf=spark_conf(settings),
        application_args=[*common, *args],
    )
