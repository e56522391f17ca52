"""The embedding job through spark-submit against a Spark standalone master and worker
started on loopback, as on a cluster (not local mode)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from usersegments.config import Settings
from usersegments.encoder import encoder_dir
from usersegments.spark import SPARK_JOBS_DIR, spark_env, submit_command

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(path: Path, text: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(1)
    raise AssertionError(f"{text!r} not in {path} after {timeout}s:\n{path.read_text()[-3000:]}")


@pytest.fixture
def standalone_cluster(tmp_path):
    spark_class = str(Path(sys.executable).with_name("spark-class"))
    env = {**os.environ, **spark_env(), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_WORKER_DIR": str(tmp_path / "work")}  # fmt: skip
    port = free_port()
    master_url = f"spark://127.0.0.1:{port}"
    logs = {name: tmp_path / f"{name}.log" for name in ("master", "worker")}
    master = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
         "--port", str(port), "--webui-port", str(free_port())],
        stdout=logs["master"].open("w"), stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    worker = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1",
         "--cores", "2", "--memory", "4g", "--webui-port", str(free_port())],
        stdout=logs["worker"].open("w"), stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        wait_for(logs["master"], "I have been elected leader")
        wait_for(logs["worker"], "Successfully registered with master")
        yield master_url, logs
    finally:
        for process in (worker, master):
            process.terminate()
            process.wait(timeout=30)


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
        ["--lake-dir", str(lake), "--encoder-dir", str(encoder_dir(Settings.from_env())),
         "--batch-id", "cluster-test", "--report", str(report_path)],
        Settings.from_env(),
        master=master_url,
    )  # fmt: skip
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
