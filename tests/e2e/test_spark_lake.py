"""Spark reads the cleaned tables the pipeline leaves in the lake, with the jars that
`make setup` staged from Maven Central on its classpath; the co-review graph features
computed there without user pairs equal the user-pair formulation on the real data."""

from __future__ import annotations

import numpy as np
import pytest

from usersegments.segmentation.graph import (
    DAMPING,
    co_review_edges,
    co_review_graph,
    exact_co_reviewers,
    user_items,
)
from usersegments.warehouse import table_counts


def test_spark_reads_the_clean_lake_with_the_staged_jars(demo_run, spark):
    counts = table_counts(demo_run.settings, ["reviews", "users"])
    for table, count in counts.items():
        frame = spark.read.parquet(str(demo_run.settings.lake_dir / "clean" / f"{table}.parquet"))
        assert frame.count() == count
    assert "user_key" in frame.columns and "review_count" in frame.columns
    # Spark NLP's classes resolve from the staged jars (no download at start-up)
    jvm = spark.sparkContext._jvm
    assert jvm.com.johnsnowlabs.nlp.DocumentAssembler().uid().startswith("document")


def test_graph_features_without_user_pairs_equal_the_user_pair_graph_on_the_real_data(
    demo_run, spark
):
    """Degree (sketch) and weighted degree exactly, PageRank within 1e-6 of a numpy
    power iteration on the materialised user x user matrix (39 k edges: gift card
    buyers review the same few cards)."""
    reviews = spark.read.parquet(str(demo_run.settings.lake.clean("reviews")))
    users = spark.read.parquet(str(demo_run.settings.lake.clean("users"))).select("user_key")
    iterations = 10
    features = co_review_graph(reviews, users, iterations).toPandas().set_index("user_key")

    reviewed = user_items(reviews)
    edges = co_review_edges(reviewed).toPandas()
    index = {u: i for i, u in enumerate(features.index)}
    weights = np.zeros((len(index), len(index)))
    weights[edges["src"].map(index), edges["dst"].map(index)] = edges["weight"]
    exact = exact_co_reviewers(reviewed).toPandas().set_index("user_key")["degree"]

    assert len(edges) > 30_000
    assert (features["degree"] == exact.reindex(features.index).fillna(0)).all()
    assert (features["weighted_degree"] == weights.sum(axis=1)).all()
    assert features["pagerank"].to_numpy() == pytest.approx(
        power_iteration(weights, iterations), abs=1e-6
    )


def power_iteration(weights: np.ndarray, iterations: int) -> np.ndarray:
    """PageRank times the user count; rows normalised, dangling rank spread evenly."""
    n = len(weights)
    out = weights.sum(axis=1)
    rank = np.full(n, 1.0 / n)
    for _ in range(iterations):
        moved = (rank[out > 0] / out[out > 0]) @ weights[out > 0]
        rank = (1 - DAMPING) / n + DAMPING * (moved + rank[out == 0].sum() / n)
    return rank * n
