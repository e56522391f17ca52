"""The production profile's servers, started for real on loopback: PostgreSQL (the
Debian package `make setup` installs), a Spark standalone master and worker, an MLflow
tracking server. The integration test and the Spark cluster test use them; each is a
context manager that stops what it started."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from usersegments.airflow_cli import SPARK_CONN_ID, spark_connection
from usersegments.config import PROJECT_DIR
from usersegments.spark import spark_env

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
WAREHOUSE_FUNCTIONS_SQL = PROJECT_DIR / "docker" / "postgres" / "warehouse-functions.sql"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(path: Path, text: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(1)
    raise AssertionError(f"{text!r} not in {path} after {timeout}s:\n{path.read_text()[-3000:]}")


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"{url}: server exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as response:
            if response.status == 200:
                return
        time.sleep(1)
    raise AssertionError(f"{url} not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str
    password: str
    data_dir: Path

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the cluster's superuser (peer authentication over the socket)."""
        return _as_postgres(
            [
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-d",
                database,
                "-tA",
                "-c",
                sql,
            ]
        )

    def create_database(self, name: str) -> None:
        _as_postgres(
            [
                "createdb",
                "-h",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-O",
                self.user,
                name,
            ]
        )


def _as_postgres(command: list[str]) -> str:
    # initdb and postgres refuse to run as root; psql's peer login needs the OS user
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    result = subprocess.run(prefix + command, capture_output=True, text=True)
    if result.returncode:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


@contextlib.contextmanager
def postgres_server(root: Path, user: str = "usersegments", tls_only: bool = False):
    """A private PostgreSQL cluster (initdb) on a free loopback port; the socket lives in
    its data folder. C collation: text sorts by code point, as in DuckDB.

    ``tls_only``: TCP clients must use TLS (a throw-away self-signed certificate; pg_hba
    rejects unencrypted TCP), as a managed server over a network would demand."""
    if not (POSTGRES_BIN / "initdb").exists():
        raise AssertionError(f"PostgreSQL not installed ({POSTGRES_BIN}): run `make setup`")
    data_dir = root / "pgdata"
    data_dir.mkdir(parents=True)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (data_dir, *data_dir.parents):
            if path == Path("/"):
                break
            path.chmod(path.stat().st_mode | 0o011)  # traversable by the postgres user
        shutil.chown(data_dir, owner.pw_uid, owner.pw_gid)
    data_dir.chmod(0o700)
    _as_postgres(
        [
            str(POSTGRES_BIN / "initdb"),
            "-D",
            str(data_dir),
            "-E",
            "UTF8",
            "--locale=C",
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
        ]
    )
    options = f"-p {{port}} -k {data_dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if tls_only:
        _require_tls(data_dir)
        options += " -c ssl=on"
    port = free_port()
    log = data_dir / "server.log"
    _as_postgres(
        [
            str(POSTGRES_BIN / "pg_ctl"),
            "-D",
            str(data_dir),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            options.format(port=port),
            "start",
        ]
    )
    password = secrets.token_hex(16)
    server = Postgres(port=port, user=user, password=password, data_dir=data_dir)
    try:
        server.psql(f"create role {user} login password '{password}'")
        yield server
    finally:
        _as_postgres(
            [
                str(POSTGRES_BIN / "pg_ctl"),
                "-D",
                str(data_dir),
                "-m",
                "fast",
                "-w",
                "stop",
            ]
        )


def _require_tls(data_dir: Path) -> None:
    """server.crt/server.key (PostgreSQL's default names) and TCP lines that are TLS only."""
    _as_postgres(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(data_dir / "server.key"),
            "-out",
            str(data_dir / "server.crt"),
        ]
    )
    (data_dir / "server.key").chmod(0o600)
    hba = data_dir / "pg_hba.conf"
    lines = [
        "hostssl" + line[len("host") :] if line.startswith("host ") else line
        for line in hba.read_text().splitlines()
    ]
    hba.write_text("\n".join([*lines, "hostnossl all all all reject", ""]))


@contextlib.contextmanager
def spark_standalone_cluster(root: Path, cores: int = 2, memory: str = "4g"):
    """A Spark standalone master and one worker on loopback (`spark-class`, as the pip
    package ships no sbin start scripts); yields the master URL."""
    spark_class = str(Path(sys.executable).with_name("spark-class"))
    root.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        **spark_env(),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_WORKER_DIR": str(root / "work"),
    }
    port = free_port()
    master_url = f"spark://127.0.0.1:{port}"
    logs = {name: root / f"spark-{name}.log" for name in ("master", "worker")}
    master = subprocess.Popen(
        [
            spark_class,
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(free_port()),
        ],
        stdout=logs["master"].open("w"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    worker = subprocess.Popen(
        [
            spark_class,
            "org.apache.spark.deploy.worker.Worker",
            master_url,
            "--host",
            "127.0.0.1",
            "--cores",
            str(cores),
            "--memory",
            memory,
            "--webui-port",
            str(free_port()),
        ],
        stdout=logs["worker"].open("w"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_for(logs["master"], "I have been elected leader")
        wait_for(logs["worker"], "Successfully registered with master")
        yield master_url, logs
    finally:
        stop(worker)
        stop(master)


@contextlib.contextmanager
def mlflow_tracking_server(backend_store_uri: str, artifacts: Path, log: Path):
    """`mlflow server` on a PostgreSQL backend store, serving its artifacts; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--backend-store-uri",
            backend_store_uri,
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_http(f"{url}/health", process, log)
        yield url
    finally:
        stop(process)


def production_env(
    base: dict[str, str], pg, spark_master: str, mlflow_url: str, api_port: int
) -> dict[str, str]:
    return {
        **base,
        "USERSEGMENTS_PROFILE": "production",
        "USERSEGMENTS_DBT_TARGET": "postgres",
        "USERSEGMENTS_PG_HOST": "127.0.0.1",
        "USERSEGMENTS_PG_PORT": str(pg.port),
        "USERSEGMENTS_PG_USER": pg.user,
        "USERSEGMENTS_PG_PASSWORD": pg.password,
        "USERSEGMENTS_PG_DATABASE": "warehouse",
        # libpq's own setting, read by every client of the server (dbt, the loaders,
        # Airflow's psycopg2 and asyncpg engines, MLflow): the server here is TLS-only
        "PGSSLMODE": "require",
        "USERSEGMENTS_SPARK_MASTER": spark_master,
        f"AIRFLOW_CONN_{SPARK_CONN_ID.upper()}": spark_connection(spark_master),
        "USERSEGMENTS_MLFLOW_TRACKING_URI": mlflow_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.url("airflow"),
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "true",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
    }


def api_token(api: str, env: dict[str, str]) -> str:
    passwords = Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    request = urllib.request.Request(
        f"{api}/auth/token",
        data=json.dumps(
            {
                "username": "admin",
                "password": json.loads(passwords.read_text())["admin"],
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)["access_token"]


def call(api: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{api}/api/v2{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        },
        method=method,
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


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


def wait_for_dag_run(
    api: str,
    token: str,
    dag_id: str,
    timeout: float,
    log: Path,
    while_waiting: Callable[[], None] = lambda: None,
) -> dict:
    """The newest run of dag_id once it has finished (success or failed);
    ``while_waiting`` is called every few seconds until then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while_waiting()
        runs = call(api, token, "GET", f"/dags/{dag_id}/dagRuns?order_by=-run_after&limit=1")[
            "dag_runs"
        ]
        if runs and runs[0]["state"] in ("success", "failed"):
            return runs[0]
        time.sleep(3)
    raise AssertionError(f"{dag_id} not finished after {timeout}s:\n{log.read_text()[-5000:]}")


def task_states(api: str, token: str, dag_id: str, run_id: str) -> dict[str, str]:
    instances = call(api, token, "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=500")
    return {ti["task_id"]: ti["state"] for ti in instances["task_instances"]}


@contextlib.contextmanager
def airflow_up(env: dict[str, str], log: Path, dag_ids: list[str]):
    """`make up`'s launcher (usersegments.airflow_cli up) with these settings; yields
    the API's URL and a token once the DAGs are parsed, and unpaused."""
    # the tests trigger their own runs: on its schedule, the pipeline would start one
    # for its latest interval as soon as it is unpaused
    env = {**env, "USERSEGMENTS_PIPELINE_SCHEDULE": "none"}
    airflow = subprocess.Popen(
        [sys.executable, "-m", "usersegments.airflow_cli", "up"],
        env=env,
        cwd=PROJECT_DIR,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}"
    try:
        wait_for_http(f"{api}/api/v2/monitor/health", airflow, log, timeout=180)
        token = api_token(api, env)
        deadline = time.monotonic() + 180  # the DAG processor parses the DAGs
        while not set(dag_ids) <= {d["dag_id"] for d in call(api, token, "GET", "/dags")["dags"]}:
            assert time.monotonic() < deadline, log.read_text()[-5000:]
            time.sleep(5)
        for dag_id in dag_ids:
            call(api, token, "PATCH", f"/dags/{dag_id}", {"is_paused": False})
        yield airflow, api, token
    finally:
        stop(airflow)
