"""The embedding job through spark-submit against a Spark standalone master and worker
started on loopback, as on a cluster (not local mode)."""

from __future__ import annotations

import json
import os
import subprocess

import duckdb
import pytest

from tests.services import spark_standalone_cluster
from usersegments.config import Settings
from usersegments.encoder import encoder_dir
from usersegments.spark import SPARK_JOBS_DIR, spark_env, submit_command


@pytest.fixture
def standalone_cluster(tmp_path):
    with spark_standalone_cluster(tmp_path / "spark") as (master_url, logs):
        yield master_url, logs


def test_embedding_job_runs_on_a_standalone_cluster(full_run, tmp_path, standalone_cluster):
    master_url, logs = standalone_cluster
    lake = tmp_path / "lake"
    (lake / "clean").mkdir(parents=True)
    # 300 real cleaned reviews from the pipeline's lake
    duckdb.sql(
        f"copy (select * from '{full_run.settings.lake_dir}/clean/reviews.parquet' "
        f"where review_text is not null order by review_key limit 300) "
        f"to '{lake}/clean/reviews.parquet' (format parquet)"
    )
    report_path = tmp_path / "report.json"
    command = submit_command(
        SPARK_JOBS_DIR / "embed_reviews.py",
        [
            "--lake-dir",
            str(lake),
            "--encoder-dir",
            str(encoder_dir(Settings.from_env())),
            "--batch-id",
            "cluster-test",
            "--report",
            str(report_path),
        ],
        Settings.from_env(),
        master=master_url,
    )
    result = subprocess.run(
        command, env={**os.environ, **spark_env()}, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-5000:]

    report = json.loads(report_path.read_text())
    assert report["embedded"] == 300 and report["reviews"] == 300
    # the work ran on the worker's executor, not in the driver
    assert "Asked to launch executor" in logs["worker"].read_text()
    vectors = duckdb.sql(
        f"select count(*), min(len(vector)) from read_parquet('{lake}/embeddings/reviews/*/*/*.parquet')"
    ).fetchall()[0]
    assert vectors == (300, 384)
