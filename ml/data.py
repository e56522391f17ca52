"""The classifier's data: every user's fused features from a segmentation run, their
interest label from the users mart, and the split into training and held-out users.

Label: ``primary_category`` of the ``users`` mart, the category of most of the user's
reviews; a tie goes to the alphabetically first category (int_users__behaviour_features).

Features: the segmentation run's fused vector (behaviour, text embedding, co-review
graph; lake/segments/features) except the category shares: the label is the largest of
them, so a model given them would learn the label's definition, not the user.

The split is made in Spark and written to the lake once per segmentation run
(``Lake.classifier_split``), with a small ``split.json`` of its classes and sizes.
Training, the candidates' evaluation and the promotion gate read it from there: the
held-out users in bounded batches (``Split.batches``), the training users whole only
for the single-machine candidates, which run below a stated size (ml.train). O(users)
in Spark; no full-size frame on the driver.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ml.metrics import confusion_counts
from usersegments.config import Settings
from usersegments.lake import partition_name
from usersegments.warehouse import latest_segmentation_run

LABEL = "interest_category"
# Fused-vector columns that define the label (share_<category>): never classifier input.
LABEL_DEFINING_PREFIX = "share_"
TEST_SHARE = 0.2
SEED = 42
# A class with fewer users cannot be split and learnt; its users are left out (and named).
MIN_CLASS_USERS = 10
# Held-out users are scored this many at a time (~170 MB of 420 float64 columns).
BATCH_USERS = 50_000
ROLES = ("train", "heldout")


class NotEnoughClasses(ValueError):
    """The data has fewer than two interests with enough users to learn them."""


@dataclass(frozen=True)
class Split:
    segmentation_run_id: str
    folder: str  # lake/classifier/split/run_id=<run>/
    feature_columns: list[str]
    classes: list[str]
    excluded_classes: dict[str, int]  # label -> users, classes too small to learn
    users: dict[str, dict[str, int]]  # role -> label -> users

    def size(self, role: str) -> int:
        return sum(self.users[role].values())

    @property
    def majority_class(self) -> str:
        """The commonest training label (a tie: the alphabetically first)."""
        counts = self.users["train"]
        return min(counts, key=lambda label: (-counts[label], label))

    def part(self, role: str) -> Path:
        return Path(self.folder) / f"role={role}"

    def batches(self, role: str, batch_users: int = BATCH_USERS) -> Iterator[pd.DataFrame]:
        """The role's users (user_key, features..., label), at most ``batch_users`` a frame."""
        import pyarrow.dataset as ds

        dataset = ds.dataset(self.part(role), format="parquet")
        for batch in dataset.to_batches(batch_size=batch_users):
            if batch.num_rows:
                yield batch.to_pandas()

    def frame(self, role: str) -> pd.DataFrame:
        """All of the role's users in one frame sorted by user key: for the
        single-machine candidates, which only run below ml.train's stated size."""
        return pd.concat(list(self.batches(role)), ignore_index=True).sort_values(
            "user_key", ignore_index=True
        )

    def x(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[self.feature_columns]

    def heldout_confusion(self, predict: Callable[[pd.DataFrame], Sequence]) -> np.ndarray:
        """Counts[true, predicted label] of ``predict`` (features -> labels) over the
        held-out users, a batch at a time: O(held-out users), bounded memory."""
        matrix = confusion_counts([], [], self.classes)
        for batch in self.batches("heldout"):
            predicted = [str(label) for label in predict(self.x(batch))]
            matrix += confusion_counts(batch[LABEL], predicted, self.classes)
        return matrix

    def example(self, rows: int = 3) -> pd.DataFrame:
        """The first training users' features (an MLflow input example)."""
        return self.x(next(self.batches("train", rows)))


def feature_columns(columns: list[str]) -> list[str]:
    return [
        c
        for c in columns
        if c not in ("user_key", LABEL) and not c.startswith(LABEL_DEFINING_PREFIX)
    ]


def labelled_users(spark: SparkSession, settings: Settings, run_id: str) -> DataFrame:
    """One row per user of the run: user_key, the fused features, the label."""
    features = spark.read.parquet(str(settings.lake.segmentation("features", run_id)))
    features = features.drop("run_id")
    labels = spark.read.parquet(str(settings.lake.clean("users"))).select(
        "user_key", F.col("primary_category").alias(LABEL)
    )
    frame = features.join(labels, "user_key")
    missing = features.count() - frame.count()
    if missing:
        raise ValueError(
            f"segmentation run {run_id}: {missing} users have features but no row in the users mart"
        )
    return frame


def split_roles(users: DataFrame, test_share: float = TEST_SHARE, seed: int = SEED) -> DataFrame:
    """(user_key, label, role): within each label, the round(share × users) users first
    by a seeded hash of their key are held out, the others train. Stratified exactly, a
    user in one part, the same users give the same split whatever the row order or
    partitioning. O(users log users): a sort per label of (key, label) rows only."""
    draw = F.xxhash64(F.lit(seed), "user_key")
    by_label = Window.partitionBy(LABEL)
    rank = F.row_number().over(by_label.orderBy(draw, "user_key"))
    held_out = rank <= F.round(F.count("*").over(by_label) * test_share)
    return users.select(
        "user_key", LABEL, F.when(held_out, "heldout").otherwise("train").alias("role")
    )


def write_split(
    spark: SparkSession, settings: Settings, segmentation_run_id: str | None = None
) -> Split:
    """Split the run's labelled users (classes under MIN_CLASS_USERS left out) and write
    both parts and ``split.json``; a rerun writes the same split."""
    run_id = lake_run_id(settings, segmentation_run_id)
    frame = labelled_users(spark, settings, run_id)
    sizes = {r[LABEL]: r["count"] for r in frame.groupBy(LABEL).count().collect()}
    excluded = {str(k): int(v) for k, v in sorted(sizes.items()) if v < MIN_CLASS_USERS}
    kept = sorted(set(sizes) - set(excluded))
    if len(kept) < 2:
        raise NotEnoughClasses(
            f"segmentation run {run_id}: interests with at least {MIN_CLASS_USERS} users: "
            f"{kept} (too few: {excluded}); a classifier needs two"
        )
    frame = frame.where(F.col(LABEL).isin(kept))
    roles = split_roles(frame.select("user_key", LABEL))
    folder = settings.lake.classifier_split(run_id)
    frame.join(roles.select("user_key", "role"), "user_key").write.mode("overwrite").partitionBy(
        "role"
    ).parquet(str(folder))
    users = {role: dict.fromkeys(kept, 0) for role in ROLES}
    written = spark.read.parquet(str(folder)).groupBy("role", LABEL).count()
    for row in written.collect():
        users[row["role"]][row[LABEL]] = row["count"]
    split = Split(run_id, str(folder), feature_columns(frame.columns), kept, excluded, users)
    # the folder is not written: a copied lake's split is read where it is
    (folder / "split.json").write_text(json.dumps({**asdict(split), "folder": None}, indent=2))
    return split


def lake_run_id(settings: Settings, segmentation_run_id: str | None) -> str:
    """The lake's form of the run id (Airflow's run ids contain ':' and '+'); None: the
    newest segmentation run."""
    if segmentation_run_id:
        return partition_name(segmentation_run_id)
    return latest_segmentation_run(settings)


def load_split(settings: Settings, segmentation_run_id: str | None = None) -> Split:
    """The split ml.train wrote for the run (default: the newest run)."""
    run_id = lake_run_id(settings, segmentation_run_id)
    written = settings.lake.classifier_split(run_id) / "split.json"
    if not written.exists():
        raise FileNotFoundError(f"segmentation run {run_id} has no classifier split: run ml.train")
    return Split(**{**json.loads(written.read_text()), "folder": str(written.parent)})
