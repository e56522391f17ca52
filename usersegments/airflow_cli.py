"""Run the `airflow` command with this project's configuration.

The one place the project's Airflow settings live: the Makefile, the tests and CI all
go through here, so `make demo`, `make up` and the tests see the same DAGs folder,
Airflow home and data folder. Usage: ``python -m usersegments.airflow_cli <airflow args>``.

Two commands of its own:

- ``init``: migrate Airflow's metadata database and create the pools the DAGs use;
- ``up``: Airflow's components as ``airflow standalone`` starts them, but with the log
  servers off: they bind every interface (0.0.0.0 and ::, ports 8793/8794), and with
  the LocalExecutor the API server reads the task logs from disk anyway. Everything
  else binds 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from usersegments.config import PROJECT_DIR, Settings
from usersegments.spark import spark_env

SPARK_CONN_ID = "usersegments_spark"
# Tasks that open the embedded DuckDB warehouse, whichever DAG they belong to, take the
# one slot of this pool: DuckDB takes one writing process at a time.
WAREHOUSE_POOL = "embedded_warehouse"
COMPONENTS = (
    ["api-server"],
    ["scheduler", "--skip-serve-logs"],
    ["dag-processor"],
    ["triggerer", "--skip-serve-logs"],
)
PRIVATE_UMASK = 0o077


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
        # the scheduler's health check server, when an operator enables it (Airflow's
        # default host is every interface)
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        # where LocalExecutor's task processes reach the API server's execution API
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://127.0.0.1:8080/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__COSMOS__CACHE_DIR": str(settings.data_dir / "cosmos"),
        # no usage metrics sent from task processes (and no wait on an unreachable host)
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "GX_ANALYTICS_ENABLED": "false",
        f"AIRFLOW_CONN_{SPARK_CONN_ID.upper()}": spark_connection(settings.spark.master),
        # the Spark UI of a job binds SPARK_LOCAL_IP, else every interface
        "SPARK_LOCAL_IP": settings.spark.driver_host,
        **spark_env(),
        **settings.env(),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # Everything Airflow and its tasks create (the raw lake with raw ids and names, the
    # warehouse, airflow.db, the generated admin password) is the owner's alone.
    os.umask(PRIVATE_UMASK)
    # Defaults first: anything the operator set in the environment wins.
    env = {**airflow_env(Settings.from_env()), **os.environ}
    # `airflow standalone` starts its components as `airflow ...` found on PATH.
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    airflow = shutil.which("airflow", path=bin_dir) or "airflow"
    if args[:1] == ["up"]:
        return up(airflow, env)
    if args[:1] == ["init"]:
        return init(airflow, env)
    os.execvpe(airflow, [airflow, *args], env)
    return 1  # not reached


def init(airflow: str, env: dict[str, str]) -> int:
    """The metadata database migrated, and the warehouse pool created (idempotent)."""
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    description = "tasks that open the embedded DuckDB warehouse, across DAGs"
    pool = [airflow, "pools", "set", WAREHOUSE_POOL, "1", description]
    subprocess.run(pool, env=env, check=True, stdout=subprocess.DEVNULL)
    return 0


def up(airflow: str, env: dict[str, str]) -> int:
    """Start Airflow's components and wait; when one exits or on Ctrl-C/SIGTERM, stop
    them all. Returns the first non-zero exit code."""
    init(airflow, env)
    processes = [subprocess.Popen([airflow, *command], env=env) for command in COMPONENTS]

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        while all(process.poll() is None for process in processes):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    return next((p.returncode for p in processes if p.returncode not in (0, -15)), 0)


if __name__ == "__main__":
    raise SystemExit(main())
