"""Every segmentation run as an MLflow run (experiment ``user_segmentation``), read back
from the run's lake tables: what it was asked (params), how each candidate k scored
(metrics ``k_sweep.*`` with step = k, so MLflow draws the curves), what it chose, how
stable its segments are, how far it moved from the previous run, and its HTML report.

A rerun of the same pipeline run replaces its MLflow run: one MLflow run per
segmentation run, found by the tag ``segmentation_run_id``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml import tracking
from usersegments.config import Settings
from usersegments.lake import partition_name
from usersegments.warehouse import read_segmentation

EXPERIMENT = "user_segmentation"
PARAMS = (
    "algorithm",
    "k_min",
    "k_max",
    "k_selection",
    "feature_weights",
    "seed",
    "restarts",
    "subsamples",
    "min_segment_share",
    "embedding_model_version",
    "start",
    "previous_run_id",
    "as_of",
    "refit",
    "refit_reason",
    "model_run_id",
)
SWEEP_METRICS = ("silhouette", "macro_silhouette", "macro_silhouette_noise", "stability", "cost")


def run_metrics(run: pd.Series, segments: pd.DataFrame) -> dict[str, float]:
    """The chosen clustering's numbers and each segment's size and stability."""
    names = (
        "k",
        "silhouette",
        "macro_silhouette",
        "stability",
        "unstable_segments",
        "users",
        "ari_previous",
        "unchanged_id_share",
        "warm_cost_ratio",
        "intervals_since_refit",
    )
    metrics = {name: float(run[name]) for name in names if pd.notna(run.get(name))}
    for row in segments.itertuples():
        metrics[f"segment_{row.segment_id}.users"] = float(row.user_count)
        if pd.notna(row.stability):
            metrics[f"segment_{row.segment_id}.stability"] = float(row.stability)
    return metrics


def log_segmentation(settings: Settings, run_id: str, report: Path) -> str:
    """Log segmentation run ``run_id`` (its tables must be written); the MLflow run id."""
    import mlflow

    run_id = partition_name(run_id)
    run = read_segmentation(settings, "runs", run_id).iloc[0]
    sweep = read_segmentation(settings, "model_selection", run_id).sort_values("k")
    segments = read_segmentation(settings, "segments", run_id).sort_values("segment_id")
    client = tracking.configure(settings)
    experiment = tracking.experiment_id(client, EXPERIMENT, settings)
    for earlier in client.search_runs([experiment], f"tags.segmentation_run_id = '{run_id}'"):
        client.delete_run(earlier.info.run_id)
    with mlflow.start_run(
        experiment_id=experiment,
        run_name=f"segmentation {run_id}",
        tags={"segmentation_run_id": run_id},
    ) as logged:
        mlflow.log_params({name: run[name] for name in PARAMS if pd.notna(run.get(name))})
        for row in sweep.itertuples():
            for name in SWEEP_METRICS:
                value = getattr(row, name)
                if pd.notna(value):
                    mlflow.log_metric(f"k_sweep.{name}", float(value), step=int(row.k))
        mlflow.log_metrics(run_metrics(run, segments))
        mlflow.log_table(
            segments[["segment_id", "segment_name", "user_count", "stability", "is_stable"]],
            "segments.json",
        )
        mlflow.log_artifact(str(report))
    return logged.info.run_id
