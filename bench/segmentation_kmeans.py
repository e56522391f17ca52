"""K-means fit time on the same fused user features, same machine, one run:

- Spark MLlib: pyspark.ml.clustering.KMeans (k-means|| init), as spark_jobs/segment_users.py
  fits it, on a cached DataFrame (local[2]);
- scikit-learn: sklearn.cluster.KMeans (Lloyd, k-means++ init, n_init=1) on the same
  matrix collected into numpy (its OpenMP threads use the same 2 cores).

scikit-learn is the named baseline: it is what the segmentation would be without Spark
(one process, the matrix in memory), so the ratio says what MLlib costs or saves on this
data. Ratio = MLlib fit seconds / scikit-learn fit seconds: > 1 means MLlib is slower.

The matrix is the job's own: usersegments.segmentation.run.prepare() on the lake's published
inputs (behaviour, text and graph groups, weight 1 each). Scales: 1 = the real users; N = every
user N times (Spark: cross join with range(N), repartitioned; numpy: np.tile). Only fit()
is timed (init included); building, caching and collecting the matrix are not. Each engine
gets one untimed warm-up fit (JIT, thread pools) on the real matrix first.

Same k, max iterations, seed (42) and init style. Tolerance: MLlib stops when every centre
moves less than tol; scikit-learn when the summed squared centre shift is at most
its tol x the mean feature variance, so scikit-learn gets tol^2 / mean variance: the same
absolute threshold (tol^2), summed over the centres instead of per centre. The cost column
recomputes both engines' final centres' cost on the same numpy matrix with one formula
(MLlib's own trainingCost is summed in its last iteration, before the last centre update).
The engines stop after different numbers of iterations and their inits differ, so they can
reach different local optima: s/iter and the per-iteration ratio compare the work rate.

Usage: python bench/segmentation_kmeans.py [--k 6] [--max-iter 40] [--scales 1,100]
(needs a pipeline run's lake: `make demo`, or USERSEGMENTS_DATA_DIR of one)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace

import numpy as np

from usersegments.config import Settings

WEIGHTS = {"behaviour": 1.0, "text": 1.0, "graph": 1.0}
SEED = 42
PAGERANK_ITERATIONS = 20  # the job's default
BASELINE = "scikit-learn"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=6)
    parser.add_argument("--max-iter", type=int, default=40)
    parser.add_argument("--tol", type=float, default=1e-4, help="MLlib's tolerance (its default)")
    parser.add_argument("--scales", default="1,100", help="comma-separated replication factors")
    parser.add_argument("--driver-memory", default="10g", help="Spark driver memory")
    args = parser.parse_args(argv)
    args.scales = [int(s) for s in args.scales.split(",") if s.strip()]
    if args.k < 2 or not args.scales or min(args.scales) < 1:
        parser.error("need --k >= 2 and scales >= 1")
    return args


def base_features(spark, settings: Settings):
    """The job's fused feature vectors of the real users, cached in the job's order."""
    from usersegments.encoder import encoder_info
    from usersegments.segmentation.options import SegmentationOptions
    from usersegments.segmentation.run import prepare
    from usersegments.segmentation.tables import published_inputs

    version = encoder_info(settings)["model_version"]
    options = SegmentationOptions(weights=WEIGHTS, pagerank_iterations=PAGERANK_ITERATIONS)
    inputs = published_inputs(spark, settings.lake, version)
    prepared = prepare(inputs, options, spark.sparkContext.defaultParallelism)
    return prepared.features.select("user_key", "features").cache(), prepared.fusion.dims


def to_numpy(features) -> np.ndarray:
    rows = features.select("features").collect()
    return np.ascontiguousarray([row.features.toArray() for row in rows], dtype=np.float64)


def replicate(spark, features, times: int):
    """Every row `times` times, spread over the default parallelism, cached and counted."""
    if times == 1:
        return features
    replicated = (
        features.crossJoin(spark.range(times))
        .select("features")
        .repartition(spark.sparkContext.defaultParallelism)
        .cache()
    )
    replicated.count()
    return replicated


def fit_mllib(frame, k: int, max_iter: int, tol: float) -> dict:
    from pyspark.ml.clustering import KMeans

    estimator = KMeans(k=k, seed=SEED, maxIter=max_iter, tol=tol, initMode="k-means||")
    started = time.perf_counter()
    model = estimator.fit(frame)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "iterations": model.summary.numIter,
        "reported_cost": model.summary.trainingCost,
        "centers": np.array(model.clusterCenters()),
    }


def fit_sklearn(matrix: np.ndarray, k: int, max_iter: int, tol: float) -> dict:
    from sklearn.cluster import KMeans

    # MLlib's absolute threshold (tol^2 on a centre's squared shift) in sklearn's units
    relative_tol = tol**2 / float(matrix.var(axis=0).mean())
    estimator = KMeans(
        n_clusters=k,
        init="k-means++",
        n_init=1,
        max_iter=max_iter,
        tol=relative_tol,
        random_state=SEED,
        algorithm="lloyd",
    )
    started = time.perf_counter()
    estimator.fit(matrix)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "iterations": int(estimator.n_iter_),
        "reported_cost": float(estimator.inertia_),
        "centers": estimator.cluster_centers_,
    }


def kmeans_cost(matrix: np.ndarray, centers: np.ndarray) -> float:
    """Sum of squared distances of the rows to their nearest centre."""
    squared = (
        np.einsum("ij,ij->i", matrix, matrix)[:, None]
        - 2 * matrix @ centers.T
        + np.einsum("ij,ij->i", centers, centers)[None, :]
    )
    return float(np.maximum(squared.min(axis=1), 0).sum())


def bench_scale(spark, features, matrix: np.ndarray, times: int, args) -> dict[str, dict]:
    frame = replicate(spark, features, times)
    tiled = matrix if times == 1 else np.tile(matrix, (times, 1))
    results = {
        BASELINE: fit_sklearn(tiled, args.k, args.max_iter, args.tol),
        "MLlib": fit_mllib(frame, args.k, args.max_iter, args.tol),
    }
    for result in results.values():
        result["cost"] = kmeans_cost(tiled, result["centers"])
    if frame is not features:
        frame.unpersist()
    return results


def ratio(mllib: dict, baseline: dict) -> tuple[float, float]:
    """MLlib's fit time over the baseline's: whole fit, and per iteration."""
    wall = mllib["seconds"] / baseline["seconds"]
    return wall, wall * baseline["iterations"] / mllib["iterations"]


def print_table(rows: list[tuple[int, int, str, dict]]) -> None:
    print(
        f"{'scale':>6}{'rows':>9}  {'engine':<14}{'fit s':>8}{'iters':>7}{'s/iter':>8}"
        f"{'reported cost':>15}{'cost (numpy)':>14}{'cost/row':>10}"
    )
    for times, count, engine, r in rows:
        print(
            f"{times:>5}x{count:>9}  {engine:<14}{r['seconds']:>8.2f}{r['iterations']:>7}"
            f"{r['seconds'] / r['iterations']:>8.3f}"
            f"{r['reported_cost']:>15.1f}{r['cost']:>14.1f}{r['cost'] / count:>10.4f}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    from usersegments.spark import spark_session

    settings = Settings.from_env()
    # the 100x matrix is ~1.2 GB
    settings = replace(settings, spark=replace(settings.spark, driver_memory=args.driver_memory))
    spark = spark_session("bench_segmentation", settings, jars=False)
    spark.sparkContext.setLogLevel("WARN")
    with tempfile.TemporaryDirectory() as checkpoints:
        spark.sparkContext.setCheckpointDir(checkpoints)
        features, dims = base_features(spark, settings)
        matrix = to_numpy(features)
        print(
            f"{matrix.shape[0]} users x {matrix.shape[1]} features {dims}, k={args.k}, "
            f"max_iter={args.max_iter}, tol={args.tol:g}, seed={SEED}, {os.cpu_count()} cores, "
            f"Spark {spark.version} {spark.sparkContext.master}",
            flush=True,
        )
        fit_sklearn(matrix, args.k, 2, args.tol)  # warm-ups, untimed
        fit_mllib(features, args.k, 2, args.tol)

        rows, ratios = [], []
        for times in args.scales:
            results = bench_scale(spark, features, matrix, times, args)
            count = matrix.shape[0] * times
            rows += [(times, count, engine, result) for engine, result in results.items()]
            ratios.append((times, *(ratio(results["MLlib"], results[BASELINE]))))
            print(f"scale {times}x done", flush=True)
        spark.stop()

    print_table(rows)
    for times, wall, per_iteration in ratios:
        print(
            f"{times}x: MLlib vs {BASELINE}: {wall:.2f} x fit wall time, "
            f"{per_iteration:.2f} x per iteration (> 1 = MLlib slower)"
        )
    print(
        f"total wall time (session, features, warm-ups, all fits): {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
