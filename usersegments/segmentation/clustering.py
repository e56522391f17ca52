"""Fitting the candidate k, choosing one, and the chosen clusters' centroids.

K-means (default), bisecting K-means or a Gaussian mixture, seeded. Every candidate k
is fitted and scored (silhouette from ClusteringEvaluator, training cost for the
elbow); the best silhouette among the solutions whose smallest segment is big enough
wins. The mixture is fitted on the leading principal components: full covariances over
~400 correlated dimensions break MLlib's ("Matrix is not symmetric").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyspark.ml.clustering import BisectingKMeans, GaussianMixture, KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.stat import Summarizer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from usersegments.segmentation.options import SegmentationOptions

# Users sampled to find principal axes (2-D projection; the mixture's input space).
PCA_SAMPLE = 20_000
# Above this many users the candidate k are fitted and scored on a fixed sample of about
# this many, and only the chosen k is refitted on everyone: the sweep's cost stops
# growing with the users (the real data's 3,667 users are all fitted, as before).
SWEEP_SAMPLE = 50_000


@dataclass(frozen=True)
class Candidate:
    k: int
    silhouette: float
    cost: float
    min_size: int


def choose_k(candidates: list[Candidate], min_segment_size: int) -> Candidate:
    """The candidate with the best silhouette among those whose smallest segment has at
    least ``min_segment_size`` users (ties: the smaller k). If none qualifies, the best
    silhouette overall: the segment-size expectation then stops the run."""
    if not candidates:
        raise ValueError("no candidate k was measured")
    admissible = [c for c in candidates if c.min_size >= min_segment_size] or candidates
    return max(admissible, key=lambda c: (round(c.silhouette, 12), -c.k))


def estimator(algorithm: str, k: int, seed: int, max_iter: int):
    if algorithm == "kmeans":
        return KMeans(k=k, seed=seed, maxIter=max_iter, initMode="k-means||")
    if algorithm == "bisecting_kmeans":
        return BisectingKMeans(k=k, seed=seed, maxIter=max_iter)
    return GaussianMixture(k=k, seed=seed, maxIter=max_iter)


def principal_axes(
    features: DataFrame, n: int, sample: int = PCA_SAMPLE
) -> tuple[np.ndarray, np.ndarray]:
    """The first n principal axes of the fused features (and their mean), by numpy's SVD
    on a fixed sample of users (the first ``sample`` by user key, an HMAC: effectively
    random; at most ``sample`` rows reach the driver). MLlib's PCA is not used: its
    breeze SVD fails to converge on some inputs here ("NotConvergedException")."""
    rows = (
        features.orderBy("user_key")
        .limit(sample)
        .select(vector_to_array("features").alias("v"))
        .collect()
    )
    matrix = np.array([row["v"] for row in rows])
    mean = matrix.mean(axis=0)
    _, _, axes = np.linalg.svd(matrix - mean, full_matrices=False)
    return mean, axes[:n]


def project(frame: DataFrame, mean: np.ndarray, axes: np.ndarray, prefix: str) -> DataFrame:
    """Add columns <prefix>0.. : the features' coordinates on the given axes."""
    values = vector_to_array("features")
    columns = []
    for i, axis in enumerate(axes):
        dot = F.aggregate(
            F.zip_with(values, F.array(*[F.lit(float(a)) for a in axis]), lambda x, y: x * y),
            F.lit(0.0),
            lambda acc, v: acc + v,
        )
        columns.append((dot - float(mean @ axis)).alias(f"{prefix}{i}"))
    return frame.select("*", *columns)


def fit_space(features: DataFrame, options: SegmentationOptions) -> tuple[DataFrame, str]:
    """The frame and vector column the clustering is fitted on: the fused features, or
    for the mixture their leading principal components."""
    if options.algorithm != "gaussian_mixture":
        return features, "features"
    mean, axes = principal_axes(features, options.mixture_components)
    projected = project(features, mean, axes, "pc_")
    assemble = VectorAssembler(
        inputCols=[f"pc_{i}" for i in range(len(axes))], outputCol="mixture_features"
    )
    return assemble.transform(projected), "mixture_features"


def score(model, algorithm: str, predictions: DataFrame, evaluator) -> dict:
    summary = model.summary
    cost = -summary.logLikelihood if algorithm == "gaussian_mixture" else summary.trainingCost
    sizes = list(summary.clusterSizes)
    return {
        "silhouette": float(evaluator.evaluate(predictions)),
        "cost": float(cost),
        "min_size": int(min(sizes)),
        "sizes": sizes,
    }


def sweep_sample(frame: DataFrame, users: int, sample: int = SWEEP_SAMPLE) -> DataFrame:
    """The users the candidate k are fitted on: everyone up to ``sample`` users, else a
    fixed share of them chosen by a hash of the user key (the same users whatever the
    row order or partitioning)."""
    if users <= sample:
        return frame
    buckets = 1_000_000
    kept = F.pmod(F.xxhash64("user_key"), F.lit(buckets)) < int(buckets * sample / users)
    return frame.where(kept)


def refit(frame: DataFrame, column: str, k: int, options: SegmentationOptions):
    """The chosen k fitted on everyone, scored on everyone."""
    evaluator = ClusteringEvaluator(featuresCol=column, predictionCol="prediction")
    model = (
        estimator(options.algorithm, k, options.seed, options.max_iter)
        .setFeaturesCol(column)
        .fit(frame)
    )
    return model, {"k": k, **score(model, options.algorithm, model.transform(frame), evaluator)}


def fit_candidates(frame: DataFrame, column: str, ks: list[int], options: SegmentationOptions):
    """Fit and score every k: ({k: model}, [{"k", "silhouette", "cost", "min_size", "sizes"}])."""
    evaluator = ClusteringEvaluator(featuresCol=column, predictionCol="prediction")
    models, scores = {}, []
    for k in ks:
        model = (
            estimator(options.algorithm, k, options.seed, options.max_iter)
            .setFeaturesCol(column)
            .fit(frame)
        )
        scored = score(model, options.algorithm, model.transform(frame), evaluator)
        models[k] = model
        scores.append({"k": k, **scored})
        print(
            f"k={k} silhouette={scored['silhouette']:.4f} cost={scored['cost']:.1f} "
            f"sizes={scored['sizes']}"
        )
    return models, scores


def cluster_centroids(predictions: DataFrame) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(cluster ids, centroids (k, d), sizes): centroids in the fused feature space
    whatever the algorithm, as the members' mean. One row per cluster reaches the driver."""
    members = (
        predictions.groupBy("prediction")
        .agg(Summarizer.mean(F.col("features")).alias("centroid"), F.count("*").alias("size"))
        .orderBy("prediction")
        .collect()
    )
    clusters = [row["prediction"] for row in members]
    centers = np.array([row["centroid"].toArray() for row in members])
    sizes = np.array([row["size"] for row in members])
    return clusters, centers, sizes


def distance_to_centroid(frame: DataFrame) -> DataFrame:
    """Add ``distance_to_centroid``: Euclidean, of ``features`` to the array ``centroid``."""
    squares = F.zip_with(vector_to_array("features"), "centroid", lambda x, y: (x - y) * (x - y))
    return frame.withColumn(
        "distance_to_centroid", F.sqrt(F.aggregate(squares, F.lit(0.0), lambda a, v: a + v))
    )
