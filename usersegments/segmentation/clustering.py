"""The Spark side of clustering: the space it is fitted in, the sample it is fitted on,
placing every user, and the chosen clusters' centroids.

K-means (default), bisecting K-means or a Gaussian mixture: fitted and chosen on a
bounded sample (selection), then every user is placed here. The mixture is fitted on
the leading principal components: full covariances over ~400 correlated dimensions
are ill-conditioned and slow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.stat import Summarizer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from usersegments.segmentation import selection
from usersegments.segmentation.options import SegmentationOptions

# Users sampled to find principal axes (2-D projection; the mixture's input space).
PCA_SAMPLE = 20_000
# Above this many users the candidate k are fitted and scored on a fixed sample of about
# this many, and everyone is placed by the chosen fit: the fits' cost stops growing
# with the users (the real data's 3,667 users are all fitted).
SWEEP_SAMPLE = 50_000


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


def sweep_sample(frame: DataFrame, users: int, sample: int = SWEEP_SAMPLE) -> DataFrame:
    """The users the candidate k are fitted on: everyone up to ``sample`` users, else a
    fixed share of them chosen by a hash of the user key (the same users whatever the
    row order or partitioning)."""
    if users <= sample:
        return frame
    buckets = 1_000_000
    kept = F.pmod(F.xxhash64("user_key"), F.lit(buckets)) < int(buckets * sample / users)
    return frame.where(kept)


def sample_matrix(sample: DataFrame, column: str) -> np.ndarray:
    """The sample's vectors as a numpy matrix in canonical order (selection.canonical_order):
    at most SWEEP_SAMPLE rows reach the driver."""
    rows = sample.select(vector_to_array(column).alias("v")).toPandas()["v"]
    matrix = np.vstack(rows.to_numpy()) if len(rows) else np.empty((0, 0))
    return matrix[selection.canonical_order(matrix)]


def place(frame: DataFrame, column: str, model) -> DataFrame:
    """Add ``prediction``: every user's cluster under the fitted scikit-learn model (the
    nearest centre, or the mixture's most likely component), in Arrow batches: O(n·k·d)."""

    @F.pandas_udf("int")
    def predict(vectors: pd.Series) -> pd.Series:
        return pd.Series(model.predict(np.vstack(vectors.to_numpy())), dtype="int32")

    return frame.withColumn("prediction", predict(vector_to_array(column)))


def silhouette(predictions: DataFrame, column: str) -> float:
    """MLlib's silhouette (squared Euclidean) of the placed users, all of them."""
    evaluator = ClusteringEvaluator(featuresCol=column, predictionCol="prediction")
    return float(evaluator.evaluate(predictions))


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
