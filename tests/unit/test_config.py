"""The production profile's settings: chosen by one variable, checked before anything runs."""

from __future__ import annotations

import pytest

from usersegments.config import PRODUCTION_SETTINGS, ProfileError, Settings
from usersegments.warehouse_load import postgres_type, source_locations

PRODUCTION = {
    "USERSEGMENTS_PROFILE": "production",
    "USERSEGMENTS_PG_HOST": "db",
    "USERSEGMENTS_PG_PORT": "5432",
    "USERSEGMENTS_PG_USER": "usersegments",
    "USERSEGMENTS_PG_PASSWORD": "secret",
    "USERSEGMENTS_PG_DATABASE": "warehouse",
    "USERSEGMENTS_SPARK_MASTER": "spark://master:7077",
    "USERSEGMENTS_MLFLOW_TRACKING_URI": "http://mlflow:5000",
}


@pytest.fixture
def environment(monkeypatch):
    for name in PRODUCTION:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_local_is_the_default(environment):
    settings = Settings.from_env()
    assert settings.profile == "local" and settings.dbt_target == "duckdb"
    assert settings.env()["USERSEGMENTS_DBT_TARGET"] == "duckdb"


def test_production_builds_the_postgres_target_and_passes_its_connection_on(environment):
    for name, value in PRODUCTION.items():
        environment.setenv(name, value)
    settings = Settings.from_env()
    assert settings.production and settings.dbt_target == "postgres"
    env = settings.env()
    assert env["USERSEGMENTS_DBT_TARGET"] == "postgres"
    assert env["USERSEGMENTS_PG_PASSWORD"] == "secret"  # to dbt's and the loaders' processes


def test_production_names_every_missing_or_wrong_setting(environment):
    environment.setenv("USERSEGMENTS_PROFILE", "production")
    environment.setenv("USERSEGMENTS_SPARK_MASTER", "local[2]")
    with pytest.raises(ProfileError) as error:
        Settings.from_env()
    message = str(error.value)
    for name in set(PRODUCTION_SETTINGS) - {"USERSEGMENTS_SPARK_MASTER"}:
        assert f"{name} (" in message
    assert "'local[2]' is not a spark:// master" in message


def test_an_unknown_profile_is_refused(environment):
    environment.setenv("USERSEGMENTS_PROFILE", "staging")
    with pytest.raises(ProfileError, match="USERSEGMENTS_PROFILE='staging'"):
        Settings.from_env()


def test_the_encoder_precision_is_one_setting(environment):
    from usersegments.encoder import encoder_dir

    environment.setenv("USERSEGMENTS_ENCODER_PRECISION", "int8")
    settings = Settings.from_env()
    assert encoder_dir(settings).name == "all-MiniLM-L6-v2-int8"
    assert settings.env()["USERSEGMENTS_ENCODER_PRECISION"] == "int8"  # to the Spark jobs
    environment.setenv("USERSEGMENTS_ENCODER_PRECISION", "fp16")
    with pytest.raises(ProfileError, match="USERSEGMENTS_ENCODER_PRECISION='fp16'"):
        Settings.from_env()


def test_the_loader_reads_what_dbt_duckdb_reads(tmp_path):
    settings = Settings(data_dir=tmp_path, source_dir=tmp_path)
    locations = source_locations("segmentation", settings)
    assert set(locations) == {
        "assignments",
        "segments",
        "profiles",
        "terms",
        "examples",
        "runs",
        "model_selection",
    }
    assert locations["runs"] == (
        f"read_parquet('{tmp_path}/lake/segments/runs/*/*.parquet', hive_partitioning = true, "
        "union_by_name = true)"
    )
    with pytest.raises(KeyError, match="no dbt source named 'nope'"):
        source_locations("nope", settings)


def test_a_lake_type_without_a_postgres_type_is_named():
    assert postgres_type("DOUBLE", "s", "t", "c") == "double precision"
    assert postgres_type("DECIMAL(18,3)", "s", "t", "c") == "numeric(18,3)"
    with pytest.raises(TypeError, match=r"s\.t\.c: no PostgreSQL type for lake type FLOAT\[\]"):
        postgres_type("FLOAT[]", "s", "t", "c")


def test_every_setting_comes_from_the_mapping_given():
    environ = {
        **PRODUCTION,
        "USERSEGMENTS_DATA_DIR": "/srv/usersegments",
        "USERSEGMENTS_SOURCE_DIR": "/srv/reviews",
        "USERSEGMENTS_JARS_DIR": "/opt/jars",
        "USERSEGMENTS_SPARK_DRIVER_MEMORY": "8g",
        "USERSEGMENTS_SPARK_SHUFFLE_PARTITIONS": "64",
        "USERSEGMENTS_MODEL_NAME": "interest_v2",
        "USERSEGMENTS_PSEUDONYM_KEY": "key-material",
    }
    settings = Settings.from_env(environ)
    assert str(settings.data_dir) == "/srv/usersegments" and str(settings.jars_dir) == "/opt/jars"
    assert settings.lake.root == settings.data_dir / "lake"
    assert (settings.spark.master, settings.spark.driver_memory) == ("spark://master:7077", "8g")
    assert settings.spark.shuffle_partitions == 64
    # the checkpoints stay in the task's process unless told otherwise
    assert settings.spark.checkpoint_master == "local[2]"
    cluster = {**environ, "USERSEGMENTS_SPARK_CHECKPOINT_MASTER": "spark://master:7077"}
    assert Settings.from_env(cluster).spark.checkpoint_master == "spark://master:7077"
    assert settings.mlflow_tracking_uri == "http://mlflow:5000"
    assert settings.model_name == "interest_v2"
    assert (settings.postgres.host, settings.postgres.port) == ("db", 5432)
    # secrets never show in a repr (logs, task output)
    assert "secret" not in repr(settings) and "key-material" not in repr(settings)


# Code that may touch os.environ, and why: everything else gets a Settings.
ENVIRONMENT_OWNERS = {
    "usersegments/config.py": "Settings.from_env: the one reader",
    "usersegments/airflow_cli.py": "passes the operator's environment through to airflow",
    "usersegments/quality.py": "sets the data folder GX's yml substitutes (a write)",
    "usersegments/encoder.py": "sets HF_HUB_OFFLINE before torch loads (a write)",
}


def test_only_the_settings_read_the_environment():
    import ast

    from usersegments.config import PROJECT_DIR

    readers = set()
    for folder in ("usersegments", "ml", "orchestration", "dags", "spark_jobs"):
        for path in (PROJECT_DIR / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
                    readers.add(str(path.relative_to(PROJECT_DIR)))
    assert readers <= set(ENVIRONMENT_OWNERS), readers - set(ENVIRONMENT_OWNERS)


def test_the_generated_key_and_the_data_folder_are_the_owners_alone(tmp_path):
    from usersegments.config import ensure_pseudonym_key

    data_dir = tmp_path / "var"
    key = ensure_pseudonym_key(Settings(data_dir=data_dir, source_dir=tmp_path))
    modes = [p.stat().st_mode & 0o777 for p in (data_dir, key.parent, key)]
    assert modes == [0o700, 0o700, 0o600]
    # never replaced
    before = key.read_text()
    assert ensure_pseudonym_key(Settings(data_dir=data_dir, source_dir=tmp_path)) == key
    assert key.read_text() == before


def test_the_schedule_is_a_setting():
    assert Settings.from_env({}).pipeline_schedule == "@yearly"
    monthly = {"USERSEGMENTS_PIPELINE_SCHEDULE": "@monthly"}
    assert Settings.from_env(monthly).pipeline_schedule == "@monthly"
    assert Settings.from_env({"USERSEGMENTS_PIPELINE_SCHEDULE": "none"}).pipeline_schedule is None
