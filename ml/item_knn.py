"""Item-kNN, the baseline recommender teams already run (Dacrema et al., RecSys 2019:
it beats most published methods): an item is recommended for the items a user
reviewed, by cosine similarity of the items' reviewer sets.

    similarity(i, j) = co-reviewers(i, j) / sqrt(reviewers(i) * reviewers(j))
    score(u, j)      = sum over the items i the user reviewed of similarity(i, j),
                       over each item's ``neighbours`` most similar items

The number of neighbours is chosen on a validation split carved from the training
reviews alone (each user's latest training item, as the evaluation's own split), so
the search never sees a held-out review.

Cost, in Spark: the co-review pairs come from each user's items, O(Σ_u d_u²) for user
degrees d_u (never items x items); the candidates are O(reviews x neighbours).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from ml.ranking import exact_sum, first_unseen, mean_ndcg

NEIGHBOUR_GRID = (10, 50, 200)


def item_neighbours(seen: DataFrame, neighbours: int) -> DataFrame:
    """(item_id, neighbour_id, similarity, neighbour_rank): each item's ``neighbours``
    most similar other items (ties by item id). ``seen``: distinct (user_key, item_id)."""
    reviewers = seen.groupBy("item_id").agg(F.count("*").alias("reviewers"))
    other = seen.select("user_key", F.col("item_id").alias("neighbour_id"))
    co_reviews = (
        seen.join(other, "user_key")
        .where(F.col("item_id") != F.col("neighbour_id"))
        .groupBy("item_id", "neighbour_id")
        .agg(F.count("*").alias("co_reviews"))
    )
    similarity = (
        co_reviews.join(reviewers, "item_id")
        .join(
            reviewers.select(
                F.col("item_id").alias("neighbour_id"),
                F.col("reviewers").alias("neighbour_reviewers"),
            ),
            "neighbour_id",
        )
        .select(
            "item_id",
            "neighbour_id",
            # rounded, so that equal similarities are equal whatever the float path
            F.round(
                F.col("co_reviews") / F.sqrt(F.col("reviewers") * F.col("neighbour_reviewers")),
                12,
            ).alias("similarity"),
        )
    )
    order = Window.partitionBy("item_id").orderBy(F.desc("similarity"), "neighbour_id")
    return similarity.withColumn("neighbour_rank", F.row_number().over(order)).where(
        F.col("neighbour_rank") <= neighbours
    )


def knn_top_n(
    seen: DataFrame, users: DataFrame, neighbours: DataFrame, k: int, n: int
) -> DataFrame:
    """(user_key, rank, item_id, score): each of ``users``' n best unseen items by the
    summed similarity to the items they reviewed, over each item's first ``k``
    neighbours of ``neighbours`` (ties by item id). A user whose items have no
    neighbours gets a short or empty list."""
    scores = (
        seen.join(users, "user_key")
        .join(neighbours.where(F.col("neighbour_rank") <= k), "item_id")
        .groupBy("user_key", F.col("neighbour_id").alias("item_id"))
        .agg(F.round(exact_sum(F.col("similarity")), 9).alias("score"))
    )
    order = Window.partitionBy("user_key").orderBy(F.desc("score"), "item_id")
    candidates = scores.withColumn("candidate_rank", F.row_number().over(order))
    return first_unseen(candidates, seen, n, "candidate_rank")


def latest_item_split(train: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(fit reviews, validation pairs): every review of each user's latest distinct
    item (ties: the larger review key) held out, for users with two or more items, as
    dbt's evaluation split does to the published reviews."""
    per_item = train.groupBy("user_key", "item_id").agg(
        F.max("reviewed_at").alias("last_at"), F.max("review_key").alias("last_key")
    )
    latest = Window.partitionBy("user_key").orderBy(F.desc("last_at"), F.desc("last_key"))
    ranked = per_item.select(
        "user_key",
        "item_id",
        F.row_number().over(latest).alias("recency"),
        F.count("*").over(Window.partitionBy("user_key")).alias("items"),
    )
    validation = ranked.where((F.col("recency") == 1) & (F.col("items") > 1)).select(
        "user_key", "item_id"
    )
    return train.join(validation, ["user_key", "item_id"], "left_anti"), validation


def choose_neighbours(
    seen: DataFrame, validation: DataFrame, n: int, grid: tuple[int, ...] = NEIGHBOUR_GRID
) -> tuple[int, dict[int, float]]:
    """The number of neighbours with the best NDCG@n on the (seen, validation) of
    ``ml.baselines.validation_split`` (ties: fewer neighbours), and every candidate's
    NDCG. The similarities are computed once, for the largest candidate; smaller ones
    read their first neighbours."""
    neighbours = item_neighbours(seen, max(grid)).localCheckpoint()
    users = validation.select("user_key").distinct()
    scores = {k: mean_ndcg(knn_top_n(seen, users, neighbours, k, n), validation, n) for k in grid}
    return max(grid, key=lambda k: (scores[k], -k)), scores
