"""The classifier's data: every user's fused features from a segmentation run, and
their interest label from the users mart.

Label: ``primary_category`` of the ``users`` mart, the category of most of the user's
reviews; a tie goes to the alphabetically first category (int_users__behaviour_features).

Features: the segmentation run's fused vector (behaviour, text embedding, co-review
graph; lake/segments/features) except the category shares: the label is the largest of
them, so a model given them would learn the label's definition, not the user.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from usersegments.config import Settings
from usersegments.lake import partition_name
from usersegments.warehouse import latest_segmentation_run, read_segmentation

LABEL = "interest_category"
# Fused-vector columns that define the label (share_<category>): never classifier input.
LABEL_DEFINING_PREFIX = "share_"
TEST_SHARE = 0.2
SEED = 42
# A class with fewer users cannot be split and learnt; its users are left out (and named).
MIN_CLASS_USERS = 10


class NotEnoughClasses(ValueError):
    """The data has fewer than two interests with enough users to learn them."""


@dataclass(frozen=True)
class Split:
    segmentation_run_id: str
    train: pd.DataFrame  # user_key, features..., interest_category
    test: pd.DataFrame
    feature_columns: list[str]
    excluded_classes: dict[str, int]  # label -> users, classes too small to learn

    def x(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[self.feature_columns]


def feature_columns(features: pd.DataFrame) -> list[str]:
    return [
        c
        for c in features.columns
        if c not in ("user_key", LABEL) and not c.startswith(LABEL_DEFINING_PREFIX)
    ]


def labelled_users(settings: Settings, segmentation_run_id: str) -> pd.DataFrame:
    """One row per user of the run: user_key, the fused features, the label."""
    features = read_segmentation(settings, "features", segmentation_run_id).drop(
        columns="run_id", errors="ignore"
    )
    labels = pd.read_parquet(
        settings.lake.clean("users"), columns=["user_key", "primary_category"]
    ).rename(columns={"primary_category": LABEL})
    frame = features.merge(labels, on="user_key", how="inner", validate="one_to_one")
    if len(frame) != len(features):
        raise ValueError(
            f"segmentation run {segmentation_run_id}: {len(features) - len(frame)} users have "
            "features but no row in the users mart"
        )
    return frame.sort_values("user_key", ignore_index=True)


def split_users(
    frame: pd.DataFrame, test_share: float = TEST_SHARE, seed: int = SEED
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out users, stratified by label, with a fixed seed (rows sorted by user key
    first, so the same users give the same split). A user is in exactly one part."""
    from sklearn.model_selection import train_test_split

    frame = frame.sort_values("user_key", ignore_index=True)
    train, test = train_test_split(
        frame, test_size=test_share, stratify=frame[LABEL], random_state=seed
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def load_split(settings: Settings, segmentation_run_id: str | None = None) -> Split:
    # the lake's form of the id (Airflow's run ids contain ':' and '+')
    run_id = (
        partition_name(segmentation_run_id)
        if segmentation_run_id
        else latest_segmentation_run(settings)
    )
    frame = labelled_users(settings, run_id)
    sizes = frame[LABEL].value_counts()
    excluded = {str(k): int(v) for k, v in sizes[sizes < MIN_CLASS_USERS].sort_index().items()}
    frame = frame[~frame[LABEL].isin(excluded)]
    if frame[LABEL].nunique() < 2:
        raise NotEnoughClasses(
            f"segmentation run {run_id}: interests with at least {MIN_CLASS_USERS} users: "
            f"{sorted(frame[LABEL].unique())} (too few: {excluded}); a classifier needs two"
        )
    train, test = split_users(frame)
    return Split(run_id, train, test, feature_columns(frame), excluded)
