"""Ranking primitives the recommenders and their evaluation share: order-free exact
sums, a user's first unseen candidates, and HitRate/Recall/NDCG@k per user and overall.
In Spark; only a few aggregate rows reach the driver."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

# 18 decimals, 20 integer digits: far finer than any score or metric, far wider than any sum
EXACT = "decimal(38,18)"


def exact_sum(column: F.Column) -> F.Column:
    """Sum of a double column, the same whatever the order of its rows (decimal
    addition is associative), as a double."""
    return F.sum(column.cast(EXACT)).cast("double")


def exact_mean(column: F.Column) -> F.Column:
    """Mean of a double column, independent of row order like ``exact_sum``."""
    return F.avg(column.cast(EXACT)).cast("double")


def first_unseen(candidates: DataFrame, seen: DataFrame, n: int, order: str) -> DataFrame:
    """Each user's first n candidates by ``order`` that ``seen`` does not hold."""
    unseen = candidates.join(seen, ["user_key", "item_id"], "left_anti")
    rank = F.row_number().over(Window.partitionBy("user_key").orderBy(order))
    return (
        unseen.withColumn("rank", rank.cast("long"))
        .where(F.col("rank") <= n)
        .select("user_key", "rank", "item_id", "score")
    )


def ideal_dcg(relevant: F.Column, k: int) -> F.Column:
    """DCG of a perfect list: min(relevant, k) hits at the top."""
    hits = F.sequence(F.lit(0), F.least(relevant, F.lit(k)) - 1)
    return F.aggregate(hits, F.lit(0.0), lambda total, i: total + 1.0 / F.log2(i + 2.0))


def per_user_hits(recommendations: DataFrame, test: DataFrame, k: int) -> DataFrame:
    """(user_key, relevant, hit_count, dcg, ideal) for every user in ``test``."""
    top = recommendations.where(F.col("rank") <= k).select("user_key", "item_id", "rank")
    gain = F.when(F.col("rank").isNotNull(), 1.0 / F.log2(F.col("rank") + 1.0)).otherwise(0.0)
    return (
        test.join(top, ["user_key", "item_id"], "left")
        .groupBy("user_key")
        .agg(
            F.count("*").alias("relevant"),
            F.count("rank").alias("hit_count"),
            exact_sum(gain).alias("dcg"),
        )
        .withColumn("ideal", ideal_dcg(F.col("relevant"), k))
    )


def metric_columns() -> list[F.Column]:
    return [
        F.count("*").alias("users"),
        exact_mean((F.col("hit_count") > 0).cast("double")).alias("hit_rate"),
        exact_mean(F.col("hit_count") / F.col("relevant")).alias("recall"),
        exact_mean(F.col("dcg") / F.col("ideal")).alias("ndcg"),
    ]


def ranking_metrics(
    recommendations: DataFrame, test: DataFrame, catalogue_size: int, k: int = 10
) -> dict[str, float]:
    """HitRate@k, Recall@k and NDCG@k (binary relevance) averaged over the users in
    ``test`` (a user without recommendations scores 0), and catalogue coverage (distinct
    items in anyone's top k over the catalogue size)."""
    row = per_user_hits(recommendations, test, k).agg(*metric_columns()).first().asDict()
    covered = recommendations.where(F.col("rank") <= k).select("item_id").distinct().count()
    return {
        "users": int(row["users"]),
        **{name: float(row[name] or 0.0) for name in ("hit_rate", "recall", "ndcg")},
        "catalogue_coverage": covered / catalogue_size if catalogue_size else 0.0,
    }


def mean_ndcg(recommendations: DataFrame, test: DataFrame, k: int) -> float:
    """NDCG@k averaged over the users in ``test``: one Spark job (a search's score)."""
    per_user = per_user_hits(recommendations, test, k)
    return float(per_user.agg(exact_mean(F.col("dcg") / F.col("ideal"))).first()[0] or 0.0)
