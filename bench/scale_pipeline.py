"""The pipeline DAG at x1 and x N of the real data: seconds, rows and peak memory per stage.

Each scale runs ``airflow dags test user_segments_pipeline`` from scratch in a data
folder of its own (``<data>/bench-scale/x<N>``, emptied first, its own key and Airflow
database): x1 on the real files, x N on the SYNTHETIC files of bench/synthetic_reviews.py
(generated into ``<data>/synthetic/x<N>`` unless there). The named baseline is x1,
measured in the same benchmark run; growth ratios are against x1 and, where measured,
x10, because absolute times on a shared machine are noise.

A stage is a task or a task group (the dbt groups, cosmos's tasks). Seconds: the sum of
its tasks' durations in Airflow's metadata database. Peak memory: the largest resident
set of the whole process tree (``dags test`` and the spark-submit JVMs it starts),
sampled every half second from /proc, while the stage's tasks ran. Rows in and out:
what the run summary and the lake hold for the tables the stage reads and writes.

The embedding stage runs for real. Its encoder sees each distinct text once per model
version (the product's text cache, usersegments/embedding.py), and the synthetic
files reuse the real texts, so at x N it encodes the real data's texts and joins the
others to their vectors: `texts/s` is the encoder's rate, `reviews/s` the stage's.

Spark settings: the defaults (4 GB of driver heap, local[2]) except 32 shuffle
partitions instead of 8 (``BENCH_SPARK``), at every scale, so the ratios compare like
with like; a variable set in the environment wins. An engineer at x100 sets the same.

Usage: python bench/scale_pipeline.py --scales 1,10   (make bench-scale SCALE=10)
       python bench/scale_pipeline.py --report-only <data folder of a pipeline run>
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
DAG_ID = "user_segments_pipeline"
PAGE = os.sysconf("SC_PAGE_SIZE")
# 1.5 M reviews through 8 shuffle partitions is ~200 MB a sort; adaptive execution
# coalesces the small shuffles of x1 back to a few partitions
BENCH_SPARK = {"USERSEGMENTS_SPARK_SHUFFLE_PARTITIONS": "32"}

# stage -> (rows in, rows out), each the name of a count of `run_counts`
STAGE_ROWS = {
    "ingest": ("source lines", "raw rows"),
    "validate_raw_reviews": ("raw rows", "raw rows"),
    "load_raw_reviews": ("raw rows", "raw rows"),
    "dbt_clean": ("raw rows", "reviews"),
    "validate_staged_reviews": ("reviews", "reviews"),
    "dbt_features": ("reviews", "users"),
    "validate_user_features": ("users", "users"),
    "dbt_marts": ("reviews", "reviews"),
    "export_marts": ("reviews", "reviews"),
    "embed_reviews": ("reviews", "texts encoded"),
    "validate_review_embeddings": ("review vectors", "review vectors"),
    "segment_users": ("users", "users segmented"),
    "validate_user_segments": ("users segmented", "users segmented"),
    "load_segmentation": ("users segmented", "users segmented"),
    "dbt_segments": ("users segmented", "users segmented"),
    "segment_evaluation_users": ("reviews", "users segmented"),
    "recommend_segments": ("users", "recommendations"),
    "validate_recommendations": ("recommendations", "recommendations"),
    "load_recommendations": ("recommendations", "recommendations"),
    "dbt_recommendations": ("recommendations", "recommendations"),
    "train_interest_classifier": ("users segmented", "users segmented"),
    "segment_report": ("users segmented", "users segmented"),
}


class MemorySampler(threading.Thread):
    """(seconds since the epoch, resident bytes) of a process and all its descendants."""

    def __init__(self, root_pid: int, interval: float = 0.5):
        super().__init__(daemon=True)
        self.root_pid, self.interval = root_pid, interval
        self.samples: list[tuple[float, int]] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.samples.append((time.time(), tree_rss(self.root_pid)))
            self._done.wait(self.interval)

    def stop(self) -> list[tuple[float, int]]:
        self._done.set()
        self.join()
        return self.samples

    def peak(self, start: float, end: float) -> int:
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return max(inside, default=0)


def tree_rss(root_pid: int) -> int:
    """Resident bytes of ``root_pid`` and its descendants, from /proc (a process may end
    between listing and reading: it then counts nothing)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            pages = int(Path(entry.path, "statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name may hold spaces
        children.setdefault(ppid, []).append(int(entry.name))
        rss[int(entry.name)] = pages * PAGE
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    windows: list[tuple[float, float]] = field(default_factory=list)
    peak_bytes: int = 0


def stages(data_dir: Path) -> dict[str, Stage]:
    """The newest pipeline run's stages, in the order they started."""
    with sqlite3.connect(data_dir / "airflow" / "airflow.db") as db:
        (run_id,) = db.execute(
            "select run_id from dag_run where dag_id = ? order by id desc limit 1", [DAG_ID]
        ).fetchone()
        rows = db.execute(
            "select task_id, start_date, end_date from task_instance "
            "where dag_id = ? and run_id = ? and start_date is not null order by start_date",
            [DAG_ID, run_id],
        ).fetchall()
    found: dict[str, Stage] = {}
    for task_id, start, end in rows:
        stage = found.setdefault(task_id.split(".")[0], Stage(task_id.split(".")[0]))
        window = (epoch(start), epoch(end))
        stage.windows.append(window)
        stage.seconds += window[1] - window[0]
    return found


def epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


def run_counts(data_dir: Path) -> dict[str, int]:
    """The row counts STAGE_ROWS names, from the run summary and the lake."""
    import duckdb

    from usersegments.lake import partition_name

    summary_file = max((data_dir / "runs").glob("*/summary.json"), key=os.path.getmtime)
    summary = json.loads(summary_file.read_text())
    lake = data_dir / "lake"
    run = partition_name(summary["run_id"])

    def rows(pattern: Path) -> int | None:
        if not list(lake.glob(str(pattern.relative_to(lake)))):
            return None  # an older run: no such table
        return duckdb.execute(f"select count(*) from read_parquet('{pattern}')").fetchone()[0]

    return {
        "source lines": summary["lines_read"],
        "raw rows": summary["rows_loaded"] + summary["rows_quarantined"],
        "reviews": summary["published"]["reviews"],
        "users": summary["published"]["users"],
        "texts encoded": rows(lake / "embeddings" / "texts" / "*" / "*" / "*.parquet"),
        "review vectors": rows(lake / "embeddings" / "reviews" / "*" / "*" / "*.parquet"),
        "users segmented": sum(s["user_count"] for s in summary["segmentation"]["segments"]),
        "recommendations": rows(
            lake / "recommendations" / "user_recommendations" / f"run_id={run}" / "*.parquet"
        ),
    }


def measure(data_dir: Path, sampler: MemorySampler | None) -> dict:
    """Stages, their rows and peaks of the newest run in ``data_dir``, as JSON."""
    counts = run_counts(data_dir)
    table = []
    for stage in stages(data_dir).values():
        peak = max((sampler.peak(*w) for w in stage.windows), default=0) if sampler else 0
        rows_in, rows_out = STAGE_ROWS.get(stage.name, (None, None))
        table.append(
            {
                "stage": stage.name,
                "seconds": round(stage.seconds, 1),
                "rows_in": counts.get(rows_in),
                "rows_out": counts.get(rows_out),
                "peak_mb": round(peak / 2**20) if sampler else None,
            }
        )
    return {"counts": counts, "stages": table}


def source_for(scale: int, data_root: Path, real_source: Path) -> Path:
    if scale == 1:
        return real_source
    folder = data_root / "synthetic" / f"x{scale}"
    if not (folder / "SYNTHETIC.md").exists():
        generate = [sys.executable, str(PROJECT_DIR / "bench" / "synthetic_reviews.py")]
        generate += ["--scale", str(scale), "--out", str(folder), "--source-dir", str(real_source)]
        subprocess.run(generate, check=True)
    return folder


def run_scale(scale: int, data_root: Path, real_source: Path) -> dict:
    """One pipeline run at x ``scale`` from an empty data folder, measured."""
    from usersegments.airflow_cli import airflow_env
    from usersegments.config import Settings

    source = source_for(scale, data_root, real_source)
    data_dir = data_root / "bench-scale" / f"x{scale}"
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(data_dir=data_dir, source_dir=source)
    env = {**BENCH_SPARK, **os.environ, **settings.env(), **airflow_env(settings)}
    env.pop("USERSEGMENTS_PSEUDONYM_KEY", None)  # the folder's own key, as `make key` makes

    def cli(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, *args], env=env, cwd=PROJECT_DIR)

    for setup in (["-m", "usersegments.config"], ["-m", "usersegments.airflow_cli", "init"]):
        if cli(*setup).wait():
            sys.exit(f"x{scale}: {' '.join(setup)} failed")
    started = time.time()
    pipeline = cli("-m", "usersegments.airflow_cli", "dags", "test", DAG_ID)
    sampler = MemorySampler(pipeline.pid)
    sampler.start()
    code = pipeline.wait()
    sampler.stop()
    if code:
        sys.exit(f"x{scale}: the pipeline failed (exit {code}); its logs: {data_dir}")
    result = measure(data_dir, sampler)
    wall = time.time() - started
    result.update(scale=scale, wall_seconds=round(wall, 1))
    result["spark"] = {k: v for k, v in sorted(env.items()) if k.startswith("USERSEGMENTS_SPARK_")}
    result["peak_mb"] = round(max(rss for _, rss in sampler.samples) / 2**20)
    return result


def ratio(value: float, baseline: float | None) -> str:
    return f"{value / baseline:.1f}" if baseline else "-"


def print_scale(result: dict, baselines: dict[int, dict]) -> None:
    scale = result.get("scale", "?")
    against = [s for s in (1, 10) if s in baselines and s != scale]
    head = f"{'stage':<28}{'seconds':>9}{'rows in':>11}{'rows out':>11}{'peak MB':>9}"
    print(f"\nx{scale}  " + ", ".join(f"{k} {v}" for k, v in result["counts"].items()))
    print(head + "".join(f"{f't/t(x{s})':>11}" for s in against))
    for row in result["stages"]:
        line = f"{row['stage']:<28}{row['seconds']:>9.1f}"
        line += f"{row['rows_in'] if row['rows_in'] is not None else '-':>11}"
        line += f"{row['rows_out'] if row['rows_out'] is not None else '-':>11}"
        line += f"{row['peak_mb'] if row['peak_mb'] is not None else '-':>9}"
        for s in against:
            base = {r["stage"]: r["seconds"] for r in baselines[s]["stages"]}.get(row["stage"])
            line += f"{ratio(row['seconds'], base):>11}"
        print(line)
    total = sum(r["seconds"] for r in result["stages"])
    embed = next((r["seconds"] for r in result["stages"] if r["stage"] == "embed_reviews"), 0)
    counts = result["counts"]
    print(
        f"tasks {total:.0f} s, of which embed_reviews {embed:.0f} s; without it {total - embed:.0f} s"
    )
    if embed and counts["texts encoded"] is not None:
        print(
            f"embed_reviews: {counts['texts encoded'] / embed:.1f} texts/s, "
            f"{counts['review vectors'] / embed:.1f} reviews/s"
        )
    if "wall_seconds" in result:
        print(f"wall {result['wall_seconds']:.0f} s, peak memory {result['peak_mb']} MB")
    if result.get("spark"):
        print("spark: " + ", ".join(f"{k}={v}" for k, v in result["spark"].items()))


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(PROJECT_DIR))
    from usersegments.config import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,10", help="comma-separated, x1 first")
    parser.add_argument("--report-only", type=Path, help="report a finished run's data folder")
    args = parser.parse_args(argv)
    if args.report_only:
        print_scale(measure(args.report_only, None), {})
        return 0
    settings = Settings.from_env()
    scales = sorted({int(s) for s in args.scales.split(",")})
    if scales[0] != 1:
        parser.error("the baseline x1 is measured in the same run: --scales starts with 1")
    results: dict[int, dict] = {}
    for scale in scales:
        results[scale] = run_scale(scale, settings.data_dir, settings.source_dir)
        print_scale(results[scale], results)
    out = settings.data_dir / "bench-scale" / "results.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
