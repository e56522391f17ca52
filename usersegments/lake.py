"""The lake: the one place that names its paths.

    raw/reviews/<file>.parquet, raw/quarantine/<file>.parquet      ingest
    clean/<mart>.parquet                                          dbt's exported marts
    embeddings/reviews/model_version=<v>/batch=<run>/             review vectors
    embeddings/texts/model_version=<v>/batch=<run>/               vectors by text hash
    embeddings/users/model_version=<v>/                           user text vectors
    segments/<table>/run_id=<run>/                                segmentation runs
    segments/feature_pipeline/run_id=<run>/                       the fitted fusion
    segments_eval/<table>/run_id=<run>/                           the evaluation refit
    recommendations/<table>/run_id=<run>/                         lists and evaluation
    classifier/split/run_id=<run>/role=train|heldout/             the classifier's users
    scores/user_interest_scores/scoring_run_id=<run>/             the scoring DAG

Partition folders hold run ids made safe for paths by ``partition_name``: Airflow's run
ids contain ':' and '+', and every writer and reader uses the same rule. dbt reads the
same paths through its sources' ``external_location`` (tests/unit/test_lake.py keeps
the two in step). Writers of single files go through ``write_parquet_atomically``:
readers never see half a file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# ASCII letters, digits, '-', '_' and '.': what every file system and URI takes as is
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

SEGMENTATION = "segments"
EVALUATION_SEGMENTATION = "segments_eval"


def partition_name(run_id: str) -> str:
    """A run id as a partition folder value: every other character becomes '_'."""
    return _UNSAFE.sub("_", run_id)


@dataclass(frozen=True)
class Lake:
    root: Path

    # -- ingest
    def raw_reviews(self, stem: str = "*") -> Path:
        return self.root / "raw" / "reviews" / f"{stem}.parquet"

    def quarantine(self, stem: str = "*") -> Path:
        return self.root / "raw" / "quarantine" / f"{stem}.parquet"

    # -- dbt's exported marts
    @property
    def clean_dir(self) -> Path:
        return self.root / "clean"

    def clean(self, mart: str) -> Path:
        return self.clean_dir / f"{mart}.parquet"

    # -- embeddings
    def review_vectors(self, model_version: str | None = None) -> Path:
        folder = self.root / "embeddings" / "reviews"
        return folder / f"model_version={model_version}" if model_version else folder

    def text_vectors(self, model_version: str | None = None) -> Path:
        folder = self.root / "embeddings" / "texts"
        return folder / f"model_version={model_version}" if model_version else folder

    def user_vectors(self, model_version: str | None = None) -> Path:
        folder = self.root / "embeddings" / "users"
        return folder / f"model_version={model_version}" if model_version else folder

    # -- segmentation runs (root: SEGMENTATION, or EVALUATION_SEGMENTATION for the refit)
    def segmentation(self, table: str, run_id: str | None = None, root: str = SEGMENTATION) -> Path:
        folder = self.root / root / table
        return folder / f"run_id={partition_name(run_id)}" if run_id else folder

    def evaluation_segmentation(self, table: str, run_id: str | None = None) -> Path:
        return self.segmentation(table, run_id, root=EVALUATION_SEGMENTATION)

    @property
    def spark_checkpoints(self) -> Path:
        return self.root / "_spark_checkpoints"

    # -- the interest classifier's users of a segmentation run
    def classifier_split(self, run_id: str) -> Path:
        return self.root / "classifier" / "split" / f"run_id={partition_name(run_id)}"

    # -- recommendations and scores
    def recommendations(self, table: str, run_id: str | None = None) -> Path:
        folder = self.root / "recommendations" / table
        return folder / f"run_id={partition_name(run_id)}" if run_id else folder

    def scores(self, scoring_run_id: str | None = None) -> Path:
        folder = self.root / "scores" / "user_interest_scores"
        return (
            folder / f"scoring_run_id={partition_name(scoring_run_id)}"
            if scoring_run_id
            else folder
        )


def write_parquet_atomically(table, target: Path) -> Path:
    """Write a pyarrow table to ``target`` through a hidden temporary file and a rename."""
    import pyarrow.parquet as pq

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.tmp")
    pq.write_table(table, partial)
    os.replace(partial, target)
    return target
