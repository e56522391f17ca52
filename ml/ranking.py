"""Ranking primitives the recommenders and their evaluation share: order-free exact
sums, a user's first unseen candidates, and HitRate/Recall/NDCG@k per user and per
scope (everyone, the cold users, a segment). In Spark, one job for every scope's
outcomes and one for every scope's coverage; only a few aggregate rows reach the
driver."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
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


def outcomes(
    recommendations: DataFrame, test: DataFrame, k: int, groups: DataFrame | None = None
) -> pd.DataFrame:
    """The users of ``test`` (a user without recommendations scores 0) per group and
    distinct outcome (a hit or not, the NDCG rounded to 12 decimals), with the exact
    sums of their recall and NDCG (Decimal): one Spark job, O(users); groups x outcomes
    rows reach the driver (one held-out item per user: k + 1 outcomes at most).
    ``groups``: (user_key, segment_id, is_cold); without it, every user in one."""
    hits = per_user_hits(recommendations, test, k)
    if groups is None:
        groups = (
            test.select("user_key")
            .distinct()
            .select(
                "user_key",
                F.lit(None).cast("long").alias("segment_id"),
                F.lit(None).cast("boolean").alias("is_cold"),
            )
        )
    ndcg = F.col("dcg") / F.col("ideal")
    return (
        hits.join(groups, "user_key", "left")
        .groupBy(
            "segment_id",
            "is_cold",
            (F.col("hit_count") > 0).cast("double").alias("hit_rate"),
            F.round(ndcg, 12).alias("ndcg"),
        )
        .agg(
            F.count("*").alias("users"),
            F.sum((F.col("hit_count") / F.col("relevant")).cast(EXACT)).alias("recall_sum"),
            F.sum(ndcg.cast(EXACT)).alias("ndcg_sum"),
        )
        .toPandas()
    )


def coverage(recommendations: DataFrame, k: int, groups: DataFrame | None = None) -> pd.DataFrame:
    """Distinct items in the top k of each group's users, of the cold users and of
    everyone: one Spark job (a cube), O(users x k); (groups + 1) x 3 rows.
    ``any_segment``/``any_coldness`` mark the rows that count over all of them."""
    top = recommendations.where(F.col("rank") <= k)
    if groups is None:
        top = top.select(
            "item_id",
            F.lit(None).cast("long").alias("segment_id"),
            F.lit(None).cast("boolean").alias("is_cold"),
        )
    else:
        top = top.join(groups, "user_key", "left")
    return (
        top.cube("segment_id", "is_cold")
        .agg(
            F.grouping("segment_id").alias("any_segment"),
            F.grouping("is_cold").alias("any_coldness"),
            F.countDistinct("item_id").alias("covered"),
        )
        .toPandas()
    )


def covered_items(covered: pd.DataFrame, segment_id: int | None = None, cold: bool = False) -> int:
    """``coverage``'s count of everyone, of the cold users, or of segment ``segment_id``."""
    if segment_id is not None:
        rows = covered[covered["any_coldness"].eq(1) & covered["segment_id"].eq(segment_id)]
        rows = rows[rows["any_segment"].eq(0)]
    elif cold:
        rows = covered[covered["any_segment"].eq(1) & covered["any_coldness"].eq(0)]
        rows = rows[rows["is_cold"].eq(True)]
    else:
        rows = covered[covered["any_segment"].eq(1) & covered["any_coldness"].eq(1)]
    return int(rows["covered"].sum())


def scope_metrics(found: pd.DataFrame, covered: int, catalogue_size: int) -> dict[str, float]:
    """HitRate@k, Recall@k and NDCG@k (binary relevance) averaged over the users of
    ``outcomes`` rows, exactly (Decimal sums), and catalogue coverage (``covered``
    distinct items in their top k over the catalogue size)."""
    users = int(found["users"].sum())
    hits = int(found.loc[found["hit_rate"].eq(1.0), "users"].sum())

    def mean(column: str) -> float:
        return float(sum(found[column], Decimal(0)) / users) if users else 0.0

    return {
        "users": users,
        "hit_rate": hits / users if users else 0.0,
        "recall": mean("recall_sum"),
        "ndcg": mean("ndcg_sum"),
        "catalogue_coverage": covered / catalogue_size if catalogue_size else 0.0,
    }


def mean_ndcg(recommendations: DataFrame, test: DataFrame, k: int) -> float:
    """NDCG@k averaged over the users in ``test``: one Spark job (a search's score)."""
    per_user = per_user_hits(recommendations, test, k)
    return float(per_user.agg(exact_mean(F.col("dcg") / F.col("ideal"))).first()[0] or 0.0)
