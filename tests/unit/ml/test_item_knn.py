"""Item-kNN against hand-computed similarities and lists, and its validation split."""

from __future__ import annotations

import math

import pytest

from ml.baselines import validation_split
from ml.item_knn import (
    choose_neighbours,
    item_neighbours,
    knn_top_n,
    latest_item_split,
)
from tests.unit.ml.test_recommend import PAIRS, lists


@pytest.fixture
def seen(spark):
    # x: a, b, c; y: a, b; z: c; w: d
    rows = [("a", "x"), ("b", "x"), ("c", "x"), ("a", "y"), ("b", "y"), ("c", "z"), ("d", "w")]
    return spark.createDataFrame(rows, PAIRS)


def test_similarity_is_the_cosine_of_the_reviewer_sets(seen):
    found = {
        (r["item_id"], r["neighbour_id"]): r["similarity"]
        for r in item_neighbours(seen, neighbours=10).collect()
    }
    assert found[("x", "y")] == found[("y", "x")] == pytest.approx(2 / math.sqrt(3 * 2))
    assert found[("x", "z")] == pytest.approx(1 / math.sqrt(3 * 1))
    assert ("y", "z") not in found and ("w", "x") not in found  # no co-reviewer
    assert ("x", "x") not in found


def test_neighbours_are_cut_by_similarity_then_item_id(seen):
    first = item_neighbours(seen, neighbours=1).collect()
    assert {r["item_id"]: r["neighbour_id"] for r in first} == {"x": "y", "y": "x", "z": "x"}


def test_a_user_gets_the_items_most_similar_to_theirs_unseen(spark, seen):
    users = spark.createDataFrame([("a",), ("c",), ("d",)], "user_key string")
    neighbours = item_neighbours(seen, neighbours=10)
    recs = knn_top_n(seen, users, neighbours, k=10, n=5)
    # a saw x, y: z (similar to x) is left; c saw x, z: y; d's item has no neighbour
    assert lists(recs) == {"a": ["z"], "c": ["y"]}
    scores = {r["user_key"]: r["score"] for r in recs.collect()}
    assert scores["c"] == pytest.approx(2 / math.sqrt(6))


def test_the_validation_split_holds_out_each_users_latest_item(reviews):
    train = reviews(
        [
            ("a", "x", 5, "2020-01-01"),
            ("a", "y", 5, "2020-01-03"),
            ("a", "y", 4, "2020-01-02"),
            ("b", "x", 5, "2020-01-01"),
        ]
    )
    fit, validation = latest_item_split(train)
    assert sorted(tuple(r) for r in validation.collect()) == [("a", "y")]
    assert sorted((r["user_key"], r["item_id"]) for r in fit.collect()) == [("a", "x"), ("b", "x")]


def test_the_number_of_neighbours_is_chosen_on_a_validation_split_of_training(reviews):
    """u's latest item z is x's second neighbour (x-y: two co-reviewers, x-z: one), so
    two neighbours find it where one does not; every other user's latest item is
    reviewed by nobody else."""
    rows = [("u", "x", "01"), ("u", "z", "05")]
    for user, other in (("p", "y"), ("q", "y"), ("r", "z")):
        rows += [(user, "x", "01"), (user, other, "01"), (user, f"h-{user}", "09")]
    train = reviews([(u, i, 5, f"2020-01-{day}") for u, i, day in rows])
    split = validation_split(train)
    chosen, scores = choose_neighbours(*split, n=2, grid=(1, 2))
    assert scores == {1: 0.0, 2: pytest.approx((1 / math.log2(3)) / 4)}
    assert chosen == 2
    # two and three neighbours both find z: the fewer
    assert choose_neighbours(*split, n=2, grid=(3, 2))[0] == 2
