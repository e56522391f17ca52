"""The project's settings: the only code that reads the environment.

Every entry point (a DAG file, a command-line module, the dbt plugin, a benchmark)
builds one ``Settings`` with ``Settings.from_env()`` and passes it down; nothing reads
the environment at import time or deeper in the call stack.

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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from usersegments.lake import Lake, partition_name

PROJECT_DIR = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
# written by `make manifest` (part of `make setup`): `dbt parse`
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"

PROFILES = ("local", "production")
# the sentence encoder's arithmetic: fp32, or INT8 (about 1.8x the texts per second,
# cosine to fp32 at least 0.97; see usersegments/encoder.py)
ENCODER_PRECISIONS = ("fp32", "int8")

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
TRUE_WORDS = {"1", "true", "yes"}


class ProfileError(ValueError):
    pass


class MissingPseudonymKey(RuntimeError):
    pass


@dataclass(frozen=True)
class SparkSettings:
    """How the project's Spark jobs and in-process sessions run."""

    master: str = "local[2]"
    # the Great Expectations checkpoints' sessions, in the task's own process: a
    # checkpoint runs 40-80 tiny Spark jobs over one table of the shared lake, and on a
    # standalone cluster each waited for an executor of its own and paid the cluster's
    # latency on every job (under the scheduler, beside another run: 72-87 s a
    # checkpoint on the cluster, 54-75 s in the task's process, 2026-12-01)
    checkpoint_master: str = "local[2]"
    # GPU: the jars of `make jars GPU=1` and one GPU per executor and task
    gpu: bool = False
    gpu_discovery_script: str = "/opt/spark/getGpusResources.sh"
    driver_memory: str = "4g"
    executor_memory: str = "2g"
    # loopback unless told otherwise: on a cluster, set a host the workers reach
    driver_host: str = "127.0.0.1"
    # the data is small next to Spark's default of 200 shuffle partitions, whose
    # per-partition overhead dominated the graph stage (on a cluster: raise it)
    shuffle_partitions: int = 8
    # ONNX Runtime threads per Spark task: one task per core already uses the cores
    onnx_threads: int = 1
    # The JVMs compile with C1 only (-XX:TieredStopAtLevel=1). A job on small data ends
    # before C2's compilations pay back, while C2's compiler threads take the cores the
    # job runs on: segment_users on the tests' two files took 62 s, not 80 (2026-12-03).
    # Off by default: on large data C2's faster code wins.
    quick_jit: bool = False


@dataclass(frozen=True)
class PostgresSettings:
    """The production warehouse server (the password never appears in a repr)."""

    host: str
    port: int
    user: str
    database: str
    password: str = field(repr=False)


# How a run's as-of (its data interval's end, UTC) is written for dbt and the Spark jobs
AS_OF_FORMAT = "%Y-%m-%d %H:%M:%S"


def schedule_setting(value: str) -> str | None:
    """USERSEGMENTS_PIPELINE_SCHEDULE: "none" (or empty) for manual runs only."""
    return None if value.strip().lower() in ("", "none") else value.strip()


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    source_dir: Path
    profile: str = "local"
    # JVM jars (`make jars`) and models (`make encoder`) belong to the installation,
    # like the virtualenv, not to one data folder
    jars_dir: Path = PROJECT_DIR / "var" / "jars"
    models_dir: Path = PROJECT_DIR / "var" / "models"
    spark: SparkSettings = SparkSettings()
    # None: the embedded SQLite store under the data folder
    mlflow_tracking_uri: str | None = None
    model_name: str = "interest_classifier"
    # production only
    postgres: PostgresSettings | None = None
    # None: the key file under the data folder (`make setup` writes it)
    pseudonym_key: str | None = field(default=None, repr=False)
    # Write-audit-publish: the pipeline builds and audits a run's warehouse apart from
    # the published one (a DuckDB file, a PostgreSQL schema), which analysts read and
    # which changes only when every gate has passed (usersegments.publish).
    building: bool = False
    encoder_precision: str = "fp32"
    # The pipeline DAG's schedule (a cron preset or expression): a scheduled or
    # backfilled run sees the reviews before its data interval's end. None: manual
    # runs only (USERSEGMENTS_PIPELINE_SCHEDULE=none).
    pipeline_schedule: str | None = "@yearly"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        profile = env.get("USERSEGMENTS_PROFILE", "local")
        if profile not in PROFILES:
            raise ProfileError(
                f"USERSEGMENTS_PROFILE={profile!r}: expected one of {', '.join(PROFILES)}"
            )
        if profile == "production":
            check_production_environment(env)
        precision = env.get("USERSEGMENTS_ENCODER_PRECISION", "fp32")
        if precision not in ENCODER_PRECISIONS:
            raise ProfileError(
                f"USERSEGMENTS_ENCODER_PRECISION={precision!r}: expected one of "
                + ", ".join(ENCODER_PRECISIONS)
            )
        default_source = PROJECT_DIR.parent / "shared" / "data" / "amazon_reviews"
        return cls(
            data_dir=Path(env.get("USERSEGMENTS_DATA_DIR", PROJECT_DIR / "var")).resolve(),
            source_dir=Path(env.get("USERSEGMENTS_SOURCE_DIR", default_source)).resolve(),
            profile=profile,
            jars_dir=Path(env.get("USERSEGMENTS_JARS_DIR", cls.jars_dir)),
            models_dir=Path(env.get("USERSEGMENTS_MODELS_DIR", cls.models_dir)),
            spark=spark_settings(env),
            mlflow_tracking_uri=env.get("USERSEGMENTS_MLFLOW_TRACKING_URI") or None,
            model_name=env.get("USERSEGMENTS_MODEL_NAME", cls.model_name),
            postgres=postgres_settings(env) if profile == "production" else None,
            pseudonym_key=env.get("USERSEGMENTS_PSEUDONYM_KEY") or None,
            encoder_precision=precision,
            pipeline_schedule=schedule_setting(
                env.get("USERSEGMENTS_PIPELINE_SCHEDULE", cls.pipeline_schedule)
            ),
        )

    @property
    def production(self) -> bool:
        return self.profile == "production"

    @property
    def dbt_target(self) -> str:
        """The output of dbt_project/profiles.yml this profile builds the warehouse in."""
        return "postgres" if self.production else "duckdb"

    @property
    def lake(self) -> Lake:
        return Lake(self.data_dir / "lake")

    @property
    def lake_dir(self) -> Path:
        return self.lake.root

    def for_build(self) -> Settings:
        """These settings on the run's build of the warehouse."""
        return replace(self, building=True)

    def published(self) -> Settings:
        """These settings on the published warehouse, the one analysts read."""
        return replace(self, building=False)

    @property
    def warehouse_path(self) -> Path:
        name = "building.duckdb" if self.building else "warehouse.duckdb"
        return self.data_dir / "warehouse" / name

    @property
    def warehouse_schema(self) -> str:
        """The warehouse's dbt schema on PostgreSQL (production profile)."""
        return "analytics_build" if self.building else "analytics"

    @property
    def jvm_tmp_dir(self) -> Path:
        """The Spark drivers' java.io.tmpdir: Spark NLP copies its ONNX model into a new
        folder there on every load and never removes it (87 MB a load), so it lives
        beside the data, owner-only, not in the shared /tmp."""
        return self.data_dir / "tmp" / "jvm"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def pseudonym_key_file(self) -> Path:
        return self.data_dir / "secrets" / "pseudonym.key"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / partition_name(run_id)

    def env(self) -> dict[str, str]:
        """The variables a subprocess (dbt, spark-submit) needs to see the same paths
        and the same warehouse."""
        env = {
            "USERSEGMENTS_DATA_DIR": str(self.data_dir),
            "USERSEGMENTS_SOURCE_DIR": str(self.source_dir),
            "USERSEGMENTS_PROFILE": self.profile,
            "USERSEGMENTS_DBT_TARGET": self.dbt_target,
            # where dbt builds: the published warehouse or this run's build of it
            "USERSEGMENTS_WAREHOUSE_FILE": str(self.warehouse_path),
            "USERSEGMENTS_WAREHOUSE_SCHEMA": self.warehouse_schema,
            "USERSEGMENTS_ENCODER_PRECISION": self.encoder_precision,
        }
        if self.postgres:
            env.update(
                {
                    "USERSEGMENTS_PG_HOST": self.postgres.host,
                    "USERSEGMENTS_PG_PORT": str(self.postgres.port),
                    "USERSEGMENTS_PG_USER": self.postgres.user,
                    "USERSEGMENTS_PG_PASSWORD": self.postgres.password,
                    "USERSEGMENTS_PG_DATABASE": self.postgres.database,
                }
            )
        return env


def spark_settings(env: Mapping[str, str]) -> SparkSettings:
    default = SparkSettings()
    return SparkSettings(
        master=env.get("USERSEGMENTS_SPARK_MASTER", default.master),
        checkpoint_master=env.get(
            "USERSEGMENTS_SPARK_CHECKPOINT_MASTER", default.checkpoint_master
        ),
        gpu=env.get("USERSEGMENTS_SPARK_GPU", "0").lower() in TRUE_WORDS,
        gpu_discovery_script=env.get(
            "USERSEGMENTS_GPU_DISCOVERY_SCRIPT", default.gpu_discovery_script
        ),
        driver_memory=env.get("USERSEGMENTS_SPARK_DRIVER_MEMORY", default.driver_memory),
        executor_memory=env.get("USERSEGMENTS_SPARK_EXECUTOR_MEMORY", default.executor_memory),
        driver_host=env.get("USERSEGMENTS_SPARK_DRIVER_HOST", default.driver_host),
        shuffle_partitions=int(
            env.get("USERSEGMENTS_SPARK_SHUFFLE_PARTITIONS", default.shuffle_partitions)
        ),
        onnx_threads=int(env.get("USERSEGMENTS_ONNX_THREADS", default.onnx_threads)),
        quick_jit=env.get("USERSEGMENTS_SPARK_QUICK_JIT", "0").lower() in TRUE_WORDS,
    )


def postgres_settings(env: Mapping[str, str]) -> PostgresSettings:
    return PostgresSettings(
        host=env["USERSEGMENTS_PG_HOST"],
        port=int(env["USERSEGMENTS_PG_PORT"]),
        user=env["USERSEGMENTS_PG_USER"],
        database=env["USERSEGMENTS_PG_DATABASE"],
        password=env["USERSEGMENTS_PG_PASSWORD"],
    )


def check_production_environment(environ: Mapping[str, str]) -> None:
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
    port = environ.get("USERSEGMENTS_PG_PORT", "")
    if port and not port.isdigit():
        problems.append(f"USERSEGMENTS_PG_PORT={port!r} is not a port number")
    if problems:
        raise ProfileError("USERSEGMENTS_PROFILE=production: " + "; ".join(problems))


def load_pseudonym_key(settings: Settings) -> bytes:
    """The secret key for pseudonymising user ids.

    Taken from ``USERSEGMENTS_PSEUDONYM_KEY`` or, failing that, from the key file that
    ``make setup`` generates under the data folder. Never from code: changing the key
    changes every user key, so it is configuration that operators own.
    """
    if settings.pseudonym_key:
        return settings.pseudonym_key.encode()
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
        # the data folder holds raw ids and names: its owner's alone, as is the key,
        # created 0600 (never readable by others, not even between write and chmod)
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as key:
            key.write(secrets.token_hex(32) + "\n")
    return path


if __name__ == "__main__":
    print(ensure_pseudonym_key(Settings.from_env()))
