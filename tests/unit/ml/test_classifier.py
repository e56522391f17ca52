"""Units of the interest classifier: metrics against hand-computed values, the split,
the label-defining columns, nearest centroids. Small generated frames, no pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.data import LABEL, feature_columns, split_users
from ml.metrics import classification_metrics
from ml.scoring import nearest_centroids


def test_metrics_match_a_hand_computed_case():
    truth = ["a", "a", "a", "b", "b", "c"]
    guess = ["a", "a", "b", "b", "b", "a"]
    scores = classification_metrics(truth, guess, ["a", "b", "c"])
    # a: tp 2, fp 1, fn 1 -> p 2/3, r 2/3; b: tp 2, fp 1, fn 0 -> p 2/3, r 1; c: all 0
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["precision_a"] == pytest.approx(2 / 3)
    assert scores["recall_b"] == pytest.approx(1.0)
    assert scores["f1_b"] == pytest.approx(0.8)
    assert scores["f1_c"] == 0.0
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)
    assert scores["weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 0.8 + 0) / 6)
    assert scores["support_a"] == 3


def test_majority_prediction_scores_what_the_baseline_should():
    truth = ["a"] * 6 + ["b"] * 3 + ["c"]
    scores = classification_metrics(truth, ["a"] * 10, ["a", "b", "c"])
    # only class a scores: p 0.6, r 1 -> F1 0.75; macro over three classes
    assert scores["macro_f1"] == pytest.approx(0.75 / 3)


def test_split_is_stratified_disjoint_and_repeatable():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "user_key": [f"u{i:04d}" for i in range(500)],
            "x": rng.normal(size=500),
            LABEL: ["a"] * 300 + ["b"] * 150 + ["c"] * 50,
        }
    )
    train, test = split_users(frame.sample(frac=1, random_state=1))  # row order must not matter
    again_train, again_test = split_users(frame)
    assert set(train["user_key"]).isdisjoint(test["user_key"])
    assert len(train) + len(test) == 500
    assert test[LABEL].value_counts().to_dict() == {"a": 60, "b": 30, "c": 10}
    assert list(test["user_key"]) == list(again_test["user_key"])


def test_category_shares_never_reach_the_classifier():
    frame = pd.DataFrame(
        columns=["user_key", "review_count", "share_gift_cards", "text_000", LABEL]
    )
    assert feature_columns(frame) == ["review_count", "text_000"]


def test_nearest_centroid_and_distance():
    centroids = pd.DataFrame({"segment_id": [7, 3], "centroid": [[0.0, 0.0], [10.0, 0.0]]})
    segments, distances = nearest_centroids(
        np.array([[1.0, 1.0], [9.0, 0.0], [6.0, 0.0]]), centroids
    )
    assert list(segments) == [7, 3, 3]
    assert distances == pytest.approx([2**0.5, 1.0, 4.0])


def test_single_machine_candidates_are_skipped_above_the_stated_size():
    from ml.train import BASELINE, SINGLE_MACHINE_MAX_USERS, runnable, sklearn_candidates

    candidates = sklearn_candidates()
    assert runnable(candidates, SINGLE_MACHINE_MAX_USERS) == (candidates, None)
    kept, reason = runnable(candidates, SINGLE_MACHINE_MAX_USERS + 1)
    assert [c.name for c in kept] == [BASELINE]
    assert "random_forest" in reason and "100,001 training users" in reason
