"""The pipeline's warehouse tasks, configured from the settings they are given.

Write-audit-publish (usersegments.publish): ``start_build`` gives the run an empty
build, dbt and the checkpoints work on it, ``publish`` moves it to the published
warehouse after the last gate. ``load`` and ``export_marts`` move tables between the
lake and a PostgreSQL warehouse (production profile); with DuckDB they only log.
"""

from __future__ import annotations

from airflow.sdk import task

from orchestration.tasks import warehouse_pool
from usersegments.config import Settings


def start_build(settings: Settings):
    @task(task_id="start_build")
    def start() -> None:
        from usersegments.publish import start_build

        start_build(settings)

    return start()


def load(source: str, task_id: str, settings: Settings):
    """A dbt source's lake tables into PostgreSQL."""

    @task(task_id=task_id)
    def load_warehouse() -> dict:
        from usersegments.warehouse_load import load_source

        return load_source(source, settings)

    return load_warehouse()


def export_marts(settings: Settings):
    """The exported marts from PostgreSQL to lake/clean."""

    @task(task_id="export_marts")
    def export() -> dict:
        from usersegments.warehouse_load import export_marts

        return export_marts(settings)

    return export()


def publish(settings: Settings):
    """The run's build replaces the published tables, in one transaction."""

    @task(task_id="publish_warehouse", pool=warehouse_pool(settings))
    def publish_warehouse() -> dict:
        from usersegments.publish import publish_build

        return publish_build(settings)

    return publish_warehouse()
