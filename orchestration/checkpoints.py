"""The Great Expectations checkpoints that gate the pipeline DAG, in the order it passes
them, and the expectation parameters each takes from a run's params (the scoring DAG's
``user_scores`` takes its own)."""

from __future__ import annotations

from usersegments.config import Settings

PIPELINE_CHECKPOINTS = (
    "raw_reviews",
    "staged_reviews",
    "user_features",
    "review_embeddings",
    "user_segments",
    "recommendations",
)


def expectation_parameters(checkpoint: str, params: dict, settings: Settings) -> dict:
    """The ``$PARAMETER`` thresholds a checkpoint takes from a run's params."""
    if checkpoint == "user_segments":
        from usersegments.quality import min_segment_size

        return {
            "min_segment_size": min_segment_size(settings, params["min_segment_share"]),
            "max_moved_share": params["max_moved_share"],
        }
    if checkpoint == "recommendations":
        return {"top_n": params["recommendation_count"]}
    return {}
