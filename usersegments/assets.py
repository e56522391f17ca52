"""The Airflow assets the DAGs publish and schedule on (data-aware scheduling)."""

from __future__ import annotations

from airflow.sdk import Asset

from usersegments.config import Settings

SETTINGS = Settings.from_env()

RAW_REVIEWS = Asset(name="lake.raw.reviews", uri=f"file://{SETTINGS.lake_dir}/raw/reviews")
PUBLISHED_MARTS = [
    Asset(name=f"warehouse.{table}", uri=f"file://{SETTINGS.lake_dir}/clean/{table}.parquet")
    for table in ("reviews", "users", "items")
]
REVIEW_EMBEDDINGS = Asset(
    name="lake.embeddings.reviews", uri=f"file://{SETTINGS.lake_dir}/embeddings/reviews"
)
# The segmentation runs (lake/segments/<table>/run_id=...), published once validated;
# the scoring DAG runs on each update.
USER_SEGMENTS = Asset(name="lake.segments", uri=f"file://{SETTINGS.lake_dir}/segments")
# The registered interest classifier's aliases, after the promotion gate.
INTEREST_CLASSIFIER = Asset(name="mlflow.interest_classifier")
USER_INTEREST_SCORES = Asset(
    name="lake.scores.user_interest_scores",
    uri=f"file://{SETTINGS.lake_dir}/scores/user_interest_scores",
)
# Per-segment item rankings, per-user top-N lists and their offline evaluation.
SEGMENT_RECOMMENDATIONS = Asset(
    name="lake.recommendations", uri=f"file://{SETTINGS.lake_dir}/recommendations"
)
