"""Stable ids (Hungarian matching) and the agreement between two runs' memberships."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from usersegments.segmentation.stable_ids import (
    agreement,
    match_segment_ids,
    membership_contingency,
)


def test_matching_keeps_ids_when_clusters_come_back_in_another_order():
    previous = pd.DataFrame(
        {"segment_id": [1, 2, 3], "centroid": [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]}
    )
    # the same clusters, shuffled and moved a little
    centroids = np.array([[0.1, 9.8], [0.2, -0.1], [9.9, 0.3]])
    ids, distances = match_segment_ids(centroids, np.array([5, 9, 7]), previous)
    assert ids == [3, 1, 2]
    assert all(d is not None and d < 0.1 for d in distances)


def test_matching_gives_new_clusters_new_ids_and_first_run_ids_by_size():
    previous = pd.DataFrame({"segment_id": [1, 2], "centroid": [[0.0, 0.0], [10.0, 0.0]]})
    centroids = np.array([[10.0, 0.1], [50.0, 50.0], [0.0, 0.1], [-50.0, 50.0]])
    ids, distances = match_segment_ids(centroids, np.array([10, 3, 10, 8]), previous)
    assert ids[0] == 2 and ids[2] == 1
    assert sorted(ids[i] for i in (1, 3)) == [3, 4]
    assert ids[3] == 3  # the bigger new cluster gets the lower new id
    assert distances[1] is None and distances[3] is None

    first, _ = match_segment_ids(centroids, np.array([10, 3, 12, 8]), None)
    assert first == [2, 4, 1, 3]


def memberships(spark, users: str, segments: list[int]):
    return spark.createDataFrame(
        list(zip(users, segments, strict=True)), "user_key string, segment_id int"
    )


def test_adjusted_rand_on_shared_users_only(spark):
    previous = memberships(spark, "abcde", [1, 1, 2, 2, 3])
    relabelled = memberships(spark, "abcdef", [7, 7, 8, 8, 9, 9])
    ari, shared, unchanged = agreement(membership_contingency(previous, relabelled))
    assert (ari, shared, unchanged) == (1.0, 5, 0.0)  # same partition, other ids
    assert agreement(membership_contingency(previous, previous)) == (1.0, 5, 1.0)
    moved = memberships(spark, "abcde", [1, 2, 2, 2, 3])
    assert agreement(membership_contingency(previous, moved))[0] < 1.0
    nobody = memberships(spark, "xyz", [1, 1, 2])
    assert agreement(membership_contingency(previous, nobody)) == (None, 0, None)


@pytest.mark.parametrize("seed", range(5))
def test_agreement_is_scikit_learns_adjusted_rand_index(seed):
    rng = np.random.default_rng(seed)
    labels = pd.DataFrame(
        {"previous_segment": rng.integers(1, 5, 300), "current_segment": rng.integers(1, 7, 300)}
    )
    labels.loc[:150, "current_segment"] = labels.loc[:150, "previous_segment"]  # partly agreeing
    contingency = labels.value_counts().rename("users").reset_index()
    ari, shared, unchanged = agreement(contingency)
    assert ari == adjusted_rand_score(labels["previous_segment"], labels["current_segment"])
    assert shared == 300
    assert unchanged == pytest.approx(
        (labels["previous_segment"] == labels["current_segment"]).mean()
    )
