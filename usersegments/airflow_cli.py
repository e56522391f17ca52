"""Run the `airflow` command with this project's configuration.

The one place the project's Airflow settings live: the Makefile, the tests and CI all
go through here, so `make demo`, `make up` and the tests see the same DAGs folder,
Airflow home and data folder. Usage: ``python -m usersegments.airflow_cli <airflow args>``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

from usersegments.config import PROJECT_DIR, Settings
from usersegments.spark import spark_env

SPARK_CONN_ID = "usersegments_spark"


def spark_connection(master: str) -> str:
    """An Airflow Spark connection (JSON form) for a master URL: local[N] or spark://h:p."""
    if master.startswith("spark://") and master.count(":") == 2:
        host, port = master.rsplit(":", 1)
        return json.dumps({"conn_type": "spark", "host": host, "port": int(port)})
    return json.dumps({"conn_type": "spark", "host": master})


def airflow_env(settings: Settings) -> dict[str, str]:
    """Airflow configuration of the embedded (local) profile for one data folder."""
    return {
        "AIRFLOW_HOME": str(settings.data_dir / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Airflow's own default, stated: tasks run as processes of the scheduler's host.
        # A PostgreSQL metadata DB (production profile) comes from the operator's
        # AIRFLOW__DATABASE__SQL_ALCHEMY_CONN; without it, SQLite in AIRFLOW_HOME.
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # `airflow standalone` otherwise starts enough workers to use ~5.5 GB
        "AIRFLOW__CORE__PARALLELISM": "4",
        # the UI and API on this machine only; login required (simple auth manager,
        # generated password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": "8080",
        # where LocalExecutor's task processes reach the API server's execution API
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://127.0.0.1:8080/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__COSMOS__CACHE_DIR": str(settings.data_dir / "cosmos"),
        # no usage metrics sent from task processes (and no wait on an unreachable host)
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "GX_ANALYTICS_ENABLED": "false",
        f"AIRFLOW_CONN_{SPARK_CONN_ID.upper()}": spark_connection(settings.spark.master),
        **spark_env(),
        **settings.env(),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # Defaults first: anything the operator set in the environment wins.
    env = {**airflow_env(Settings.from_env()), **os.environ}
    # `airflow standalone` starts its components as `airflow ...` found on PATH.
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    airflow = shutil.which("airflow", path=bin_dir) or "airflow"
    os.execvpe(airflow, [airflow, *args], env)
    return 1  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
