"""Recommendation metrics against hand-computed cases, the time split, top-N: the Spark
functions on frames of a few rows."""

from __future__ import annotations

import math

import pytest
from pyspark.sql import functions as F

from ml.als import AlsParams
from ml.baselines import Tuning
from ml.ranking import coverage, covered_items, exact_mean, exact_sum, outcomes, scope_metrics
from ml.recommend import (
    RecommenderConfig,
    evaluate,
    filled,
    item_scores,
    random_top_n,
    top_n,
)


def memberships(spark, groups: dict[str, int], column: str = "segment_id"):
    return spark.createDataFrame(list(groups.items()), f"user_key string, {column} long")


PAIRS = "user_key string, item_id string"


def lists(recs) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in recs.orderBy("user_key", "rank").collect():
        found.setdefault(row["user_key"], []).append(row["item_id"])
    return found


def ranking_metrics(recs, test, catalogue_size: int, k: int) -> dict[str, float]:
    """The metrics of everyone in ``test``, as evaluate computes its 'overall' scope."""
    return scope_metrics(outcomes(recs, test, k), covered_items(coverage(recs, k)), catalogue_size)


def test_metrics_match_hand_computed_values(frame):
    recs = frame(
        [("a", 1, "x"), ("a", 2, "y"), ("a", 3, "z"), ("b", 1, "x"), ("b", 2, "w")],
        "user_key string, rank long, item_id string",
    )
    test = frame([("a", "z"), ("a", "q"), ("b", "v"), ("c", "x")], PAIRS)
    m = ranking_metrics(recs, test, catalogue_size=8, k=10)
    # a: one of two held-out items, at rank 3; b: none; c: no recommendations
    assert m["users"] == 3
    assert m["hit_rate"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx((1 / 2) / 3)
    ndcg_a = (1 / math.log2(4)) / (1 / math.log2(2) + 1 / math.log2(3))
    assert m["ndcg"] == pytest.approx(ndcg_a / 3)
    assert m["catalogue_coverage"] == pytest.approx(4 / 8)  # x, y, z, w


def test_cutoff_k_drops_lower_ranks(frame):
    recs = frame([("a", 1, "x"), ("a", 2, "y")], "user_key string, rank long, item_id string")
    test = frame([("a", "y")], PAIRS)
    assert ranking_metrics(recs, test, 2, k=1)["hit_rate"] == 0.0
    assert ranking_metrics(recs, test, 2, k=2)["ndcg"] == pytest.approx(1 / math.log2(3))


def test_scores_weight_rating_and_recency(spark, reviews):
    train = reviews(
        [("a", "x", 5, "2020-01-11"), ("b", "y", 5, "2020-01-01"), ("b", "x", 2.5, "2020-01-11")]
    )
    groups = memberships(spark, {"a": 1, "b": 1}, "group")
    scores = {r["item_id"]: r["score"] for r in item_scores(train, groups, 10).collect()}
    assert scores["x"] == pytest.approx(1.0 + 0.5)
    assert scores["y"] == pytest.approx(0.5)  # ten days old: half


def test_top_n_excludes_seen_items_and_follows_the_group(spark, frame):
    scores = frame(
        [(1, "x", 3.0), (1, "y", 2.0), (1, "z", 1.0), (2, "z", 9.0)],
        "group long, item_id string, score double",
    )
    groups = memberships(spark, {"a": 1, "b": 2}, "group")
    seen = frame([("a", "x")], PAIRS)
    assert lists(top_n(scores, groups, seen, n=2)) == {"a": ["y", "z"], "b": ["z"]}


def test_a_short_segment_list_is_topped_up_with_popular_items(frame):
    columns = "user_key string, rank long, item_id string, score double"
    segment = frame([("b", 1, "z", 9.0)], columns)
    popular = frame([("b", 1, "z", 5.0), ("b", 2, "w", 4.0), ("b", 3, "v", 3.0)], columns)
    topped = filled(segment, popular, n=2).orderBy("rank").collect()
    # the segment's item first, with its own score; then the best popular one not in it
    assert [(r["rank"], r["item_id"], r["score"]) for r in topped] == [(1, "z", 9.0), (2, "w", 4.0)]
    full = frame([("a", 1, "y", 2.0), ("a", 2, "x", 1.0)], columns)
    assert lists(filled(full, frame([("a", 1, "w", 8.0)], columns), n=2)) == {"a": ["y", "x"]}


def test_sums_do_not_depend_on_the_order_of_the_rows(frame):
    # in doubles, 1e16 - 1e16 + 1 is 1 but -1e16 + 1 + 1e16 is 0
    values = frame([(0, 1e16), (1, -1e16), (2, 1.0)], "position int, value double")

    def totals(order):
        ordered = values.orderBy(order).coalesce(1)
        return ordered.agg(
            F.sum("value"), exact_sum(F.col("value")), exact_mean(F.col("value"))
        ).first()

    plain_first, exact_first, mean_first = totals("position")
    plain_second, exact_second, mean_second = totals("value")
    assert plain_first != plain_second  # the accident the exact sums remove
    assert exact_first == exact_second == 1.0
    assert mean_first == mean_second == pytest.approx(1 / 3)


def test_random_baseline_is_seeded_unseen_and_independent_of_partitioning(spark, frame):
    seen = frame([("a", "i0"), ("a", "i1")], PAIRS)
    catalogue = frame([(f"i{i}",) for i in range(20)], "item_id string")
    users = frame([("a",), ("b",)], "user_key string")
    first = lists(random_top_n(users, catalogue, seen, 5, seed=7))
    again = lists(random_top_n(users.repartition(3), catalogue.repartition(4), seen, 5, seed=7))
    assert first == again
    assert {"i0", "i1"}.isdisjoint(first["a"]) and len(first["a"]) == len(first["b"]) == 5
    assert first != lists(random_top_n(users, catalogue, seen, 5, seed=8))


def test_evaluate_by_hand_segment_beats_global_here(spark, frame, reviews):
    # segment 1 (a, b, c) loves x then y; segment 2 (d, e) loves z; all on one day
    train = reviews(
        [
            ("a", "x", 5, "2020-01-01"),
            ("b", "x", 5, "2020-01-01"),
            ("c", "x", 5, "2020-01-01"),
            ("b", "y", 5, "2020-01-01"),
            ("c", "y", 5, "2020-01-01"),
            ("d", "z", 5, "2020-01-01"),
            ("e", "z", 5, "2020-01-01"),
            ("e", "w", 5, "2020-01-01"),
        ]
    )
    holdout = frame([("a", "y"), ("d", "w")], PAIRS)
    segments = memberships(spark, {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2})
    # the baselines' hyperparameters given: their searches are tested in test_item_knn.py
    # and test_als.py
    tuning = Tuning(neighbours=10, als=AlsParams(rank=2, reg_param=0.1, alpha=1.0))
    result = evaluate(train, holdout, segments, RecommenderConfig(top_n=1), tuning)
    overall = result[result["scope"] == "overall"].set_index("recommender")
    # segment: a gets y (hit), d gets w (hit); global (x 3, y 2, z 2, w 1): a gets y
    # (x seen; y before z by item id), d gets x (miss)
    assert overall.loc["segment_popularity", "hit_rate"] == 1.0
    assert overall.loc["global_popularity", "hit_rate"] == 0.5
    assert overall.loc["segment_popularity", "catalogue_coverage"] == pytest.approx(2 / 4)
    per_segment = result[
        (result["scope"] == "segment") & (result["recommender"] == "global_popularity")
    ]
    assert per_segment.set_index("segment_id")["hit_rate"].to_dict() == {1: 1.0, 2: 0.0}
    assert per_segment["users"].sum() == overall.loc["global_popularity", "users"] == 2
    # global gives a y and d x: one item of four in each segment's top 1
    assert per_segment.set_index("segment_id")["catalogue_coverage"].to_dict() == {1: 0.25, 2: 0.25}
    # every user here has two training items or fewer: the cold scope is everyone
    cold = result[result["scope"] == "cold"].set_index("recommender")
    columns = ["users", "hit_rate", "recall", "ndcg", "catalogue_coverage"]
    assert cold[columns].equals(overall[columns])
    # two users: a bootstrap of them draws both hits, both misses or one of each
    assert overall.loc["segment_popularity", ["hit_rate_low", "hit_rate_high"]].tolist() == [1, 1]
    assert overall.loc["global_popularity", ["hit_rate_low", "hit_rate_high"]].tolist() == [0, 1]
    assert per_segment.set_index("segment_id")["hit_rate_high"].to_dict() == {1: 1.0, 2: 0.0}


def test_evaluate_refuses_a_held_out_pair_in_training(spark, frame, reviews):
    train = reviews([("a", "x", 5, "2020-01-01"), ("a", "y", 5, "2020-01-02")])
    holdout = frame([("a", "y")], PAIRS)
    with pytest.raises(ValueError, match="held-out"):
        evaluate(train, holdout, memberships(spark, {"a": 1}), RecommenderConfig())


def test_evaluate_without_held_out_users_is_empty_and_typed(spark, frame, reviews):
    train = reviews([("a", "x", 5, "2020-01-01")])
    result = evaluate(train, frame([], PAIRS), memberships(spark, {"a": 1}), RecommenderConfig())
    assert (
        result.empty
        and str(result["segment_id"].dtype) == "Int64"
        and result["hit_rate"].dtype == float
    )
