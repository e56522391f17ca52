"""Fixtures of both test layers. The real review data is read from ../shared/data (never
copied into the repository); the end-to-end layer's pipeline runs are in
tests/e2e/conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import xdist_groups
from usersegments.airflow_cli import airflow_env
from usersegments.config import Settings

# the tests' fixed pseudonymisation key: results on the real data are compared across
# versions of the code under it
TEST_KEY = "test-pseudonym-key-not-a-secret"


def pytest_configure(config):
    """Airflow imported inside the test process (DagBag) gets its own home, not ~/airflow;
    the JVMs compile quickly (SparkSettings.quick_jit)."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="usersegments-test-"))
    os.environ.update(
        airflow_env(Settings(data_dir=home, source_dir=Settings.from_env().source_dir))
    )
    # every JVM of the tests is short and its data small (docs/testing.md)
    os.environ.setdefault("USERSEGMENTS_SPARK_QUICK_JIT", "1")


# make test's workers (pytest-xdist, --dist loadgroup): see tests/xdist_groups.py
def pytest_configure_node(node):
    node.workerinput[xdist_groups.GROUPS_FILE] = str(xdist_groups.groups_file(node.config))


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") == "loadgroup":
        return xdist_groups.GroupScheduling(config, log, xdist_groups.groups_file(config))
    return None


def pytest_unconfigure(config):
    xdist_groups.remove_groups_file(config)


@pytest.hookimpl(trylast=True)  # after tests/e2e/conftest.py has marked the groups
def pytest_collection_modifyitems(config, items):
    if hasattr(config, "workerinput"):
        # The scheduler hands out the tests' groups in this order: the end-to-end layer's
        # (tests/e2e/conftest.py says why), then the unit layer, which fills both
        # workers' last minutes.
        items.sort(key=lambda item: item.stash.get(xdist_groups.ORDER, (4,)))
        xdist_groups.write_groups(Path(config.workerinput[xdist_groups.GROUPS_FILE]), items)


@pytest.fixture(scope="session", autouse=True)
def _one_jvm_with_the_staged_jars():
    """A test process has one JVM, and the first Spark session's classpath is every
    later session's: started here with the staged jars, so a session made without them
    (the MLlib, GX and recommender code asks for none) cannot leave Spark NLP's classes
    out of a later test on the same worker (make test's two workers run the tests in
    an order of their own)."""
    from usersegments.spark import spark_session

    spark_session("tests-jvm", Settings.from_env(), master="local[1]").stop()
    yield


@pytest.fixture(scope="session")
def real_source_dir() -> Path:
    source_dir = Settings.from_env().source_dir
    if not (source_dir / "SOURCES.md").exists():
        pytest.fail(f"real review data not found at {source_dir} (set USERSEGMENTS_SOURCE_DIR)")
    return source_dir
