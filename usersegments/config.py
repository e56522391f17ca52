"""Where things live. Every path comes from the environment, with project-local defaults.

One setting moves all state: ``USERSEGMENTS_DATA_DIR`` (lake, warehouse, run artifacts,
Airflow home). The source data is read-only and lives outside the repository.

One setting picks the engines: ``USERSEGMENTS_PROFILE``. ``local`` (the default) is
embedded: DuckDB, SQLite, ``local[2]`` Spark. ``production`` runs the same code on
servers: the warehouse on PostgreSQL (dbt-postgres), Spark jobs on a ``spark://``
master, MLflow on a tracking server, Airflow's metadata on PostgreSQL. Its settings
(``PRODUCTION_SETTINGS``) come from the environment or a ``.env`` file; the data folder
must then be a path every Spark worker sees (a shared mount).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


PROFILES = ("local", "production")

# What the production profile needs, and why.
PRODUCTION_SETTINGS = {
    "USERSEGMENTS_PG_HOST": "warehouse PostgreSQL host",
    "USERSEGMENTS_PG_PORT": "warehouse PostgreSQL port",
    "USERSEGMENTS_PG_USER": "warehouse role dbt and the loaders log in as",
    "USERSEGMENTS_PG_PASSWORD": "that role's password (environment or .env only)",
    "USERSEGMENTS_PG_DATABASE": "warehouse database",
    "USERSEGMENTS_SPARK_MASTER": "Spark standalone master, spark://host:port",
    "USERSEGMENTS_MLFLOW_TRACKING_URI": "MLflow tracking server, http://host:port",
}
# Airflow's own metadata database is configured for Airflow's components only: Airflow 3
# hides it from DAG parsing and from tasks, so the pipeline's code cannot check it.
AIRFLOW_PRODUCTION_SETTINGS = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "Airflow metadata database, postgresql+psycopg2://..."
}


class ProfileError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    source_dir: Path
    profile: str = "local"

    @classmethod
    def from_env(cls) -> "Settings":
        profile = os.environ.get("USERSEGMENTS_PROFILE", "local")
        if profile not in PROFILES:
            raise ProfileError(
                f"USERSEGMENTS_PROFILE={profile!r}: expected one of {', '.join(PROFILES)}"
            )
        if profile == "production":
            check_production_environment(os.environ)
        data_dir = Path(os.environ.get("USERSEGMENTS_DATA_DIR", PROJECT_DIR / "var"))
        source_dir = Path(
            os.environ.get(
                "USERSEGMENTS_SOURCE_DIR", PROJECT_DIR.parent / "shared" / "data" / "amazon_reviews"
            )
        )
        return cls(data_dir=data_dir.resolve(), source_dir=source_dir.resolve(), profile=profile)

    @property
    def production(self) -> bool:
        return self.profile == "production"

    @property
    def dbt_target(self) -> str:
        """The output of dbt_project/profiles.yml this profile builds the warehouse in."""
        return "postgres" if self.production else "duckdb"

    @property
    def jars_dir(self) -> Path:
        """JVM jars staged from Maven Central by `make jars` (jvm/pom.xml); they belong
        to the installation, like the virtualenv, not to one data folder."""
        return Path(os.environ.get("USERSEGMENTS_JARS_DIR", PROJECT_DIR / "var" / "jars"))

    @property
    def models_dir(self) -> Path:
        """Models built by `make setup` (the sentence encoder imported into Spark NLP);
        part of the installation, like the jars."""
        return Path(os.environ.get("USERSEGMENTS_MODELS_DIR", PROJECT_DIR / "var" / "models"))

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse" / "warehouse.duckdb"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def pseudonym_key_file(self) -> Path:
        return self.data_dir / "secrets" / "pseudonym.key"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / safe_name(run_id)

    def env(self) -> dict[str, str]:
        """The variables a subprocess (dbt, spark-submit) needs to see the same paths
        and the same warehouse."""
        env = {
            "USERSEGMENTS_DATA_DIR": str(self.data_dir),
            "USERSEGMENTS_SOURCE_DIR": str(self.source_dir),
            "USERSEGMENTS_PROFILE": self.profile,
            "USERSEGMENTS_DBT_TARGET": self.dbt_target,
        }
        if self.production:
            env.update(
                {k: os.environ[k] for k in PRODUCTION_SETTINGS if k.startswith("USERSEGMENTS_PG_")}
            )
        return env


def check_production_environment(environ) -> None:
    """Every production setting present and of the right kind, or one error naming them."""
    problems = [
        f"{name} ({why}) is not set"
        for name, why in PRODUCTION_SETTINGS.items()
        if not environ.get(name)
    ]
    master = environ.get("USERSEGMENTS_SPARK_MASTER", "")
    if master and not master.startswith("spark://"):
        problems.append(f"USERSEGMENTS_SPARK_MASTER={master!r} is not a spark:// master")
    tracking = environ.get("USERSEGMENTS_MLFLOW_TRACKING_URI", "")
    if tracking and not tracking.startswith(("http://", "https://")):
        problems.append(
            f"USERSEGMENTS_MLFLOW_TRACKING_URI={tracking!r} is not a tracking server URL"
        )
    if problems:
        raise ProfileError("USERSEGMENTS_PROFILE=production: " + "; ".join(problems))


def safe_name(value: str) -> str:
    """A run id as a folder name: Airflow run ids contain ':' and '+'."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in value)


class MissingPseudonymKey(RuntimeError):
    pass


def load_pseudonym_key(settings: Settings | None = None) -> bytes:
    """The secret key for pseudonymising user ids.

    Taken from ``USERSEGMENTS_PSEUDONYM_KEY`` or, failing that, from the key file that
    ``make setup`` generates under the data folder. Never from code: changing the key
    changes every user key, so it is configuration that operators own.
    """
    key = os.environ.get("USERSEGMENTS_PSEUDONYM_KEY")
    if key:
        return key.encode()
    settings = settings or Settings.from_env()
    if settings.pseudonym_key_file.exists():
        key = settings.pseudonym_key_file.read_text().strip()
        if key:
            return key.encode()
    raise MissingPseudonymKey(
        "No pseudonymisation key: set USERSEGMENTS_PSEUDONYM_KEY or run "
        f"`make setup` to generate {settings.pseudonym_key_file}"
    )


def ensure_pseudonym_key(settings: Settings) -> Path:
    """Generate the local key file once; an existing key is never replaced."""
    import secrets

    path = settings.pseudonym_key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32) + "\n")
        path.chmod(0o600)
    return path


if __name__ == "__main__":
    print(ensure_pseudonym_key(Settings.from_env()))
