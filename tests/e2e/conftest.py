"""The end-to-end layer's pipeline runs, each made once per session and shared:

- ``full_run``: the README's ``make demo`` on all of the real data (the pipeline DAG,
  the summary, the scoring DAG) in a data folder of its own, under the tests' key;
- ``intervals``: two small real files, one with malformed lines inserted, in two data
  intervals as the schedule makes them (2016 as far as the segments' gate, then 2017
  the whole DAG and the scoring DAG): the intervals' tests, the quarantine tests, and
  the base the rerun and new-file tests copy.

What each costs on 2 cores is in docs/testing.md. Tests must not add runs to a shared
data folder: they copy what they change (``copy_data_dir``).

``make test`` runs two pytest-xdist workers (``--dist loadgroup``): a session fixture is
made once per worker, so every test that reads one of the runs is put in that run's
group, and a group runs whole on one worker, in file order.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import TEST_KEY
from tests.helpers import read_lines, write_gz
from usersegments.airflow_cli import airflow_env
from usersegments.config import PROJECT_DIR, Settings

DAG_ID = "user_segments_pipeline"
# the runs whose tests share a worker (see above); a run whose tests were in no group
# was made again by each worker that took one of them (21 minutes of CI on 2026-12-01)
SHARED_RUNS = ("full_run", "intervals")


@pytest.hookimpl(tryfirst=True)  # before tests/conftest.py writes the groups down
def pytest_collection_modifyitems(config, items):
    for item in items:
        runs = [run for run in SHARED_RUNS if run in item.fixturenames]
        if len(runs) > 1:
            raise pytest.UsageError(f"{item.nodeid} reads {runs}: each would run on its worker")
        if runs:
            item.add_marker(pytest.mark.xdist_group(runs[0]))


@dataclass
class PipelineRun:
    settings: Settings
    env: dict[str, str]
    result: subprocess.CompletedProcess
    seconds: float = 0.0

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
        timeout=1800,
    )


def pipeline_env(data_dir: Path, source_dir: Path) -> dict[str, str]:
    settings = Settings(data_dir=data_dir, source_dir=source_dir)
    # not MLflow's variable: mlflow.set_tracking_uri() in this process sets it to
    # whatever data folder a test used last
    inherited = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env = {**inherited, **settings.env(), "USERSEGMENTS_PSEUDONYM_KEY": TEST_KEY}
    return {**env, **airflow_env(settings)}


def run_pipeline(
    data_dir: Path,
    source_dir: Path,
    conf: dict | None = None,
    stop_after: str | None = None,
    logical_date: str | None = None,
) -> PipelineRun:
    """`airflow dags test` of the pipeline DAG in its own data folder and Airflow home;
    ``stop_after``: a task whose downstream tasks are marked successful, not run;
    ``logical_date``: the run's (then it has a data interval, as a scheduled run)."""
    env = pipeline_env(data_dir, source_dir)
    if not (data_dir / "airflow" / "airflow.db").exists():
        migrated = run_airflow(env, "init")
        assert migrated.returncode == 0, migrated.stderr[-3000:]
    args = ["dags", "test", DAG_ID, *([logical_date] if logical_date else [])]
    if conf:
        args += ["--conf", json.dumps(conf)]
    if stop_after:
        args += ["--mark-success-pattern", downstream_pattern(stop_after)]
    started = time.perf_counter()
    result = run_airflow(env, *args)
    seconds = time.perf_counter() - started
    return PipelineRun(Settings(data_dir=data_dir, source_dir=source_dir), env, result, seconds)


@pytest.fixture(scope="session")
def full_run(tmp_path_factory, real_source_dir) -> PipelineRun:
    """`make demo` exactly as the README runs it, on all of the real data, in a data
    folder of its own (the Makefile takes USERSEGMENTS_DATA_DIR from the environment)."""
    data_dir = tmp_path_factory.mktemp("full_run")
    env = pipeline_env(data_dir, real_source_dir)
    started = time.perf_counter()
    result = subprocess.run(
        ["make", "demo"], env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=3600
    )
    run = PipelineRun(
        Settings(data_dir=data_dir, source_dir=real_source_dir),
        env,
        result,
        time.perf_counter() - started,
    )
    assert result.returncode == 0, run.log[-5000:]
    print(f"make demo: {run.seconds:.0f} s")
    return run


# Two small real files (two interests, so a classifier is trained and users are scored)
# with k fixed, and four malformed lines inserted into one of them.
TWO_FILES_CONF = {
    "source_files": ["Appliances_5.json.gz", "Gift_Cards_5.json.gz"],
    "segment_count": 3,
}
MALFORMED_LINES = {
    b'{"overall": 5.0, "reviewerID": "AQ1", "asin": "B0': "invalid_json",
    b'{"overall": "5 stars", "reviewerID": "AQ2", "asin": "B01", "unixReviewTime": 1}': (
        "wrong_type:overall"
    ),
    b'{"overall": 5.0, "asin": "B01", "unixReviewTime": 1400000000}': "missing_reviewer_id",
    b"\xff\xfe not json": "invalid_utf8",
}


def two_files_with_malformed_lines(folder: Path, real_source_dir: Path) -> Path:
    """TWO_FILES_CONF's files in ``folder``, MALFORMED_LINES after Appliances' 500th line."""
    appliances, gift_cards = TWO_FILES_CONF["source_files"]
    real = read_lines(real_source_dir / appliances)
    write_gz(folder / appliances, [*real[:500], *MALFORMED_LINES, *real[500:]])
    (folder / gift_cards).symlink_to(real_source_dir / gift_cards)
    return folder


@dataclass
class Intervals:
    first: PipelineRun  # 2016, stopped once its segments are checked
    first_run_id: str
    first_as_of: pd.Timestamp
    build_counts: tuple  # of the first run's build, before the second replaces it
    second: PipelineRun  # 2017, the whole DAG, then the scoring DAG
    second_run_id: str
    summary: dict  # the second run's


def data_interval_end(run: PipelineRun, run_id: str) -> pd.Timestamp:
    import sqlite3

    with sqlite3.connect(run.settings.data_dir / "airflow" / "airflow.db") as db:
        (end,) = db.execute(
            "select data_interval_end from dag_run where run_id = ?", [run_id]
        ).fetchone()
    end = pd.Timestamp(end)
    return (end.tz_convert("UTC") if end.tzinfo else end).tz_localize(None)


def build_counts(run: PipelineRun, as_of: pd.Timestamp) -> tuple:
    """Staged rows before/after the as-of, rows the models counted, the newest review
    the marts hold, the users of the reviews and of the users mart."""
    import duckdb

    with duckdb.connect(str(run.settings.for_build().warehouse_path), read_only=True) as con:
        staged = con.execute(
            "select count(*) filter (where reviewed_at < ?), "
            "count(*) filter (where reviewed_at >= ?) from stg_amazon__reviews",
            [as_of, as_of],
        ).fetchone()
        counted = con.execute(
            "select sum(duplicate_count), max(reviewed_at) from int_reviews__deduplicated"
        ).fetchone()
        marts = con.execute(
            "select max(reviewed_at), count(distinct user_key) from reviews"
        ).fetchone()
        users = con.execute("select count(*) from users").fetchone()[0]
    return (*staged, *counted, *marts, users)


@pytest.fixture(scope="session")
def intervals(tmp_path_factory, real_source_dir) -> Intervals:
    """The two files with MALFORMED_LINES, two data intervals as the schedule makes
    them: 2016 (the first run, a refit) stopped once its segments are checked, then
    2017 the whole DAG (it places the users who arrived since with the 2016 model) and
    the scoring DAG (the champion scores them)."""
    root = tmp_path_factory.mktemp("intervals")
    source_dir = two_files_with_malformed_lines(root / "src", real_source_dir)
    data_dir = root / "data"
    first = run_pipeline(
        data_dir,
        source_dir,
        TWO_FILES_CONF,
        stop_after="validate_user_segments",
        logical_date="2016-01-01",
    )
    assert first.result.returncode == 0, first.log[-5000:]
    first_run_id = newest_run_id(first)
    as_of = data_interval_end(first, first_run_id)
    counts = build_counts(first, as_of)
    second = run_pipeline(data_dir, source_dir, TWO_FILES_CONF, logical_date="2017-01-01")
    assert second.result.returncode == 0, second.log[-5000:]
    second_run_id = newest_run_id(second)
    scoring = run_airflow(second.env, "dags", "test", "score_new_users")
    assert scoring.returncode == 0, (scoring.stdout + scoring.stderr)[-5000:]
    summary = json.loads((second.settings.run_dir(second_run_id) / "summary.json").read_text())
    return Intervals(first, first_run_id, as_of, counts, second, second_run_id, summary)


def copy_data_dir(settings: Settings, to: Path) -> Path:
    """A run's lake, warehouse and MLflow store, to change apart from the shared run;
    not Airflow's home, whose airflow.cfg names the original's metadata database."""
    shutil.copytree(settings.data_dir, to, symlinks=True, ignore=shutil.ignore_patterns("airflow"))
    return to


@pytest.fixture(scope="module")
def spark(full_run):
    """A Spark session on the demo run's lake, with the staged jars."""
    from usersegments.spark import spark_session

    session = spark_session(
        "test-lake", Settings(full_run.settings.data_dir, full_run.settings.source_dir)
    )
    session.sparkContext.setCheckpointDir(str(full_run.settings.data_dir / "test-checkpoints"))
    yield session
    session.stop()


def downstream_pattern(task_id: str) -> str:
    """A regex of exactly the pipeline's tasks downstream of ``task_id``."""
    import re

    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT_DIR / "dags")).dags[DAG_ID]
    downstream = dag.get_task(task_id).get_flat_relative_ids(upstream=False)
    return "^(" + "|".join(re.escape(t) for t in sorted(downstream)) + ")$"


def newest_run_id(run: PipelineRun) -> str:
    import sqlite3

    with sqlite3.connect(run.settings.data_dir / "airflow" / "airflow.db") as db:
        (run_id,) = db.execute(
            "select run_id from dag_run where dag_id = ? order by id desc limit 1", [DAG_ID]
        ).fetchone()
    return run_id


def task_states(run: PipelineRun) -> dict[str, str]:
    """Task id -> final state of the newest run, read from Airflow's metadata database."""
    import sqlite3

    run_id = newest_run_id(run)
    with sqlite3.connect(run.settings.data_dir / "airflow" / "airflow.db") as db:
        rows = db.execute(
            "select task_id, state from task_instance where dag_id = ? and run_id = ?",
            [DAG_ID, run_id],
        ).fetchall()
    return dict(rows)
