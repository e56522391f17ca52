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


def test_the_loader_reads_what_dbt_duckdb_reads(tmp_path):
    settings = Settings(data_dir=tmp_path, source_dir=tmp_path)
    locations = source_locations("segmentation", settings)
    assert set(locations) == {"assignments", "segments", "profiles", "terms", "examples", "runs", "model_selection"}
    assert locations["runs"] == (
        f"read_parquet('{tmp_path}/lake/segments/runs/*/*.parquet', hive_partitioning = true)"
    )
    with pytest.raises(KeyError, match="no dbt source named 'nope'"):
        source_locations("nope", settings)


def test_a_lake_type_without_a_postgres_type_is_named():
    assert postgres_type("DOUBLE", "s", "t", "c") == "double precision"
    assert postgres_type("DECIMAL(18,3)", "s", "t", "c") == "numeric(18,3)"
    with pytest.raises(TypeError, match=r"s\.t\.c: no PostgreSQL type for lake type FLOAT\[\]"):
        postgres_type("FLOAT[]", "s", "t", "c")
