"""Score users not yet scored with the champion, and place them in the nearest
current segment.

    python -m ml.scoring --scoring-run-id RUN

Reads every user's fused features from the newest segmentation run, leaves out users
some earlier scoring run already scored, predicts the interest of the rest with the
model version ``models:/<name>@champion`` points at, and assigns each to the nearest
centroid (Euclidean, in the fused space) of that run's segments. Writes one partition,
lake/scores/user_interest_scores/scoring_run_id=<run>/, with the model version and
both run ids; a rerun of the same scoring run replaces its own partition.
"""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from ml import tracking
from usersegments.config import Settings
from usersegments.warehouse import (
    SCORE_COLUMNS,
    latest_segmentation_run,
    read_scores,
    read_segmentation,
)


class ChampionMissing(RuntimeError):
    pass


def nearest_centroids(
    vectors: np.ndarray, centroids: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest centroid (segment id) and its Euclidean distance."""
    matrix = np.vstack(centroids["centroid"].to_numpy())
    squared = (
        (vectors * vectors).sum(axis=1)[:, None]
        - 2 * vectors @ matrix.T
        + (matrix * matrix).sum(axis=1)[None, :]
    )
    nearest = squared.argmin(axis=1)
    distances = np.sqrt(np.maximum(squared[np.arange(len(vectors)), nearest], 0.0))
    return centroids["segment_id"].to_numpy()[nearest], distances


def score_new_users(settings: Settings, scoring_run_id: str) -> dict[str, Any]:
    import mlflow

    client = tracking.configure(settings)
    name = tracking.model_name(settings)
    from ml.registry import alias_version

    version = alias_version(client, name, "champion")
    if version is None:
        raise ChampionMissing(
            f"{name} has no champion: train and promote a model first (ml.train, ml.registry)"
        )
    model_version = client.get_model_version(name, str(version))

    segmentation_run_id = latest_segmentation_run(settings)
    features = read_segmentation(settings, "features", segmentation_run_id).drop(
        columns="run_id", errors="ignore"
    )
    out = settings.lake.scores(scoring_run_id)
    if out.exists():
        shutil.rmtree(out)  # this run's own earlier attempt: recomputed below
    already = set(read_scores(settings)["user_key"])
    new = features[~features["user_key"].isin(already)].sort_values("user_key", ignore_index=True)

    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    inputs = model.metadata.get_input_schema().input_names()
    missing = sorted(set(inputs) - set(features.columns))
    if missing:
        raise ValueError(
            f"{name} v{version} needs features the segmentation run {segmentation_run_id} does not have: "
            f"{missing[:5]}{'...' if len(missing) > 5 else ''}"
        )
    centroids = read_segmentation(settings, "centroids", segmentation_run_id)
    vector_columns = [c for c in features.columns if c != "user_key"]
    scored = pd.DataFrame({"user_key": new["user_key"]})
    if len(new):
        scored["predicted_interest"] = [str(p) for p in model.predict(new[inputs])]
        segment, distance = nearest_centroids(new[vector_columns].to_numpy(dtype=float), centroids)
        scored["segment_id"] = segment.astype("int32")
        scored["distance_to_centroid"] = distance
    else:
        scored = pd.DataFrame(
            {
                "user_key": pd.Series(dtype=str),
                "predicted_interest": pd.Series(dtype=str),
                "segment_id": pd.Series(dtype="int32"),
                "distance_to_centroid": pd.Series(dtype=float),
            }
        )
    scored["model_name"] = name
    scored["model_version"] = int(version)
    scored["model_run_id"] = model_version.run_id
    scored["segmentation_run_id"] = segmentation_run_id
    scored["scored_at"] = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None, microsecond=0))
    if len(scored):
        out.mkdir(parents=True)
        scored[SCORE_COLUMNS].to_parquet(out / "part-0.parquet", index=False)
    return {
        "scoring_run_id": scoring_run_id,
        "segmentation_run_id": segmentation_run_id,
        "model_name": name,
        "model_version": int(version),
        "users_read": len(features),
        "already_scored": len(features) - len(new),
        "scored": len(scored),
        "by_interest": scored["predicted_interest"].value_counts().sort_index().to_dict()
        if len(scored)
        else {},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Score the users not yet scored with the champion."
    )
    parser.add_argument("--scoring-run-id", default=f"manual__{datetime.now(UTC):%Y%m%dT%H%M%S}")
    args = parser.parse_args(argv)
    print(
        json.dumps(score_new_users(Settings.from_env(), args.scoring_run_id), indent=2, default=str)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
