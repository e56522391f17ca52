"""Unit tests: no pipeline run, no services. The Spark functions run on tiny frames in
one local[1] session shared by the unit tests and stopped after them.

The session starts with the staged jars although MLlib needs none: PySpark starts one
JVM per process and keeps its classpath, so when `make test` runs both layers in one
process, the end-to-end tests' Spark NLP sessions need the jars on it from the start."""

from __future__ import annotations

import logging

import pytest

from usersegments.config import Settings


@pytest.fixture(scope="package")
def spark(tmp_path_factory):
    from usersegments.spark import spark_session

    session = spark_session("unit-tests", Settings.from_env(), master="local[1]")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    session.sparkContext.setCheckpointDir(str(tmp_path_factory.mktemp("spark-checkpoints")))
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    # py4j logs "closing" from finalizers after pytest has closed its streams
    logging.getLogger("py4j").setLevel(logging.WARNING)
