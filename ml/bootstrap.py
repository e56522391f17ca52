"""Confidence intervals of per-user ranking metrics by a bootstrap over users, computed
from the counts of the users' distinct outcomes (numpy, no Spark).

Resampling n users with replacement is a multinomial draw of n over the users; users
with the same outcome (a hit or not, the same NDCG) are interchangeable, so the draw
can be made over the distinct outcomes, each with probability (its users) / n. That is
the same distribution as the user bootstrap, and it costs O(replicates x outcomes):
with one held-out item per user an outcome is a miss or a hit at one of k ranks, so at
most k + 1 of them, whatever the number of users.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REPLICATES = 2000
CONFIDENCE = 0.95


def bootstrap_intervals(
    outcomes: pd.DataFrame,
    metrics: tuple[str, ...],
    seed: int,
    replicates: int = REPLICATES,
    confidence: float = CONFIDENCE,
) -> dict[str, float]:
    """Percentile intervals (``<metric>_low``, ``<metric>_high``) of the mean of each
    metric over a bootstrap of users. ``outcomes``: one row per distinct outcome, a
    column per metric (the users' value) and ``users`` (how many users had it)."""
    users = outcomes["users"].to_numpy(dtype=np.int64)
    total = int(users.sum())
    if total == 0:
        return {f"{m}_{side}": float("nan") for m in metrics for side in ("low", "high")}
    draws = np.random.default_rng(seed).multinomial(total, users / total, size=replicates)
    tail = (1 - confidence) / 2
    intervals = {}
    for metric in metrics:
        means = draws @ outcomes[metric].to_numpy(dtype=float) / total
        low, high = np.quantile(means, [tail, 1 - tail])
        intervals[f"{metric}_low"], intervals[f"{metric}_high"] = float(low), float(high)
    return intervals
