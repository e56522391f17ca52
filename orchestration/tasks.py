"""How the DAGs run the project's stages, configured once from the settings.

- dbt: one astronomer-cosmos ``dbt build`` task per stage (a tag of models), dbt
  in-process; the scheduler never invokes dbt to parse a DAG.
- Spark: ``spark-submit`` of a job in spark_jobs/ on the lake and the encoder.
"""

from __future__ import annotations

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


def warehouse_pool(settings: Settings) -> str:
    """The pool of the tasks that open the published warehouse, in any DAG: the embedded
    DuckDB file takes one process at a time, and ``max_active_tasks`` only limits one
    DAG. A run's build is its own (one run at a time); PostgreSQL takes many writers."""
    return "default_pool" if settings.production or settings.building else WAREHOUSE_POOL


def dbt_stage(tag: str, settings: Settings):
    """The task ``dbt_<tag>``: one ``dbt build`` of the models tagged ``tag``, each model
    then its tests, in dependency order; a failed test fails the task and stops
    everything downstream, and dbt skips the models after it.

    One task a stage, not one a model: the stages are what the gates audit, and a run
    of the two small files made 44 dbt invocations at 1.7 s each (a process each under
    the scheduler), where a stage's build takes a few seconds. dbt's own log in the
    task's log names the failing model or test; the lineage is dbt's docs."""
    from cosmos import ProfileConfig
    from cosmos.constants import InvocationMode
    from cosmos.operators.local import DbtBuildLocalOperator

    return DbtBuildLocalOperator(
        task_id=f"dbt_{tag}",
        project_dir=str(DBT_PROJECT_DIR),
        # `make manifest`'s parse, copied beside dbt's partial-parse cache: no full parse
        manifest_filepath=str(MANIFEST_PATH),
        profile_config=ProfileConfig(
            profile_name="usersegments",
            target_name=settings.dbt_target,
            profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml",
        ),
        select=f"tag:{tag}",
        # a test of this stage's models and earlier ones (a relationship to an upstream
        # mart) runs here; one that also reads a later stage's model runs with that one
        indirect_selection="buildable",
        vars={"as_of": AS_OF},
        env=settings.env(),
        # dbt is installed beside Airflow: run it in-process
        invocation_mode=InvocationMode.DBT_RUNNER,
        install_deps=False,
        # The pipeline declares its own assets on the tasks that publish them.
        emit_datasets=False,
        pool=warehouse_pool(settings),
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
