"""Score users not yet scored with the champion, and place them in the nearest
current segment.

    python -m ml.scoring --scoring-run-id RUN

Reads every user's fused features from the newest segmentation run, leaves out users
some earlier scoring run already scored, predicts the interest of the rest with the
model version ``models:/<name>@champion`` points at, and assigns each to the nearest
centroid (Euclidean, in the fused space) of that run's segments. Writes one partition,
lake/scores/user_interest_scores/scoring_run_id=<run>/, with the model version and
both run ids; a rerun of the same scoring run replaces its own partition.

Users stream through in batches of ``BATCH_USERS`` (DuckDB selects the unscored ones,
a Parquet writer appends each batch), so memory does not grow with the users: O(users)
time, O(batch) memory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from ml import tracking
from usersegments.config import Settings
from usersegments.segmentation.centroids import nearest
from usersegments.warehouse import (
    SCORE_COLUMNS,
    latest_segmentation_run,
    read_segmentation,
)


class ChampionMissing(RuntimeError):
    pass


def nearest_centroids(
    vectors: np.ndarray, centroids: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest centroid (segment id) and its Euclidean distance."""
    index, distances = nearest(vectors, np.vstack(centroids["centroid"].to_numpy()))
    return centroids["segment_id"].to_numpy()[index], distances


# Users scored per batch: memory is O(batch x features), never O(users).
BATCH_USERS = 50_000


def features_source(settings: Settings, segmentation_run_id: str) -> str:
    """DuckDB's reader of the run's fused features (one row per user)."""
    features = settings.lake.segmentation("features", segmentation_run_id)
    if not features.exists():
        raise FileNotFoundError(
            f"run {segmentation_run_id} has no segmentation table 'features' at {features}"
        )
    return f"read_parquet('{features}/*.parquet', hive_partitioning = false)"


def unscored_query(settings: Settings, segmentation_run_id: str) -> str:
    """DuckDB SQL: the fused features of the users no scoring run has scored yet,
    ordered by user. The anti join runs in DuckDB (out of core if it must)."""
    query = f"select * from {features_source(settings, segmentation_run_id)}"
    scored = sorted(settings.lake.scores().glob("scoring_run_id=*/*.parquet"))
    if scored:
        files = ", ".join(f"'{p}'" for p in scored)
        query += (
            " where user_key not in "
            f"(select user_key from read_parquet([{files}], hive_partitioning = false))"
        )
    return query + " order by user_key"


def score_batch(users: pd.DataFrame, model, inputs: list[str], centroids) -> pd.DataFrame:
    """A batch of users' predicted interest and nearest segment (and its distance)."""
    vectors = users.drop(columns="user_key").to_numpy(dtype=float)
    segment, distance = nearest_centroids(vectors, centroids)
    return pd.DataFrame(
        {
            "user_key": users["user_key"],
            "predicted_interest": [str(p) for p in model.predict(users[inputs])],
            "segment_id": segment.astype("int32"),
            "distance_to_centroid": distance,
        }
    )


def score_new_users(settings: Settings, scoring_run_id: str) -> dict[str, Any]:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ml.registry import alias_version

    client = tracking.configure(settings)
    name = tracking.model_name(settings)
    version = alias_version(client, name, "champion")
    if version is None:
        raise ChampionMissing(
            f"{name} has no champion: train and promote a model first (ml.train, ml.registry)"
        )
    model_version = client.get_model_version(name, str(version))
    segmentation_run_id = latest_segmentation_run(settings)
    out = settings.lake.scores(scoring_run_id)
    if out.exists():
        shutil.rmtree(out)  # this run's own earlier attempt: recomputed below

    model = tracking.load_model(settings, f"models:/{name}/{version}")
    inputs = model.metadata.get_input_schema().input_names()
    centroids = read_segmentation(settings, "centroids", segmentation_run_id)
    constants = {
        "model_name": name,
        "model_version": int(version),
        "model_run_id": model_version.run_id,
        "segmentation_run_id": segmentation_run_id,
        "scored_at": pd.Timestamp(datetime.now(UTC).replace(tzinfo=None, microsecond=0)),
    }
    by_interest: Counter[str] = Counter()
    target = out / "part-0.parquet"
    partial = out / ".part-0.parquet.tmp"  # readers take *.parquet: the batch appears whole
    writer = None
    with duckdb.connect() as con:
        [(users,)] = con.execute(
            f"select count(*) from {features_source(settings, segmentation_run_id)}"
        ).fetchall()
        unscored = con.sql(unscored_query(settings, segmentation_run_id))
        missing = sorted(set(inputs) - set(unscored.columns))
        if missing:
            raise ValueError(
                f"{name} v{version} needs features the segmentation run "
                f"{segmentation_run_id} does not have: "
                f"{missing[:5]}{'...' if len(missing) > 5 else ''}"
            )
        for batch in unscored.to_arrow_reader(BATCH_USERS):
            scored = score_batch(batch.to_pandas(), model, inputs, centroids).assign(**constants)
            by_interest.update(scored["predicted_interest"])
            table = pa.Table.from_pandas(scored[SCORE_COLUMNS], preserve_index=False)
            if writer is None:
                out.mkdir(parents=True)
                writer = pq.ParquetWriter(partial, table.schema)
            writer.write_table(table)
    if writer is not None:
        writer.close()
        os.replace(partial, target)
    scored_users = sum(by_interest.values())
    return {
        "scoring_run_id": scoring_run_id,
        "segmentation_run_id": segmentation_run_id,
        "model_name": name,
        "model_version": int(version),
        "users_read": users,
        "already_scored": users - scored_users,
        "scored": scored_users,
        "by_interest": dict(sorted(by_interest.items())),
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
