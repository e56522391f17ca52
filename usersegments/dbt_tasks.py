"""How the Airflow DAG runs dbt: astronomer-cosmos, rendered from a pre-built manifest.

``make setup`` (and ``make manifest``) runs ``dbt parse`` to write the manifest, so
the scheduler renders the dbt task groups without invoking dbt at parse time.
"""

from __future__ import annotations

from typing import Any

from usersegments.config import PROJECT_DIR, Settings

DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"


class ManifestMissing(RuntimeError):
    pass


def task_group_args(select: str, settings: Settings) -> dict[str, Any]:
    """Arguments for a cosmos DbtTaskGroup running the dbt nodes tagged ``select``."""
    from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestIndirectSelection

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
            # The pipeline declares its own assets on the tasks that publish them.
            emit_datasets=False,
            should_detach_multiple_parents_tests=True,
        ),
    }
