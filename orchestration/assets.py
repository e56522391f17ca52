"""The Airflow assets the DAGs publish and schedule on (data-aware scheduling).

Named by where they live, relative to the data folder (``x-usersegments://lake/...``)
or in which service, so that they are constants whatever the deployment's paths.
"""

from __future__ import annotations

from airflow.sdk import Asset


def _lake(name: str, path: str) -> Asset:
    return Asset(name=name, uri=f"x-usersegments://lake/{path}")


RAW_REVIEWS = _lake("lake.raw.reviews", "raw/reviews")
PUBLISHED_MARTS = [
    _lake(f"warehouse.{table}", f"clean/{table}.parquet") for table in ("reviews", "users", "items")
]
REVIEW_EMBEDDINGS = _lake("lake.embeddings.reviews", "embeddings/reviews")
# The segmentation runs (lake/segments/<table>/run_id=...), published once validated;
# the scoring DAG runs on each update.
USER_SEGMENTS = _lake("lake.segments", "segments")
# Per-segment item rankings, per-user top-N lists and their offline evaluation.
SEGMENT_RECOMMENDATIONS = _lake("lake.recommendations", "recommendations")
USER_INTEREST_SCORES = _lake("lake.scores.user_interest_scores", "scores/user_interest_scores")
# The registered interest classifier's aliases, after the promotion gate.
INTEREST_CLASSIFIER = Asset(
    name="mlflow.interest_classifier", uri="x-usersegments://mlflow/interest_classifier"
)
