"""docker/compose.yaml, checked without a Docker engine: its structure, its secrets, and
that it configures the pipeline the way the integration test (which runs the production
profile on real servers) does."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.services import production_env
from usersegments.airflow_cli import spark_connection
from usersegments.config import (
    AIRFLOW_PRODUCTION_SETTINGS,
    PRODUCTION_SETTINGS,
    PROJECT_DIR,
)

DOCKER_DIR = PROJECT_DIR / "docker"
AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"}
LONG_RUNNING = AIRFLOW_SERVICES | {"postgres", "mlflow", "spark-master", "spark-worker"}
SECRET = re.compile(r"PASSWORD|SECRET|FERNET|PSEUDONYM_KEY")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER_DIR / "compose.yaml").read_text())


def variables(text: str) -> dict[str, str | None]:
    """${NAME}, ${NAME:-default} and ${NAME:?error} references -> default (None if none)."""
    found = {}
    for name, operator, value in re.findall(r"\$\{([A-Z0-9_]+)(?:(:[-?])([^}]*))?\}", text):
        found.setdefault(name, value if operator == ":-" else None)
    return found


def test_services_and_healthchecks(compose):
    services = compose["services"]
    assert LONG_RUNNING | {"airflow-init"} == set(services)
    for name in LONG_RUNNING:
        test = services[name]["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
    # Airflow starts after its database is migrated, and the migration after PostgreSQL is healthy
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
    assert services["airflow-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    commands = {name: services[name]["command"] for name in AIRFLOW_SERVICES}
    assert {tuple(c[-1:]) for c in commands.values()} == {
        ("api-server",),
        ("scheduler",),
        ("dag-processor",),
    }


def test_no_secret_is_committed(compose):
    """Every secret is a ${VAR:?} reference to docker/.env or the environment, without a
    default; docker/.env is git-ignored and .env.example holds placeholders only."""
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", str(value)), (
                    name,
                    key,
                    value,
                )
    text = (DOCKER_DIR / "compose.yaml").read_text()
    for url in re.findall(r"postgresql\+psycopg2://\S+", text):
        assert re.match(
            r"postgresql\+psycopg2://\$\{[A-Z_]+:-\w+\}:\$\{USERSEGMENTS_PG_PASSWORD:\?",
            url,
        ), url
    example = dict(
        line.split("=", 1)
        for line in (DOCKER_DIR / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    required = {name for name, default in variables(text).items() if default is None}
    assert required <= set(example), required - set(example)
    for key, value in example.items():
        if SECRET.search(key):
            assert value == "CHANGE-ME", key
    ignored = (PROJECT_DIR / ".gitignore").read_text().splitlines()
    assert ".env" in ignored


def test_the_pipeline_environment_matches_the_integration_tests_profile(compose):
    environment = compose["x-pipeline-env"]
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        assert compose["services"][name]["environment"] == environment, name
    # what the integration test sets to run the production profile, compose sets too
    # (the dbt target follows from USERSEGMENTS_PROFILE)
    tested = production_env({}, _FakePostgres(), "spark://h:1", "http://h:1", 1)
    assert set(tested) - {"USERSEGMENTS_DBT_TARGET"} <= set(environment), set(tested) - set(
        environment
    )
    assert {**PRODUCTION_SETTINGS, **AIRFLOW_PRODUCTION_SETTINGS}.keys() <= set(environment)
    assert environment["USERSEGMENTS_PROFILE"] == "production"
    assert environment["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert "@postgres:5432/" in environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert environment["USERSEGMENTS_PG_HOST"] == "postgres"
    # every client of PostgreSQL follows the same TLS setting, the MLflow server too
    assert compose["services"]["mlflow"]["environment"]["PGSSLMODE"] == environment["PGSSLMODE"]

    services = compose["services"]
    # Spark: the master the jobs are submitted to is the master service, whose worker joins it
    master = environment["USERSEGMENTS_SPARK_MASTER"]
    assert environment["AIRFLOW_CONN_USERSEGMENTS_SPARK"] == spark_connection(master)
    master_command = services["spark-master"]["command"]
    assert "org.apache.spark.deploy.master.Master" in master_command
    host, port = master.removeprefix("spark://").split(":")
    assert master_command[master_command.index("--host") + 1] == host
    assert master_command[master_command.index("--port") + 1] == port
    worker_command = services["spark-worker"]["command"]
    assert "org.apache.spark.deploy.worker.Worker" in worker_command and master in worker_command
    # the lake is one shared path: where the drivers (scheduler) and executors (worker) run
    data_dir = environment["USERSEGMENTS_DATA_DIR"]
    for name in ("airflow-scheduler", "spark-worker", "mlflow"):
        assert f"data:{data_dir}" in services[name]["volumes"], name
    # MLflow: the tracking URI is the mlflow service, backed by PostgreSQL, allowing its host name
    tracking = environment["USERSEGMENTS_MLFLOW_TRACKING_URI"]
    assert tracking == "http://mlflow:5000"
    mlflow_command = services["mlflow"]["command"]
    assert mlflow_command[mlflow_command.index("--backend-store-uri") + 1].startswith(
        "postgresql+psycopg2://"
    )
    assert "mlflow:5000" in mlflow_command[mlflow_command.index("--allowed-hosts") + 1]
    assert mlflow_command[mlflow_command.index("--port") + 1] == "5000"
    # the API server's execution API, where LocalExecutor's tasks report
    assert environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        f"http://airflow-apiserver:{environment['AIRFLOW__API__PORT']}/execution/"
    )
    assert services["airflow-scheduler"]["healthcheck"]["test"][-1].endswith(
        f":{environment['AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT']}/health"
    )


def test_postgres_image_creates_what_the_profile_uses(compose):
    """The databases and the role the pipeline logs in as, and the warehouse's functions."""
    postgres = compose["services"]["postgres"]
    init = (DOCKER_DIR / "postgres" / "init-databases.sh").read_text()
    for variable in (
        "AIRFLOW_DB",
        "MLFLOW_DB",
        "USERSEGMENTS_PG_DATABASE",
        "USERSEGMENTS_PG_USER",
        "USERSEGMENTS_PG_PASSWORD",
    ):
        assert f"${variable}" in init and variable in postgres["environment"], variable
    dockerfile = (DOCKER_DIR / "postgres" / "Dockerfile").read_text()
    assert "postgresql-plpython3-15" in dockerfile and "warehouse-functions.sql" in dockerfile
    assert "--locale=C" in postgres["environment"]["POSTGRES_INITDB_ARGS"]


def test_image_builds_what_the_processes_run():
    dockerfile = (DOCKER_DIR / "Dockerfile").read_text()
    assert "FROM python:3.11" in dockerfile  # the Python the lock file is resolved for
    for step in ("make install jars encoder", "make manifest"):
        assert step in dockerfile
    ignored = (DOCKER_DIR / "Dockerfile.dockerignore").read_text().splitlines()
    assert {".venv", "var", ".env"} <= set(ignored)
    # every package the project installs is in the image before `make install` runs
    import tomllib

    packages = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["setuptools"]
    before_install = dockerfile[: dockerfile.index("make install")]
    for package in packages["packages"]:
        assert f"COPY {package}/ {package}/" in before_install, package


class _FakePostgres:
    port = 1
    user = "u"
    password = "p"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://u:p@h:1/{database}"


def test_variables_parser():
    assert variables("${A:?x} ${B:-y} ${C}") == {"A": None, "B": "y", "C": None}
