"""The bootstrap over users from outcome counts, against hand cases and the plain
user-level bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.bootstrap import bootstrap_intervals


def test_users_all_alike_have_no_spread():
    outcomes = pd.DataFrame({"hit_rate": [1.0], "ndcg": [0.5], "users": [40]})
    assert bootstrap_intervals(outcomes, ("hit_rate", "ndcg"), seed=1) == {
        "hit_rate_low": 1.0,
        "hit_rate_high": 1.0,
        "ndcg_low": 0.5,
        "ndcg_high": 0.5,
    }


def test_the_interval_holds_the_mean_and_is_seeded():
    # 30 hits at rank 1 (NDCG 1), 10 at rank 3 (NDCG 0.5), 60 misses: HitRate 0.4, NDCG 0.35
    outcomes = pd.DataFrame(
        {"hit_rate": [1.0, 1.0, 0.0], "ndcg": [1.0, 0.5, 0.0], "users": [30, 10, 60]}
    )
    intervals = bootstrap_intervals(outcomes, ("hit_rate", "ndcg"), seed=7)
    assert intervals["hit_rate_low"] < 0.4 < intervals["hit_rate_high"]
    assert intervals["ndcg_low"] < 0.35 < intervals["ndcg_high"]
    # the normal approximation of a proportion's 95% interval: 0.4 +- 1.96 * 0.049
    assert intervals["hit_rate_high"] - intervals["hit_rate_low"] == pytest.approx(0.192, abs=0.02)
    assert bootstrap_intervals(outcomes, ("hit_rate", "ndcg"), seed=7) == intervals


def test_counts_give_the_user_bootstrap_distribution():
    """Resampling users one by one, and drawing the counts of their outcomes, agree."""
    rng = np.random.default_rng(3)
    values = rng.choice([0.0, 1.0, 1 / np.log2(3), 0.5], size=300, p=[0.6, 0.2, 0.1, 0.1])
    naive = [rng.choice(values, size=len(values)).mean() for _ in range(4000)]
    outcomes = pd.Series(values).value_counts().rename("users").rename_axis("ndcg").reset_index()
    intervals = bootstrap_intervals(outcomes, ("ndcg",), seed=4, replicates=4000)
    low, high = np.quantile(naive, [0.025, 0.975])
    assert intervals["ndcg_low"] == pytest.approx(low, abs=0.006)
    assert intervals["ndcg_high"] == pytest.approx(high, abs=0.006)


def test_no_users_no_interval():
    outcomes = pd.DataFrame({"ndcg": [], "users": []})
    assert all(np.isnan(v) for v in bootstrap_intervals(outcomes, ("ndcg",), seed=1).values())
