"""Restarts, scores per k, the choice of k, segment stability and the warm start, on
small numpy matrices (no Spark)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_samples

from usersegments.segmentation.options import SegmentationOptions
from usersegments.segmentation.selection import (
    KScore,
    canonical_order,
    choose_k,
    macro_average,
    segment_stability,
    select,
    silhouettes,
)

QUICK = SegmentationOptions(k_min=2, k_max=4, restarts=3, subsamples=3, max_iter=50)


def blobs(seed: int = 0, sizes=(60, 40, 30)) -> np.ndarray:
    """Three blobs of different sizes, well apart, in 5 dimensions."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * 5, [8.0] + [0.0] * 4, [0.0, 8.0, 0.0, 0.0, 0.0]])
    return np.vstack(
        [c + rng.normal(scale=0.7, size=(n, 5)) for c, n in zip(centres, sizes, strict=True)]
    )


def score(k, macro, noise=0.0, stability=0.9, min_size=100) -> KScore:
    return KScore(k, macro, macro, noise, stability, 1.0, min_size, (min_size,) * k)


def test_silhouettes_are_scikit_learns_squared_euclidean_ones():
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(50, 4))
    labels = np.array([0] * 20 + [1] * 29 + [2])  # a one-member cluster scores 0
    expected = silhouette_samples(matrix, labels, metric="sqeuclidean")
    np.testing.assert_allclose(silhouettes(matrix, labels), expected, atol=1e-12)


def test_macro_average_weighs_segments_not_users():
    values = np.array([1.0, 1.0, 1.0, 0.0])
    assert macro_average(values, np.array([0, 0, 0, 1])) == pytest.approx(0.5)


def test_the_smallest_k_within_noise_of_the_best_macro_silhouette_wins():
    scores = [score(3, 0.35), score(4, 0.38, noise=0.02), score(5, 0.40, noise=0.02)]
    assert choose_k(scores, min_size=1, min_stability=0.8)[0].k == 4  # 0.38 >= 0.40 - 0.02
    scores[1] = score(4, 0.37)
    assert choose_k(scores, min_size=1, min_stability=0.8)[0].k == 5


def test_unstable_and_too_small_k_are_not_chosen():
    scores = [score(3, 0.30), score(4, 0.50, stability=0.5), score(5, 0.45, min_size=2)]
    chosen, reason = choose_k(scores, min_size=10, min_stability=0.8)
    assert chosen.k == 3 and "stability >= 0.8" in reason
    # nothing stable: the admissible ones compete on macro-silhouette alone
    chosen, reason = choose_k([score(3, 0.3, stability=0.1), score(4, 0.4, stability=0.2)], 1, 0.8)
    assert chosen.k == 4 and "no k stable enough" in reason
    with pytest.raises(ValueError):
        choose_k([], 1, 0.8)


def test_segment_stability_is_the_mean_best_jaccard_over_subsamples():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    masks = [np.array([True] * 8), np.array([True] * 6 + [False] * 2)]
    # subsample 1: the same partition; subsample 2 (rows 0-5): {0,1,2,3,4} and {5}
    subsample_labels = [labels.copy(), np.array([0, 0, 0, 0, 0, 1])]
    # cluster 0: 1 and 4/5; cluster 1 (rows 4, 5 in subsample 2): best of 1/6 and 1/2
    expected = [(1 + 4 / 5) / 2, (1 + 1 / 2) / 2]
    np.testing.assert_allclose(segment_stability(labels, masks, subsample_labels), expected)


def test_the_three_blobs_are_found_whatever_the_row_order():
    matrix = blobs()
    first = select(matrix[canonical_order(matrix)], [2, 3, 4], QUICK, min_size=5)
    assert first.chosen.k == 3 and first.reason.startswith("macro-silhouette")
    assert first.chosen.stability == pytest.approx(1.0)
    assert [s.k for s in first.scores] == [2, 3, 4]
    assert np.all(first.segment_stability > 0.95) and first.start == "cold"
    shuffled = matrix[np.random.default_rng(7).permutation(len(matrix))]
    again = select(shuffled[canonical_order(shuffled)], [2, 3, 4], QUICK, min_size=5)
    assert again.chosen == first.chosen  # every score equal, to the bit
    labels = first.model.predict(matrix)
    assert adjusted_rand_score(labels, again.model.predict(matrix)) == 1.0


def test_a_forced_k_is_fitted_alone():
    matrix = blobs()
    forced = select(matrix, [4], SegmentationOptions(k=4, restarts=2, subsamples=0), 1)
    assert forced.chosen.k == 4 and forced.reason == "forced" and len(forced.scores) == 1
    assert forced.segment_stability is None and forced.chosen.stability is None


def test_a_warm_start_follows_the_previous_centroids_unless_they_cost_more():
    matrix = blobs()
    cold = select(matrix, [3], SegmentationOptions(k=3, restarts=3, subsamples=2), 1)
    previous = cold.model.cluster_centers_[::-1]  # the previous run's ids in another order
    options = SegmentationOptions(k=3, restarts=3, subsamples=2)
    warm = select(matrix, [3], options, 1, previous_centers=previous)
    assert warm.start == "warm" and warm.warm_cost_ratio == pytest.approx(1.0)
    # cluster i of the warm fit is the previous run's cluster i
    np.testing.assert_allclose(warm.model.cluster_centers_, previous, atol=1e-9)
    # centres that converge to a worse optimum (one blob split, two merged) are dropped
    bad = np.array([[-0.5] + [0.0] * 4, [0.5] + [0.0] * 4, [4.0, 4.0, 0.0, 0.0, 0.0]])
    refused = select(matrix, [3], options, 1, previous_centers=bad)
    assert refused.start == "cold" and refused.warm_cost_ratio > 1.01
    mismatched = select(matrix, [3], options, 1, previous_centers=previous[:2])
    assert mismatched.start == "cold" and mismatched.warm_cost_ratio is None
