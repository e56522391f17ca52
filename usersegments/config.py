"""Where things live. Every path comes from the environment, with project-local defaults.

One setting moves all state: ``USERSEGMENTS_DATA_DIR`` (lake, warehouse, run artifacts,
Airflow home). The source data is read-only and lives outside the repository.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    source_dir: Path

    @classmethod
    def from_env(cls) -> "Settings":
        data_dir = Path(os.environ.get("USERSEGMENTS_DATA_DIR", PROJECT_DIR / "var"))
        source_dir = Path(
            os.environ.get(
                "USERSEGMENTS_SOURCE_DIR",
                PROJECT_DIR.parent / "shared" / "data" / "amazon_reviews",
            )
        )
        return cls(data_dir=data_dir.resolve(), source_dir=source_dir.resolve())

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
        """The variables a subprocess (dbt, spark-submit) needs to see the same paths."""
        return {
            "USERSEGMENTS_DATA_DIR": str(self.data_dir),
            "USERSEGMENTS_SOURCE_DIR": str(self.source_dir),
        }


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
