"""The end-to-end layer's shared pipeline run, ``intervals``: two small real files, one
with malformed lines inserted, in two data intervals as the schedule makes them. The
2016 interval (a refit, k chosen by the DAG's defaults) stops once its segments are
checked, published to the run's build and logged to MLflow with their report; then
``make demo DATE=2019-01-01``, the README's command, runs the 2019 interval, after the
files' last review: the whole DAG (it places the users who arrived since with the 2016
model), the summary, and the scoring DAG. Its tests,
the demo's, and the copies the rerun, strict-run, leak and gate tests change all read
this one run (``demo_run`` is its second run).

What it costs on 2 cores is in docs/testing.md. Tests must not add runs to the shared
data folder: they copy what they change (``copy_data_dir``).

``make test`` runs two pytest-xdist workers. The first worker to ask for the run makes
it, under a lock, and leaves a pristine copy; another worker copies that into a folder
of its own, so neither reads files the other changes (a DuckDB file takes one writing
process at a time). The order the workers take the tests in is set in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import TEST_KEY
from tests.helpers import read_lines, write_gz
from tests.xdist_groups import ORDER
from usersegments.airflow_cli import airflow_env
from usersegments.config import PROJECT_DIR, Settings

DAG_ID = "user_segments_pipeline"
SHARED_RUN = "intervals"
E2E_DIR = Path(__file__).parent
# the intervals' logical dates, each its run's as-of (the reviews before it): the
# second is after the two files' last review (2018-08), so the demo's run sees them all
FIRST_DATE, SECOND_DATE = "2016-01-01", "2019-01-01"


# The order make test's two workers take the tests in (tests/conftest.py sorts by it):
# the shared run's own tests first, so one worker makes the run while the other starts
# the production profile (the longest test of its own); then the tests that need no
# shared run, so the second worker asks for the run only once it is made; then the
# modules that read it, the longest first (but the demo's, which checks the modes of
# every file in the run's folder before a test could add one); the unit layer fills
# both workers' ends.
READERS = (
    "test_demo",
    "test_recommendations",
    "test_pipeline",
    "test_interest_classifier",
    "test_segments",
    "test_bench",
    "test_spark_lake",
    "test_analysts_guide",
)


def scheduling_order(module: str, reads_the_run: bool) -> tuple:
    if module == "test_intervals":
        return (0,)
    if module == "test_production_profile":
        return (1,)
    if not reads_the_run:
        return (2,)
    return (3, READERS.index(module) if module in READERS else len(READERS))


@pytest.hookimpl(tryfirst=True)  # before tests/conftest.py orders them
def pytest_collection_modifyitems(config, items):
    """A module whose tests read the shared run is one group (its module fixtures, such
    as a poisoned copy, are made once); the shared run's own tests are its group."""
    for item in items:
        if E2E_DIR not in item.path.parents:
            continue  # the unit layer: last (tests/conftest.py)
        module = item.module.__name__.rsplit(".", 1)[-1]
        reads_the_run = SHARED_RUN in item.fixturenames
        if reads_the_run:
            item.add_marker(pytest.mark.xdist_group(module))
        item.stash[ORDER] = scheduling_order(module, reads_the_run)


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


def make_demo(data_dir: Path, source_dir: Path, date: str) -> PipelineRun:
    """`make demo` exactly as the README runs it, in a data folder of its own (the
    Makefile takes USERSEGMENTS_DATA_DIR from the environment), for one interval."""
    env = pipeline_env(data_dir, source_dir)
    started = time.perf_counter()
    result = subprocess.run(
        ["make", "demo", f"DATE={date}"],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    run = PipelineRun(
        Settings(data_dir=data_dir, source_dir=source_dir),
        env,
        result,
        time.perf_counter() - started,
    )
    assert result.returncode == 0, run.log[-5000:]
    return run


# Two small real files (two interests, so a classifier is trained and users are scored)
# with k fixed, and four malformed lines inserted into one of them. SOURCES.md: 5,249
# lines, 2,375 distinct reviews, 505 reviewers.
LINES, REVIEWS, USERS = 5_249, 2_375, 505
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
    first_run_id: str  # 2016, stopped after its segments' report
    first_as_of: pd.Timestamp
    build_counts: tuple  # of the first run's build, before the second replaces it
    second: PipelineRun  # 2019, `make demo`: the whole DAG, the summary, the scoring DAG
    second_run_id: str
    summary: dict  # the second run's

    def copied_to(self, data_dir: Path, original: Path) -> Intervals:
        """The same runs on a copy of their data folder (Airflow's home included)."""
        copy_data_dir(original, data_dir, airflow=True)
        source_dir = self.second.settings.source_dir
        settings = Settings(data_dir=data_dir, source_dir=source_dir)
        second = PipelineRun(
            settings, pipeline_env(data_dir, source_dir), self.second.result, self.second.seconds
        )
        return replace(self, second=second)


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


def build_intervals(root: Path, real_source_dir: Path) -> Intervals:
    source_dir = two_files_with_malformed_lines(root / "src", real_source_dir)
    data_dir = root / "data"
    first = run_pipeline(data_dir, source_dir, stop_after="segment_report", logical_date=FIRST_DATE)
    assert first.result.returncode == 0, first.log[-5000:]
    first_run_id = newest_run_id(first)
    as_of = data_interval_end(first, first_run_id)
    counts = build_counts(first, as_of)
    second = make_demo(data_dir, source_dir, SECOND_DATE)
    second_run_id = newest_run_id(second)
    summary = json.loads((second.settings.run_dir(second_run_id) / "summary.json").read_text())
    return Intervals(first_run_id, as_of, counts, second, second_run_id, summary)


@pytest.fixture(scope="session")
def intervals(tmp_path_factory, real_source_dir, worker_id) -> Intervals:
    """The two files with MALFORMED_LINES in two data intervals (module docstring), made
    once for all of make test's workers."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # the workers' common folder
    made, pristine = shared / "intervals.pickle", shared / "intervals-pristine"
    with FileLock(shared / "intervals.lock"):
        if made.exists():
            runs = pickle.loads(made.read_bytes())
            if isinstance(runs, str):
                pytest.fail(runs)
            return runs.copied_to(base / "intervals", pristine)
        try:
            runs = build_intervals(shared / "intervals", real_source_dir)
        except BaseException as error:
            made.write_bytes(pickle.dumps(f"the intervals failed on another worker: {error}"))
            raise
        copy_data_dir(runs.second.settings.data_dir, pristine, airflow=True)
        made.write_bytes(pickle.dumps(runs))
        print(f"intervals: {runs.second.seconds:.0f} s for make demo's run")
        return runs


@pytest.fixture(scope="session")
def demo_run(intervals) -> PipelineRun:
    """`make demo DATE=2019-01-01` on the two files, after the 2016 interval."""
    return intervals.second


def copy_data_dir(data_dir: Path, to: Path, airflow: bool = False) -> Path:
    """A run's lake, warehouse and MLflow store, to change apart from the shared run;
    Airflow's home only when asked, and never its airflow.cfg, which names the
    original's metadata database (Airflow writes a new one)."""
    ignored = (
        shutil.ignore_patterns("airflow.cfg") if airflow else shutil.ignore_patterns("airflow")
    )
    shutil.copytree(data_dir, to, symlinks=True, ignore=ignored)
    return to


@pytest.fixture(scope="module")
def spark(demo_run, tmp_path_factory):
    """A Spark session on the demo run's lake, with the staged jars."""
    from usersegments.spark import spark_session

    session = spark_session("test-lake", demo_run.settings)
    session.sparkContext.setCheckpointDir(str(tmp_path_factory.mktemp("spark-checkpoints")))
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
