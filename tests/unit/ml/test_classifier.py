"""Units of the interest classifier: metrics against hand-computed values and
scikit-learn, the split in Spark and its batches, the label-defining columns, nearest
centroids. Small generated frames, no pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.data import LABEL, feature_columns, load_split, split_roles, write_split
from ml.metrics import confusion_counts, metrics_from_confusion
from ml.scoring import nearest_centroids


def test_metrics_match_a_hand_computed_case():
    truth = ["a", "a", "a", "b", "b", "c"]
    guess = ["a", "a", "b", "b", "b", "a"]
    scores = classification_metrics(truth, guess, ["a", "b", "c"])
    assert confusion_counts(truth, guess, ["a", "b", "c"]).tolist() == [
        [2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0]
    ]  # fmt: skip
    # a: tp 2, fp 1, fn 1 -> p 2/3, r 2/3; b: tp 2, fp 1, fn 0 -> p 2/3, r 1; c: all 0
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["precision_a"] == pytest.approx(2 / 3)
    assert scores["recall_b"] == pytest.approx(1.0)
    assert scores["f1_b"] == pytest.approx(0.8)
    assert scores["f1_c"] == 0.0
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)
    assert scores["weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 0.8 + 0) / 6)
    assert scores["support_a"] == 3


def classification_metrics(truth, guess, classes):
    return metrics_from_confusion(confusion_counts(truth, guess, classes), classes)


def test_metrics_equal_scikit_learns_with_an_unknown_and_a_never_predicted_class():
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    rng = np.random.default_rng(3)
    classes = ["a", "b", "c", "d"]
    truth = rng.choice(classes, 300, p=[0.5, 0.3, 0.15, 0.05])
    guess = rng.choice(["a", "b", "c", "zz"], 300)  # never "d"; "zz" is not a class
    scores = classification_metrics(truth, guess, classes)
    assert scores["accuracy"] == pytest.approx(accuracy_score(truth, guess))
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            truth, guess, labels=classes, average=average, zero_division=0
        )
        assert (scores[f"{average}_precision"], scores[f"{average}_recall"]) == pytest.approx(
            (p, r)
        )
        assert scores[f"{average}_f1"] == pytest.approx(f)
    assert scores["f1_d"] == 0.0


def test_majority_prediction_scores_what_the_baseline_should():
    truth = ["a"] * 6 + ["b"] * 3 + ["c"]
    scores = classification_metrics(truth, ["a"] * 10, ["a", "b", "c"])
    # only class a scores: p 0.6, r 1 -> F1 0.75; macro over three classes
    assert scores["macro_f1"] == pytest.approx(0.75 / 3)


def test_split_is_stratified_disjoint_and_repeatable(spark):
    labels = ["a"] * 300 + ["b"] * 150 + ["c"] * 50
    users = [(f"u{i:04d}", label) for i, label in enumerate(labels)]
    frame = spark.createDataFrame(users, f"user_key string, {LABEL} string")

    def held_out(frame):
        rows = split_roles(frame).where("role = 'heldout'").collect()
        return sorted((r["user_key"], r[LABEL]) for r in rows)

    test = held_out(frame)
    shuffled = spark.createDataFrame(list(reversed(users)), frame.schema).repartition(5)
    assert held_out(shuffled) == test  # row order and partitions must not matter
    counts = {label: sum(1 for _, held in test if held == label) for label in "abc"}
    assert counts == {"a": 60, "b": 30, "c": 10}
    assert split_roles(frame).count() == 500  # every user in exactly one part


def test_split_written_to_the_lake_reads_back_in_batches(spark, tmp_path):
    from usersegments.config import Settings

    settings = Settings(data_dir=tmp_path, source_dir=tmp_path)
    rng = np.random.default_rng(0)
    labels = ["a"] * 60 + ["b"] * 40 + ["rare"] * 4
    users = pd.DataFrame({"user_key": [f"u{i:03d}" for i in range(len(labels))]})
    features = users.assign(x=rng.normal(size=len(users)), share_a=0.5, run_id="r1")
    features_folder = settings.lake.segmentation("features", "r1")
    features_folder.mkdir(parents=True)
    features.to_parquet(features_folder / "part-0.parquet")
    settings.lake.clean_dir.mkdir(parents=True)
    users.assign(primary_category=labels).to_parquet(settings.lake.clean("users"))

    split = write_split(spark, settings, "r1")
    assert load_split(settings, "r1") == split
    assert split.feature_columns == ["x"] and split.classes == ["a", "b"]
    assert split.excluded_classes == {"rare": 4}
    assert split.users == {"train": {"a": 48, "b": 32}, "heldout": {"a": 12, "b": 8}}
    assert split.majority_class == "a"
    heldout = split.frame("heldout")
    assert len(heldout) == 20 and set(heldout.columns) == {"user_key", "x", "share_a", LABEL}
    # scored 3 users at a time, the matrix is the whole set's
    batches = list(split.batches("heldout", batch_users=3))
    assert max(len(b) for b in batches) == 3 and sum(len(b) for b in batches) == 20
    everyone_a = split.heldout_confusion(lambda x: ["a"] * len(x))
    assert everyone_a.tolist() == [[12, 0, 0], [8, 0, 0]]
    assert write_split(spark, settings, "r1") == split  # a rerun writes the same split


def test_category_shares_never_reach_the_classifier():
    columns = ["user_key", "review_count", "share_gift_cards", "text_000", LABEL]
    assert feature_columns(columns) == ["review_count", "text_000"]


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
    assert kept == [] and BASELINE not in {c.name for c in candidates}
    assert "random_forest" in reason and "100,001 training users" in reason
