"""Both DAGs at once under the real scheduler (`make up`'s launcher), as an operator
runs them, on a copy of the two-file run's data folder:

- the scoring DAG runs three times while the pipeline's dbt tasks run, and every
  scoring run succeeds: no task of either DAG opens the published DuckDB file while
  another one has it (the tasks that open it share one pool);
- the pipeline fails at its segmentation gate after dbt rebuilt the marts, and the
  published warehouse is unchanged: the run's tables were built apart, never published;
- everything listens on loopback only, and the admin password file and Airflow's
  database are the owner's alone.
"""

from __future__ import annotations

import ipaddress
import shutil
import time
from datetime import datetime

import duckdb
import psutil

from tests.e2e.conftest import DAG_ID, TWO_FILES_CONF, pipeline_env
from tests.services import airflow_up, call, free_port, task_states
from usersegments.airflow_cli import WAREHOUSE_POOL

SCORING_DAG_ID = "score_new_users"


def table_fingerprints(path) -> dict[str, tuple[int, int]]:
    """Rows and a content hash of every table of a DuckDB file."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = [t for (t,) in con.sql("select table_name from duckdb_tables()").fetchall()]
        return {
            name: con.execute(f'select count(*), sum(hash(t)) from "{name}" t').fetchone()
            for name in names
        }


def loopback(address: str) -> bool:
    """127.0.0.0/8 or ::1, also as an IPv4-mapped IPv6 address (Java's sockets)."""
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def listening(process: psutil.Process) -> set[tuple[str, str, int]]:
    """The listening sockets of a process and its children: (command, address, port)."""
    found = set()
    for each in [process, *process.children(recursive=True)]:
        try:
            for conn in each.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((each.name(), conn.laddr.ip, conn.laddr.port))
        except psutil.NoSuchProcess:
            continue
    return found


def task_instances(api: str, token: str, dag_id: str) -> list[dict]:
    runs = call(api, token, "GET", f"/dags/{dag_id}/dagRuns?limit=50")["dag_runs"]
    instances = []
    for run in runs:
        path = f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances?limit=500"
        instances += call(api, token, "GET", path)["task_instances"]
    return instances


def interval(instance: dict) -> tuple[datetime, datetime]:
    return (
        datetime.fromisoformat(instance["start_date"]),
        datetime.fromisoformat(instance["end_date"]),
    )


def overlap(a: dict, b: dict) -> bool:
    (a_start, a_end), (b_start, b_end) = interval(a), interval(b)
    return a_start < b_end and b_start < a_end


def finished(api: str, token: str, dag_id: str) -> list[dict]:
    runs = call(api, token, "GET", f"/dags/{dag_id}/dagRuns?limit=50")["dag_runs"]
    return [r for r in runs if r["state"] in ("success", "failed")]


def test_both_dags_under_the_scheduler_at_once(tmp_path, two_file_run):
    first = two_file_run.run
    data_dir = tmp_path / "data"
    shutil.copytree(
        first.settings.data_dir, data_dir, symlinks=True, ignore=shutil.ignore_patterns("airflow")
    )
    published = first.settings.warehouse_path.relative_to(first.settings.data_dir)
    before = table_fingerprints(data_dir / published)

    api_port = free_port()
    env = {
        **pipeline_env(data_dir, first.settings.source_dir),
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
    }
    log = tmp_path / "airflow.log"
    sockets: set[tuple[str, str, int]] = set()
    with airflow_up(env, log, [DAG_ID, SCORING_DAG_ID]) as (airflow, api, token):
        launcher = psutil.Process(airflow.pid)
        # segments of at least half the users each cannot pass the gate with k = 3
        conf = {**TWO_FILES_CONF, "min_segment_share": 0.5}
        call(api, token, "POST", f"/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})
        for _ in range(3):
            call(api, token, "POST", f"/dags/{SCORING_DAG_ID}/dagRuns", {"logical_date": None})
        deadline = time.monotonic() + 1800
        while (
            len(finished(api, token, DAG_ID)) < 1 or len(finished(api, token, SCORING_DAG_ID)) < 3
        ):
            assert time.monotonic() < deadline, log.read_text()[-5000:]
            sockets |= listening(launcher)
            time.sleep(2)
        pipeline_run = finished(api, token, DAG_ID)[0]
        scoring_runs = finished(api, token, SCORING_DAG_ID)
        pipeline_tasks = task_instances(api, token, DAG_ID)
        scoring_tasks = task_instances(api, token, SCORING_DAG_ID)
        states = task_states(api, token, DAG_ID, pipeline_run["dag_run_id"])
        airflow_home = data_dir / "airflow"
        password_file = airflow_home / "simple_auth_manager_passwords.json.generated"
        modes = {
            p.name: p.stat().st_mode & 0o777 for p in (password_file, airflow_home / "airflow.db")
        }

    # the scoring runs all succeeded, side by side with the pipeline's dbt tasks
    assert [r["state"] for r in scoring_runs] == ["success"] * 3, scoring_runs
    ran = [t for t in pipeline_tasks + scoring_tasks if t["start_date"] and t["end_date"]]
    pipeline_dbt = [t for t in ran if t["dag_id"] == DAG_ID and t["task_id"].startswith("dbt_")]
    scoring_dbt = [
        t for t in ran if t["dag_id"] == SCORING_DAG_ID and t["task_id"].startswith("dbt_")
    ]
    assert any(overlap(a, b) for a in pipeline_dbt for b in scoring_dbt), "no concurrency happened"
    # the scoring DAG's dbt tasks open the published warehouse: in its pool
    assert {t["pool"] for t in scoring_dbt} == {WAREHOUSE_POOL}

    # the pipeline failed at its gate after rebuilding the marts: nothing was published
    assert pipeline_run["state"] == "failed"
    assert states["validate_user_segments"] == "failed", states
    assert states["dbt_marts.users_model_build"] == "success", states
    assert states["publish_warehouse"] == "upstream_failed", states
    assert table_fingerprints(data_dir / published) == before
    build = table_fingerprints(data_dir / published.with_name("building.duckdb"))
    assert "users" in build and "segments" not in build

    exposed = {s for s in sockets if not loopback(s[1])}
    assert sockets and not exposed, exposed
    assert modes == {"simple_auth_manager_passwords.json.generated": 0o600, "airflow.db": 0o600}
