"""Fitting candidate k, choosing one, centroids and distances, on two obvious blobs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors

from usersegments.segmentation.clustering import (
    Candidate,
    choose_k,
    cluster_centroids,
    distance_to_centroid,
    fit_candidates,
    fit_space,
    principal_axes,
    project,
    refit,
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


def test_choose_k_takes_best_silhouette_among_big_enough_segments():
    candidates = [
        Candidate(k=3, silhouette=0.30, cost=90, min_size=100),
        Candidate(k=4, silhouette=0.41, cost=70, min_size=3),  # best, but a 3-user segment
        Candidate(k=5, silhouette=0.35, cost=60, min_size=40),
        Candidate(k=6, silhouette=0.35, cost=55, min_size=30),
    ]
    assert choose_k(candidates, min_segment_size=25).k == 5  # tie with 6: smaller k
    assert choose_k(candidates, min_segment_size=1).k == 4
    # nothing admissible: the best overall, and the size expectation will stop the run
    assert choose_k(candidates, min_segment_size=1000).k == 4
    with pytest.raises(ValueError):
        choose_k([], 1)


@pytest.mark.parametrize("algorithm", ["kmeans", "bisecting_kmeans"])
def test_every_k_is_fitted_and_two_blobs_score_best(spark, algorithm):
    options = SegmentationOptions(algorithm=algorithm, k_min=2, k_max=3, max_iter=5)
    frame = features(spark)
    models, scores = fit_candidates(frame, "features", options.candidate_ks(10), options)
    assert [s["k"] for s in scores] == [2, 3] and set(models) == {2, 3}
    best = choose_k(
        [Candidate(s["k"], s["silhouette"], s["cost"], s["min_size"]) for s in scores], 1
    )
    assert best.k == 2 and best.silhouette > 0.9
    assert scores[0]["sizes"] == [5, 5] and scores[0]["min_size"] == 5


def test_centroids_are_members_means_and_distances_euclidean(spark):
    options = SegmentationOptions(k=2, max_iter=5)
    frame = features(spark)
    models, _ = fit_candidates(frame, "features", [2], options)
    predictions = models[2].transform(frame)
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


def test_the_sweep_samples_fixed_users_above_its_size_and_the_refit_covers_everyone(spark):
    rng = np.random.default_rng(3)
    rows = [
        (f"u{i}", Vectors.dense(rng.normal(size=3) + (10.0 if i % 2 else 0.0))) for i in range(400)
    ]
    frame = spark.createDataFrame(rows, ["user_key", "features"])
    assert sweep_sample(frame, 400, sample=400) is frame  # small enough: everyone
    sample = {r.user_key for r in sweep_sample(frame, 400, sample=100).collect()}
    again = {r.user_key for r in sweep_sample(frame.repartition(5), 400, sample=100).collect()}
    assert sample == again and 60 < len(sample) < 140
    options = SegmentationOptions(k_min=2, k_max=2, max_iter=5)
    model, scored = refit(frame, "features", 2, options)
    assert sorted(scored["sizes"]) == [200, 200] and scored["silhouette"] > 0.8
