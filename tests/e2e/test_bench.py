"""Every benchmark in bench/ runs at a tiny size, so none can rot unnoticed. The real
sizes and their results are in docs/results.md; these check only that each runs to its
ratio line."""

from __future__ import annotations

import subprocess
import sys

import duckdb

from tests.e2e.conftest import LINES, MALFORMED_LINES, REVIEWS, USERS, pipeline_env
from usersegments.config import PROJECT_DIR


def bench(script: str, args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "bench" / script), *args],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    return result.stdout


def test_segmentation_benchmark_on_the_demo_lake(demo_run):
    env = pipeline_env(demo_run.settings.data_dir, demo_run.settings.source_dir)
    out = bench(
        "segmentation_kmeans.py",
        ["--k", "3", "--max-iter", "2", "--scales", "1,2", "--driver-memory", "2g"],
        env,
    )
    assert f"{USERS} users x " in out
    assert "1x: MLlib vs scikit-learn" in out and "2x: MLlib vs scikit-learn" in out


def test_embedding_benchmark_on_a_few_real_reviews(tmp_path, real_source_dir):
    env = pipeline_env(tmp_path, real_source_dir)
    out = bench("embedding_throughput.py", ["--reviews", "40"], env)
    assert out.startswith("40 real reviews")
    for engine in ("onnxruntime (baseline)", "sentence-transformers", "spark-nlp job"):
        assert engine in out


def test_scale_benchmark_reports_the_demo_run(demo_run):
    """The report of bench/scale_pipeline.py on the demo's finished run (the benchmark
    runs the same DAG at x1 and x N: a run of its own here would cost minutes); the
    counts are the lake's, the 2016 interval's texts included."""
    env = pipeline_env(demo_run.settings.data_dir, demo_run.settings.source_dir)
    out = bench("scale_pipeline.py", ["--report-only", str(demo_run.settings.data_dir)], env)
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    lines = str(LINES + len(MALFORMED_LINES))
    assert rows["ingest"][1:3] == [lines, lines]  # source lines in, raw rows out
    assert rows["dbt_features"][1:3] == [str(REVIEWS), str(USERS)]
    texts = demo_run.settings.lake.text_vectors()
    (distinct_texts,) = duckdb.sql(f"select count(*) from '{texts}/**/*.parquet'").fetchall()[0]
    assert rows["embed_reviews"][2] == str(distinct_texts)  # some reviews repeat a text
    assert float(rows["segment_users"][0]) > 0
    assert "texts/s" in out
