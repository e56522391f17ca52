"""Stable segment ids: this run's clusters matched to the previous run's segments, and
how far the memberships moved. What reaches the driver is one row per segment, or
per pair of segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def match_segment_ids(
    centroids: np.ndarray,
    sizes: np.ndarray,
    previous: pd.DataFrame | None,
) -> tuple[list[int], list[float | None]]:
    """Stable ids: match this run's clusters to the previous run's segments.

    ``centroids`` is (k, d), one row per cluster of this run; ``previous`` has columns
    segment_id and centroid (previous run, same feature space). Clusters are matched to
    previous segments by the Hungarian algorithm on squared Euclidean distance; a
    cluster without a partner (k grew, or no previous run) gets a new id, largest
    cluster first. Returns the id and the match distance (None if new) per cluster.
    """
    from scipy.optimize import linear_sum_assignment

    k = len(centroids)
    ids: list[int | None] = [None] * k
    distances: list[float | None] = [None] * k
    next_id = 1
    if previous is not None and len(previous):
        old = np.vstack(previous["centroid"].to_numpy())
        if old.shape[1] == centroids.shape[1]:
            cost = ((centroids[:, None, :] - old[None, :, :]) ** 2).sum(axis=2)
            rows, cols = linear_sum_assignment(cost)
            for row, col in zip(rows, cols, strict=True):
                ids[row] = int(previous["segment_id"].iloc[col])
                distances[row] = float(cost[row, col])
        next_id = int(previous["segment_id"].max()) + 1
    for cluster in sorted(range(k), key=lambda c: (-sizes[c], c)):
        if ids[cluster] is None:
            ids[cluster] = next_id
            next_id += 1
    return [int(i) for i in ids], distances


def membership_contingency(previous: DataFrame, current: DataFrame) -> pd.DataFrame:
    """(previous_segment, current_segment, users) over the users both assignments
    (user_key, segment_id) share: at most one row per pair of segments reaches the driver."""
    return (
        previous.select("user_key", F.col("segment_id").alias("previous_segment"))
        .join(current.select("user_key", F.col("segment_id").alias("current_segment")), "user_key")
        .groupBy("previous_segment", "current_segment")
        .agg(F.count("*").alias("users"))
        .toPandas()
    )


def agreement(contingency: pd.DataFrame) -> tuple[float | None, int, float | None]:
    """From a membership contingency table: the adjusted Rand index, the number of
    shared users, and the share of them whose segment id is unchanged.

    The ARI is scikit-learn's formula (pair confusion matrix, exact integer counts),
    computed from the contingency table instead of one label per user."""
    shared = int(contingency["users"].sum()) if len(contingency) else 0
    if not shared:
        return None, 0, None
    table = contingency.pivot_table(
        index="previous_segment", columns="current_segment", values="users", fill_value=0
    ).to_numpy(dtype=np.int64)
    sum_squares = int((table**2).sum())
    both_same = sum_squares - shared
    same_previous_only = int((table @ table.sum(axis=0)).sum()) - sum_squares
    same_current_only = int((table.T @ table.sum(axis=1)).sum()) - sum_squares
    neither = shared**2 - same_previous_only - same_current_only - sum_squares
    if same_previous_only == 0 and same_current_only == 0:
        ari = 1.0
    else:
        ari = (
            2.0
            * (both_same * neither - same_current_only * same_previous_only)
            / (
                (both_same + same_current_only) * (same_current_only + neither)
                + (both_same + same_previous_only) * (same_previous_only + neither)
            )
        )
    kept = contingency.loc[
        contingency["previous_segment"] == contingency["current_segment"], "users"
    ].sum()
    return float(ari), shared, float(kept) / shared
