"""The production profile end to end, on real servers started on loopback: PostgreSQL
(Airflow's metadata, the warehouse, MLflow's backend store), a Spark standalone master
and worker, an MLflow tracking server, and Airflow's scheduler (LocalExecutor), DAG
processor and API server. The pipeline is triggered as an engineer would, through the
REST API; the asset it publishes triggers the scoring DAG. The warehouse it builds in
PostgreSQL must have the tables, columns and row counts of a DuckDB build (the local
profile's dbt target) of the same lake. The offline evaluation is off (a param): the
intervals' run evaluates, and here it cost 400-500 s of the cluster's time.
The server accepts TCP clients over TLS only, as a networked one would. Everything
`make up`'s launcher starts (Airflow's servers, the task processes, their Spark
drivers) listens on loopback only, and the admin password file is the owner's alone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import psutil
import psycopg2
import pytest
from mlflow import MlflowClient

from tests.e2e.conftest import (
    DAG_ID,
    TWO_FILES_CONF,
    pipeline_env,
    run_airflow,
    two_files_with_malformed_lines,
)
from tests.services import (
    WAREHOUSE_FUNCTIONS_SQL,
    airflow_up,
    call,
    free_port,
    listening,
    loopback,
    mlflow_tracking_server,
    postgres_server,
    production_env,
    spark_standalone_cluster,
    task_states,
    wait_for_dag_run,
)
from usersegments.config import (
    AIRFLOW_PRODUCTION_SETTINGS,
    DBT_PROJECT_DIR,
    PRODUCTION_SETTINGS,
    Settings,
)
from usersegments.warehouse import query

# two small real files, malformed lines in one, k fixed, no offline evaluation
CONF = {**TWO_FILES_CONF, "offline_evaluation": False}
SCORING_DAG_ID = "score_new_users"


def postgres_counts(pg) -> dict[str, tuple[int, list[str]]]:
    with (
        psycopg2.connect(pg.url("warehouse").replace("postgresql+psycopg2", "postgresql")) as con,
        con.cursor() as cur,
    ):
        cur.execute(
            "select table_name from information_schema.tables where table_schema = 'analytics'"
        )
        counts = {}
        for (table,) in cur.fetchall():
            cur.execute(f'select count(*) from analytics."{table}"')
            (rows,) = cur.fetchone()
            cur.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'analytics' and table_name = %s order by ordinal_position",
                (table,),
            )
            counts[table] = (rows, [c for (c,) in cur.fetchall()])
        return counts


def duckdb_warehouse_shape(path: Path) -> dict[str, tuple[int, list[str]]]:
    """Table -> (rows, columns) of a DuckDB warehouse file."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [
            t
            for (t,) in con.sql(
                "select table_name from information_schema.tables where table_schema = 'main'"
            ).fetchall()
        ]
        columns_sql = (
            "select column_name from information_schema.columns "
            "where table_name = ? order by ordinal_position"
        )
        return {
            t: (
                con.sql(f'select count(*) from "{t}"').fetchall()[0][0],
                [c for (c,) in con.sql(columns_sql, params=[t]).fetchall()],
            )
            for t in tables
        }


def duckdb_build(data_dir: Path, source_dir: Path, warehouse: Path) -> Path:
    """`dbt build` of the local profile's DuckDB target on the lake of ``data_dir``,
    into ``warehouse``: what the embedded profile publishes from the same data."""
    warehouse.parent.mkdir(parents=True)
    env = {
        **pipeline_env(data_dir, source_dir),
        "USERSEGMENTS_DBT_TARGET": "duckdb",
        "USERSEGMENTS_WAREHOUSE_FILE": str(warehouse),
    }
    built = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "build",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            # not the project's target/, whose manifest the DAGs are rendered from
            "--target-path",
            str(warehouse.parent / "dbt-target"),
            "--log-path",
            str(warehouse.parent / "dbt-logs"),
        ],
        env=env,
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-5000:]
    return warehouse


def test_production_profile_runs_the_pipeline_on_servers(tmp_path, real_source_dir):
    data_dir = tmp_path / "shared"  # the lake: one path the Spark worker sees too
    source_dir = two_files_with_malformed_lines(tmp_path / "src", real_source_dir)
    with (
        postgres_server(tmp_path / "postgres", tls_only=True) as pg,
        spark_standalone_cluster(tmp_path / "spark") as (spark_master, spark_logs),
    ):
        for database in ("airflow", "mlflow", "warehouse"):
            pg.create_database(database)
        pg.psql(WAREHOUSE_FUNCTIONS_SQL.read_text(), database="warehouse")
        with mlflow_tracking_server(
            pg.url("mlflow"), tmp_path / "mlartifacts", tmp_path / "mlflow.log"
        ) as mlflow_url:
            api_port = free_port()
            env = production_env(
                pipeline_env(data_dir, source_dir),
                pg,
                spark_master,
                mlflow_url,
                api_port,
            )
            assert {**PRODUCTION_SETTINGS, **AIRFLOW_PRODUCTION_SETTINGS}.keys() <= set(env)
            migrated = run_airflow(env, "init")
            assert migrated.returncode == 0, migrated.stderr[-3000:]

            log = tmp_path / "airflow.log"
            sockets: set[tuple[str, str, int]] = set()
            with airflow_up(env, log, [DAG_ID, SCORING_DAG_ID]) as (airflow, api, token):
                launcher = psutil.Process(airflow.pid)
                triggered = call(
                    api,
                    token,
                    "POST",
                    f"/dags/{DAG_ID}/dagRuns",
                    {"dag_run_id": "production_1", "logical_date": None, "conf": CONF},
                )
                run = wait_for_dag_run(
                    api,
                    token,
                    DAG_ID,
                    timeout=1800,
                    log=log,
                    while_waiting=lambda: sockets.update(listening(launcher)),
                )
                assert run["dag_run_id"] == triggered["dag_run_id"]
                states = task_states(api, token, DAG_ID, run["dag_run_id"])
                assert run["state"] == "success", states
                # the evaluation refit skipped, and only it
                skipped = {task for task, state in states.items() if state == "skipped"}
                assert skipped == {"segment_evaluation_users"}, states
                # the published segments asset triggered the scoring DAG (data-aware scheduling)
                scoring = wait_for_dag_run(api, token, SCORING_DAG_ID, timeout=900, log=log)
                assert scoring["state"] == "success", task_states(
                    api, token, SCORING_DAG_ID, scoring["dag_run_id"]
                )
                passwords = (
                    Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
                )
                assert passwords.stat().st_mode & 0o777 == 0o600

            # the API server, the scheduler's health check and the Spark drivers' UIs
            exposed = {s for s in sockets if not loopback(s[1])}
            assert sockets and not exposed, exposed

            # tracked on the server: the runs, and the model promoted through the registry
            client = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
            experiments = {e.name for e in client.search_experiments()}
            assert {"interest_classifier", "segment_recommendations"} <= experiments, experiments
            champion = client.get_model_version_by_alias("interest_classifier", "champion")
            assert champion.version == "1"

        # Spark ran the jobs on the cluster, not in local mode: at least embed_reviews and
        # segment_users (spark-submit), recommend_segments and the classifier's training
        launched = set(
            re.findall(
                r"Asked to launch executor (app-[0-9-]+)",
                spark_logs["worker"].read_text(),
            )
        )
        assert len(launched) >= 3, launched

        # Airflow's metadata is in PostgreSQL: the run and its tasks
        with (
            psycopg2.connect(pg.url("airflow").replace("postgresql+psycopg2", "postgresql")) as con,
            con.cursor() as cur,
        ):
            cur.execute(
                "select state from dag_run where dag_id = %s and run_id = 'production_1'",
                (DAG_ID,),
            )
            assert cur.fetchall() == [("success",)]
            cur.execute(
                "select count(*) from task_instance where dag_id = %s and run_id = 'production_1'",
                (DAG_ID,),
            )
            assert cur.fetchone()[0] == len(states)

        published = postgres_counts(pg)
        with (
            psycopg2.connect(
                pg.url("warehouse").replace("postgresql+psycopg2", "postgresql")
            ) as con,
            con.cursor() as cur,
        ):
            cur.execute("select user_key from analytics.users")
            server_users = {user for (user,) in cur.fetchall()}
            # what the loader put on the server: keyed hashes, no names, no raw lines
            cur.execute("select count(*) from amazon.reviews where reviewer_id !~ '^[0-9a-f]{64}$'")
            assert cur.fetchone() == (0,)
            cur.execute(
                "select column_name from information_schema.columns where table_schema = 'amazon'"
            )
            assert {"reviewer_name", "raw_line"}.isdisjoint(c for (c,) in cur.fetchall())

    reference_path = duckdb_build(data_dir, source_dir, tmp_path / "reference" / "warehouse.duckdb")
    reference = duckdb_warehouse_shape(reference_path)
    # the same pseudonyms: the loader's keyed hash is the dbt-duckdb plugin's
    with duckdb.connect(str(reference_path), read_only=True) as con:
        assert server_users == {
            user for (user,) in con.sql("select user_key from users").fetchall()
        }
    assert set(published) == set(reference)
    mismatched = {
        t: (reference[t], published[t]) for t in reference if published[t] != reference[t]
    }
    assert not mismatched, mismatched
    for table in (
        "reviews",
        "users",
        "user_segments",
        "segments",
        "user_recommendations",
        "user_interest_scores",
    ):
        assert reference[table][0] > 0, table


def test_warehouse_clients_use_tls_as_libpq_settings_say(tmp_path, monkeypatch):
    """PGSSLMODE reaches the loaders' connections and dbt-postgres: against a TLS-only
    server, `require` connects encrypted and `disable` is refused, naming the reason."""

    def dbt_connects() -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                str(Path(sys.executable).parent / "dbt"),
                "debug",
                "--connection",
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
                "--log-path",
                str(tmp_path / "dbt-logs"),
            ],
            env=dict(os.environ),
            capture_output=True,
            text=True,
        )

    with postgres_server(tmp_path / "postgres", tls_only=True) as pg:
        pg.create_database("warehouse")
        env = production_env(
            pipeline_env(tmp_path / "data", tmp_path / "source"),
            pg,
            "spark://127.0.0.1:7077",
            "http://127.0.0.1:5000",
            free_port(),
        )
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = Settings.from_env()
        encrypted = query(settings, "select ssl from pg_stat_ssl where pid = pg_backend_pid()")
        assert encrypted["ssl"].tolist() == [True]
        connected = dbt_connects()
        assert connected.returncode == 0, connected.stdout[-3000:]

        monkeypatch.setenv("PGSSLMODE", "disable")
        with pytest.raises(psycopg2.OperationalError, match="no encryption"):
            query(settings, "select 1")
        refused = dbt_connects()
        assert refused.returncode != 0 and "no encryption" in refused.stdout, refused.stdout[-3000:]
