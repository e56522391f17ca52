"""Prospective evaluation, the feedback loop: the lists the previous run published,
scored on what their users reviewed next.

When runs follow data intervals, run t's reviews are those before its as-of; run t-1
published its lists from the reviews before its own as-of and its segments. So at run
t every recommender is rebuilt exactly as it stood at run t-1 (the reviews before t-1's
as-of, t-1's published segments: every recommender is deterministic) and scored against
the items each of t-1's users first reviewed between the two as-ofs (items they had
already reviewed do not count: no list shows them). Nothing after t-1's cut reaches a
recommender or its hyperparameter search; ``ml.recommend.evaluate`` checks it again.

A run without a previous run, or after a manual run (which saw every review), has no
window: its table is empty. Linear in reviews and users, as ``evaluate``.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml.baselines import Tuning
from ml.config import RecommenderConfig
from ml.recommend import EVALUATION_COLUMNS, evaluate

# The window of a prospective row: whose lists, and the reviews they are scored on.
WINDOW_COLUMNS = {
    "lists_run_id": "object",
    "window_start": "datetime64[us]",
    "window_end": "datetime64[us]",
}


def prospective_split(
    reviews: DataFrame, memberships: DataFrame, cut: datetime
) -> tuple[DataFrame, DataFrame]:
    """(train, next_items): ``reviews`` before ``cut``, and the (user_key, item_id) each
    member of ``memberships`` reviewed from ``cut`` on that they had not reviewed before
    it. O(reviews)."""
    before = F.col("reviewed_at").cast("timestamp") < F.lit(cut).cast("timestamp")
    train = reviews.where(before)
    seen = train.select("user_key", "item_id").distinct()
    next_items = (
        reviews.where(~before)
        .select("user_key", "item_id")
        .distinct()
        .join(memberships.select("user_key"), "user_key", "left_semi")
        .join(seen, ["user_key", "item_id"], "left_anti")
    )
    return train, next_items


def empty_table() -> pd.DataFrame:
    columns = {**EVALUATION_COLUMNS, **WINDOW_COLUMNS}
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


def prospective_evaluation(
    reviews: DataFrame,
    previous: dict | None,
    previous_memberships: DataFrame | None,
    as_of: datetime | None,
    config: RecommenderConfig,
    tuning: Tuning | None = None,
) -> pd.DataFrame:
    """``evaluate``'s rows for the lists of the ``previous`` run (its runs row; its
    published ``previous_memberships``: user_key, segment_id) on the reviews from its
    as-of to ``as_of`` (this run's; None: every later review), with the window's
    columns. Empty without a previous run of a known as-of. ``tuning``: the baselines'
    hyperparameters, chosen on the reviews before the previous as-of when not given."""
    if previous is None or previous.get("as_of") is None:
        return empty_table()
    train, next_items = prospective_split(reviews, previous_memberships, previous["as_of"])
    evaluation = evaluate(train, next_items, previous_memberships, config, tuning)
    window = {
        "lists_run_id": previous["run_id"],
        "window_start": pd.Timestamp(previous["as_of"]),
        "window_end": pd.Timestamp(as_of) if as_of is not None else pd.NaT,
    }
    return evaluation.assign(**window).astype({**EVALUATION_COLUMNS, **WINDOW_COLUMNS})
