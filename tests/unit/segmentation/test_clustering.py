"""Fitting candidate k, choosing one, centroids and distances, on two obvious blobs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors
from sklearn.cluster import KMeans

from usersegments.segmentation.clustering import (
    cluster_centroids,
    distance_to_centroid,
    fit_space,
    place,
    principal_axes,
    project,
    sample_matrix,
    silhouette,
    sweep_sample,
)
from usersegments.segmentation.options import SegmentationOptions

POINTS = {  # two blobs far apart in three dimensions
    **{f"a{i}": (0.0 + 0.1 * i, 0.0, 0.0) for i in range(5)},
    **{f"b{i}": (10.0, 10.0 + 0.1 * i, 0.0) for i in range(5)},
}


def features(spark):
    rows = [(key, Vectors.dense(point)) for key, point in sorted(POINTS.items())]
    return spark.createDataFrame(rows, ["user_key", "features"]).cache()


def two_means(frame):
    """scikit-learn's K-means fitted on the frame's vectors (the selection's model)."""
    return KMeans(2, n_init=1, random_state=0).fit(sample_matrix(frame, "features"))


def test_the_sample_reaches_the_driver_in_canonical_order(spark):
    frame = features(spark)
    matrix = sample_matrix(frame, "features")
    shuffled = sample_matrix(frame.orderBy("user_key", ascending=False).repartition(3), "features")
    np.testing.assert_array_equal(matrix, shuffled)
    assert matrix.shape == (10, 3) and matrix[0].tolist() == [0.0, 0.0, 0.0]


def test_every_user_is_placed_by_the_fitted_model(spark):
    frame = features(spark)
    model = two_means(frame)
    placed = {r.user_key: r.prediction for r in place(frame, "features", model).collect()}
    a, b = placed["a0"], placed["b0"]
    assert a != b and all(placed[key] == (a if key[0] == "a" else b) for key in POINTS)
    assert silhouette(place(frame, "features", model), "features") > 0.9


def test_centroids_are_members_means_and_distances_euclidean(spark):
    frame = features(spark)
    predictions = place(frame, "features", two_means(frame))
    clusters, centers, sizes = cluster_centroids(predictions)
    assert clusters == [0, 1] and list(sizes) == [5, 5]
    ordered = centers[np.argsort(centers[:, 0])]
    np.testing.assert_allclose(ordered, [[0.2, 0.0, 0.0], [10.0, 10.2, 0.0]], atol=1e-9)
    with_centroid = predictions.join(
        spark.createDataFrame(
            [(c, centers[c].tolist()) for c in clusters], "prediction int, centroid array<double>"
        ),
        "prediction",
    )
    distances = {
        r["user_key"]: r["distance_to_centroid"]
        for r in distance_to_centroid(with_centroid).collect()
    }
    assert distances["a0"] == pytest.approx(0.2)
    assert distances["b4"] == pytest.approx(math.dist((10.0, 10.4, 0.0), (10.0, 10.2, 0.0)))


def test_projection_on_principal_axes(spark):
    frame = features(spark)
    mean, axes = principal_axes(frame, 2)
    matrix = np.array([POINTS[k] for k in sorted(POINTS)])
    assert mean == pytest.approx(matrix.mean(axis=0))
    # the first axis joins the two blobs
    assert abs(axes[0] @ np.array([10.0, 10.0, 0.0]) / math.hypot(10, 10)) == pytest.approx(
        1, abs=1e-3
    )
    projected = project(frame, mean, axes, "p_").orderBy("user_key").collect()
    for row in projected:
        expected = (np.array(POINTS[row["user_key"]]) - mean) @ axes.T
        assert [row["p_0"], row["p_1"]] == pytest.approx(expected, abs=1e-9)


def test_the_mixture_is_fitted_on_principal_components(spark):
    frame, column = fit_space(
        features(spark), SegmentationOptions(algorithm="gaussian_mixture", mixture_components=2)
    )
    assert column == "mixture_features"
    assert len(frame.first()[column]) == 2
    same, column = fit_space(features(spark), SegmentationOptions())
    assert column == "features" and same.columns == ["user_key", "features"]


def test_the_sweep_samples_fixed_users_above_its_size(spark):
    rng = np.random.default_rng(3)
    rows = [
        (f"u{i}", Vectors.dense(rng.normal(size=3) + (10.0 if i % 2 else 0.0))) for i in range(400)
    ]
    frame = spark.createDataFrame(rows, ["user_key", "features"])
    assert sweep_sample(frame, 400, sample=400) is frame  # small enough: everyone
    sample = {r.user_key for r in sweep_sample(frame, 400, sample=100).collect()}
    again = {r.user_key for r in sweep_sample(frame.repartition(5), 400, sample=100).collect()}
    assert sample == again and 60 < len(sample) < 140
