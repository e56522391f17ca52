"""The co-review graph features on a four-user graph small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from usersegments.segmentation.graph import (
    DAMPING,
    SKETCH_LG_K,
    co_review_edges,
    co_review_graph,
    distinct_co_reviewers,
    exact_co_reviewers,
    pagerank,
    user_items,
    walk_weights,
)

# a and b share i1 (a reviewed it twice: one edge all the same), b and c share i2,
# d shares nothing
REVIEWS = [("a", "i1"), ("a", "i1"), ("b", "i1"), ("b", "i2"), ("c", "i2"), ("d", "i3")]
USERS = ["a", "b", "c", "d"]


def reference_pagerank(weights: np.ndarray, iterations: int) -> np.ndarray:
    """Power iteration with numpy: rows normalised, dangling rank spread evenly."""
    n = len(weights)
    out = weights.sum(axis=1)
    rank = np.full(n, 1.0 / n)
    for _ in range(iterations):
        lost = rank[out == 0].sum()
        moved = (rank[out > 0] / out[out > 0]) @ weights[out > 0]
        rank = (1 - DAMPING) / n + DAMPING * (moved + lost / n)
    return rank * n


def graph(spark, partitions: int = 2, iterations: int = 2):
    reviews = spark.createDataFrame(REVIEWS, "user_key string, item_id string").repartition(
        partitions
    )
    users = spark.createDataFrame([(u,) for u in USERS], "user_key string")
    rows = co_review_graph(reviews, users, iterations).orderBy("user_key").collect()
    return {row["user_key"]: row.asDict() for row in rows}


def test_degrees_count_co_reviewers_and_shared_items(spark):
    features = graph(spark)
    assert {u: f["degree"] for u, f in features.items()} == {"a": 1, "b": 2, "c": 1, "d": 0}
    assert {u: f["weighted_degree"] for u, f in features.items()} == {
        "a": 1,
        "b": 2,
        "c": 1,
        "d": 0,
    }
    # i1 and i2 have two reviewers each, i3 one
    assert {u: f["mean_item_reviewers"] for u, f in features.items()} == {
        "a": 2.0,
        "b": 2.0,
        "c": 2.0,
        "d": 1.0,
    }


def test_pagerank_matches_a_numpy_power_iteration(spark):
    weights = np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=float)
    expected = reference_pagerank(weights, 8)
    features = graph(spark, iterations=8)
    ranks = np.array([features[u]["pagerank"] for u in USERS])
    assert ranks == pytest.approx(expected, abs=1e-8)
    assert ranks.sum() == pytest.approx(len(USERS))  # times the user count: mean 1
    assert features["b"]["pagerank"] > features["a"]["pagerank"] > features["d"]["pagerank"]


def test_features_do_not_depend_on_the_partitioning(spark):
    assert graph(spark, partitions=1, iterations=3) == graph(spark, partitions=3, iterations=3)


def test_the_bipartite_walk_equals_the_user_pair_graph(spark):
    """On a random graph: weighted degrees and PageRank from the O(reviews) walk equal
    those of the materialised user x user edges (the reference formulation)."""
    rng = np.random.default_rng(7)
    pairs = {(f"u{rng.integers(30):02d}", f"i{int(rng.zipf(1.6)) % 12:02d}") for _ in range(90)}
    users = sorted({u for u, _ in pairs} | {"u_alone"})
    reviews = spark.createDataFrame(sorted(pairs), "user_key string, item_id string")
    reviewed = user_items(reviews)
    edges = co_review_edges(reviewed).toPandas()
    index = {u: i for i, u in enumerate(users)}
    weights = np.zeros((len(users), len(users)))
    for row in edges.itertuples():
        weights[index[row.src], index[row.dst]] = row.weight
    walked = walk_weights(reviewed).toPandas().set_index("user_key")["weighted_degree"]
    assert {u: walked.get(u, 0) for u in users} == {u: weights[index[u]].sum() for u in users}

    sketched = distinct_co_reviewers(reviewed).toPandas().set_index("user_key")["degree"]
    exact = exact_co_reviewers(reviewed).toPandas().set_index("user_key")["degree"]
    assert {u: sketched.get(u, 0) for u in users} == {u: exact.get(u, 0) for u in users}

    nodes = spark.createDataFrame([(u,) for u in users], "user_key string")
    ranks = pagerank(reviewed, nodes, 6).toPandas().set_index("user_key")["rank"]
    expected = reference_pagerank(weights, 6) / len(users)
    assert ranks.reindex(users).to_numpy() == pytest.approx(expected, abs=1e-12)


def test_distinct_co_reviewers_beyond_the_exact_range_are_within_the_stated_error(spark):
    """Past about 1,500 co-reviewers the sketch estimates: within three relative
    standard errors (1.04 / sqrt(2^SKETCH_LG_K)) of the truth."""
    reviewers = 6000
    rows = [(f"u{n}", "popular") for n in range(reviewers)] + [("u0", "niche"), ("x", "niche")]
    reviewed = spark.createDataFrame(rows, "user_key string, item_id string")
    degrees = distinct_co_reviewers(reviewed).toPandas().set_index("user_key")["degree"]
    error = 1.04 / np.sqrt(2**SKETCH_LG_K)
    assert degrees["x"] == 1  # small unions stay exact
    assert abs(degrees["u0"] - reviewers) / reviewers <= 3 * error  # u1..u5999 and x
    assert abs(degrees["u1"] - (reviewers - 1)) / (reviewers - 1) <= 3 * error
