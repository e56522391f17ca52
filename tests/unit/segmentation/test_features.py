"""The per-user table and the fusion of the feature groups, on a handful of users."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyspark.ml.functions import vector_to_array

from usersegments.segmentation.features import (
    GRAPH_COLUMNS,
    USERS_PER_PARTITION,
    feature_partitions,
    fit_fusion,
    fused_features,
    mean_text_vector,
    user_table,
)


def users_frame(spark, n: int = 6):
    rows = []
    for i in range(n):
        rows.append(
            {
                "user_key": f"u{i}",
                "review_count": 1 + i,
                "mean_review_words": 10.0 * (i + 1),
                "helpful_votes": i % 3,
                "tenure_days": 100 * i,
                "recency_days": 50 + i,
                "mean_rating": 1.0 + (i % 5),
                "rating_stddev": 0.5 * (i % 2),
                "verified_share": (i % 4) / 4,
                "text_share": 1.0,
                "share_books": (i % 2) * 1.0,
                "share_music": 1.0 - (i % 2),
            }
        )
    return spark.createDataFrame(rows)


def graph_frame(spark, n: int = 6):
    return spark.createDataFrame(
        [(f"u{i}", float(i % 3), float(i), 1.0 + i / 10, 2.0 + i) for i in range(n)],
        "user_key string, degree double, weighted_degree double, pagerank double, "
        "mean_item_reviewers double",
    )


def text_frame(spark, n: int = 6):
    # the last user has no text vector
    return spark.createDataFrame(
        [(f"u{i}", [math.cos(i), math.sin(i), 0.5]) for i in range(n - 1)],
        "user_key string, text_array array<float>",
    )


def test_users_without_text_get_the_mean_vector_and_inputs_are_scaled(spark):
    text = text_frame(spark)
    mean = mean_text_vector(text)
    assert mean == pytest.approx(
        np.mean([[math.cos(i), math.sin(i), 0.5] for i in range(5)], axis=0), abs=1e-6
    )
    table = user_table(users_frame(spark), graph_frame(spark), text, mean)
    rows = {r["user_key"]: r for r in table.collect()}
    assert list(rows["u5"]["text_vector"]) == pytest.approx(mean)
    assert rows["u2"]["f_review_count"] == pytest.approx(math.log1p(3))
    assert rows["u2"]["f_mean_rating"] == 3.0
    assert rows["u2"]["f_share_books"] == 0.0
    assert rows["u2"]["f_pagerank"] == pytest.approx(math.log1p(1.2))
    assert {f"f_{c}" for c in GRAPH_COLUMNS} <= set(table.columns)


def fused(spark, weights):
    table = user_table(users_frame(spark), graph_frame(spark), text_frame(spark), [0.0, 0.0, 0.5])
    fusion = fit_fusion(table, weights)
    frame = fused_features(fusion, table, partitions=2)
    matrix = np.array(
        [r["v"] for r in frame.select(vector_to_array("features").alias("v")).collect()]
    )
    return fusion, frame, matrix


def test_each_group_weighs_its_weight_whatever_its_width(spark):
    weights = {"behaviour": 1.0, "text": 2.0, "graph": 0.5}
    fusion, frame, matrix = fused(spark, weights)
    dims = fusion.dims
    assert dims == {"behaviour": 10, "graph": 4, "text": 3}
    assert matrix.shape == (6, 17) and len(fusion.feature_names) == 17
    assert fusion.feature_names[:2] == ["review_count", "mean_review_words"]
    assert (
        fusion.feature_names[10] == "text_000" and fusion.feature_names[-1] == "mean_item_reviewers"
    )
    bounds = {"behaviour": (0, 10), "text": (10, 13), "graph": (13, 17)}
    for group, (start, end) in bounds.items():
        # total variance of the group (sample variance, as MLlib's scaler) = weight^2
        variance = matrix[:, start:end].var(axis=0, ddof=1).sum()
        constant = (matrix[:, start:end].std(axis=0) == 0).sum()  # a constant column adds 0
        width = end - start
        expected = (
            weights[group] ** 2 * (width - constant) / width
            if group != "text"
            else weights[group] ** 2
        )
        assert variance == pytest.approx(expected, rel=1e-6), group
    assert {"user_key", "features", "text_vector", "review_count", "pagerank"} <= set(frame.columns)
    assert not [c for c in frame.columns if c.startswith("f_")]


def test_a_zero_weight_leaves_its_group_out(spark):
    fusion, _, matrix = fused(spark, {"behaviour": 1.0, "text": 0.0, "graph": 1.0})
    assert matrix.shape[1] == 14
    assert not [n for n in fusion.feature_names if n.startswith("text_")]


def test_feature_partitions_grow_with_the_users_only_above_one_partition_per_core():
    # the real data and x10 keep one partition per core (their clusters are unchanged)
    assert feature_partitions(3_667, 2) == feature_partitions(36_670, 2) == 2
    assert feature_partitions(366_700, 2) == math.ceil(366_700 / USERS_PER_PARTITION) == 15
    assert feature_partitions(10, 8) == 8
