"""Shared fixtures. The real review data is read from ../shared/data (never copied into
the repository); corrupted or reduced variants are written to temporary folders."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from usersegments.airflow_cli import airflow_env
from usersegments.config import PROJECT_DIR, Settings

DAG_ID = "user_segments_pipeline"
TEST_KEY = "test-pseudonym-key-not-a-secret"


def pytest_configure(config):
    """Airflow imported inside the test process (DagBag) gets its own home, not ~/airflow."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="usersegments-test-"))
    os.environ.update(
        airflow_env(Settings(data_dir=home, source_dir=Settings.from_env().source_dir))
    )


@pytest.fixture(scope="session")
def real_source_dir() -> Path:
    source_dir = Settings.from_env().source_dir
    if not (source_dir / "SOURCES.md").exists():
        pytest.fail(f"real review data not found at {source_dir} (set USERSEGMENTS_SOURCE_DIR)")
    return source_dir


def read_lines(path: Path, limit: int | None = None) -> list[bytes]:
    with gzip.open(path, "rb") as handle:
        lines = handle.read().splitlines()
    return lines[:limit] if limit else lines


def write_gz(path: Path, lines: list[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as handle:
        handle.write(b"\n".join(lines) + b"\n")
    return path


@dataclass
class PipelineRun:
    settings: Settings
    env: dict[str, str]
    result: subprocess.CompletedProcess

    @property
    def log(self) -> str:
        return self.result.stdout + self.result.stderr

    def airflow(self, *args: str) -> subprocess.CompletedProcess:
        return run_airflow(self.env, *args)


def run_airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "usersegments.airflow_cli", *args],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=1200,
    )


def pipeline_env(data_dir: Path, source_dir: Path) -> dict[str, str]:
    settings = Settings(data_dir=data_dir, source_dir=source_dir)
    # not MLflow's variable: mlflow.set_tracking_uri() in this process sets it to
    # whatever data folder a test used last
    inherited = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env = {**inherited, **settings.env(), "USERSEGMENTS_PSEUDONYM_KEY": TEST_KEY}
    return {**env, **airflow_env(settings)}


def run_pipeline(data_dir: Path, source_dir: Path, conf: dict | None = None) -> PipelineRun:
    """`airflow dags test` of the pipeline DAG in its own data folder and Airflow home."""
    env = pipeline_env(data_dir, source_dir)
    if not (data_dir / "airflow" / "airflow.db").exists():
        migrated = run_airflow(env, "db", "migrate")
        assert migrated.returncode == 0, migrated.stderr[-3000:]
    args = ["dags", "test", DAG_ID]
    if conf:
        args += ["--conf", json.dumps(conf)]
    result = run_airflow(env, *args)
    return PipelineRun(Settings(data_dir=data_dir, source_dir=source_dir), env, result)


@pytest.fixture(scope="session")
def full_run(tmp_path_factory, real_source_dir) -> PipelineRun:
    """One full pipeline run on all of the real data, shared by the end-to-end tests."""
    run = run_pipeline(tmp_path_factory.mktemp("full_run"), real_source_dir)
    assert run.result.returncode == 0, run.log[-5000:]
    return run


# Two small real files (two interests, so a classifier is trained and users are scored)
# with k fixed, and four malformed lines inserted into one of them: the quarantine
# tests' run and the reference the production profile's warehouse is compared with.
TWO_FILES_CONF = {
    "source_files": ["Appliances_5.json.gz", "Gift_Cards_5.json.gz"],
    "segment_count": 3,
}
MALFORMED_LINES = {
    b'{"overall": 5.0, "reviewerID": "AQ1", "asin": "B0': "invalid_json",
    b'{"overall": "5 stars", "reviewerID": "AQ2", "asin": "B01", "unixReviewTime": 1}': "wrong_type:overall",
    b'{"overall": 5.0, "asin": "B01", "unixReviewTime": 1400000000}': "missing_reviewer_id",
    b"\xff\xfe not json": "invalid_utf8",
}


@dataclass
class ReferenceRun:
    run: PipelineRun
    # the run's summary, and table -> (rows, columns) of the DuckDB warehouse after it
    summary: dict
    warehouse: dict[str, tuple[int, list[str]]]


def duckdb_warehouse_shape(settings: Settings) -> dict[str, tuple[int, list[str]]]:
    import duckdb

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = [
            t
            for (t,) in con.sql(
                "select table_name from information_schema.tables where table_schema = 'main'"
            ).fetchall()
        ]
        return {
            t: (
                con.sql(f'select count(*) from "{t}"').fetchall()[0][0],
                [c for (c,) in con.sql(
                    "select column_name from information_schema.columns where table_name = ? order by ordinal_position",
                    params=[t]).fetchall()],
            )
            for t in tables
        }  # fmt: skip


@pytest.fixture(scope="session")
def two_file_run(tmp_path_factory, real_source_dir) -> ReferenceRun:
    """The pipeline and the scoring DAG (local profile) on two small real files, one
    with MALFORMED_LINES inserted after its 500th line. Tests must not add runs to its
    data folder (copy it)."""
    root = tmp_path_factory.mktemp("two_file_run")
    appliances, gift_cards = TWO_FILES_CONF["source_files"]
    real = read_lines(real_source_dir / appliances)
    write_gz(root / "src" / appliances, [*real[:500], *MALFORMED_LINES, *real[500:]])
    (root / "src" / gift_cards).symlink_to(real_source_dir / gift_cards)
    run = run_pipeline(root / "data", root / "src", conf=TWO_FILES_CONF)
    assert run.result.returncode == 0, run.log[-5000:]
    scoring = run.airflow("dags", "test", "score_new_users")
    assert scoring.returncode == 0, (scoring.stdout + scoring.stderr)[-5000:]
    (summary_path,) = run.settings.runs_dir.glob("*/summary.json")
    return ReferenceRun(
        run, json.loads(summary_path.read_text()), duckdb_warehouse_shape(run.settings)
    )


def task_states(run: PipelineRun) -> dict[str, str]:
    """Task id -> final state of the newest run, read from Airflow's metadata database."""
    import sqlite3

    with sqlite3.connect(run.settings.data_dir / "airflow" / "airflow.db") as db:
        (run_id,) = db.execute(
            "select run_id from dag_run where dag_id = ? order by id desc limit 1", [DAG_ID]
        ).fetchone()
        rows = db.execute(
            "select task_id, state from task_instance where dag_id = ? and run_id = ?",
            [DAG_ID, run_id],
        ).fetchall()
    return dict(rows)
