"""When a scheduled run refits the segments, and when it only places the users.

A run with a data interval places its users with the current model (the saved fusion
pipeline and the centroids of the last refit) unless the policy asks for a refit:

- forced (the ``force_refit`` param), or a run without a data interval (a manual run
  sees everything and is refitted, as before intervals existed);
- the first run, or a change of what the model was fitted with (the encoder, the
  algorithm, the feature weights, a forced k, the seed);
- every ``every`` intervals (the runs since the last refit, this one included);
- after placing: new feature columns (a category the model never saw), a segment
  below the smallest size allowed, or drift, a larger share of the users of both runs
  moved than ``max_moved_share``.

The decision is a function of the previous run's row and this run's settings, so a
rerun of an interval decides as its first attempt did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from usersegments.segmentation.options import SegmentationOptions


@dataclass(frozen=True)
class RefitPolicy:
    every: int = 3  # a refit at least every this many intervals
    max_moved_share: float = 0.3  # placing that moves more of the shared users refits
    force: bool = False

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"refit every {self.every} intervals: expected at least 1")
        if not 0 <= self.max_moved_share <= 1:
            raise ValueError(f"max moved share {self.max_moved_share}: expected in [0, 1]")


def changed_settings(
    previous: dict, options: SegmentationOptions, embedding_version: str
) -> list[str]:
    """What this run asks for that the current model was not fitted with."""
    changes = []
    if previous["embedding_model_version"] != embedding_version:
        changes.append("encoder")
    if previous["algorithm"] != options.algorithm:
        changes.append("algorithm")
    if json.loads(previous["feature_weights"]) != options.weights:
        changes.append("feature weights")
    if options.k and options.k != previous["k"]:
        changes.append("k")
    if previous["seed"] != options.seed:
        changes.append("seed")
    return changes


def refit_reason(
    policy: RefitPolicy,
    options: SegmentationOptions,
    embedding_version: str,
    as_of: datetime | None,
    previous: dict | None,
) -> str | None:
    """Why this run refits before any placing, or None: place with the current model."""
    if policy.force:
        return "forced"
    if as_of is None:
        return "no data interval (a manual run refits on everything)"
    if previous is None:
        return "first run"
    changes = changed_settings(previous, options, embedding_version)
    if changes:
        return "settings changed: " + ", ".join(changes)
    since = intervals_since_refit(previous) + 1
    if since >= policy.every:
        return f"scheduled: {since} intervals since the last refit (every {policy.every})"
    return None


def intervals_since_refit(run: dict) -> int:
    """0 for a refit run; n for the n-th placing run after one (older rows: 0)."""
    return run.get("intervals_since_refit") or 0


def model_run_id(run: dict) -> str:
    """The refit run whose model placed ``run`` (itself, if it refitted)."""
    return run.get("model_run_id") or run["run_id"]


def placement_refit_reason(
    policy: RefitPolicy,
    new_columns: list[str],
    sizes: dict[int, int],
    min_size: int,
    moved_share: float | None,
) -> str | None:
    """Why a placing run refits after all, having placed the users, or None."""
    if new_columns:
        return f"new feature columns: {', '.join(sorted(new_columns)[:5])}"
    small = {segment: n for segment, n in sorted(sizes.items()) if n < min_size}
    if small:
        segment, n = next(iter(small.items()))
        return f"segment {segment} fell to {n} users (smallest allowed {min_size})"
    if moved_share is not None and moved_share > policy.max_moved_share:
        return (
            f"drift: {moved_share:.3f} of the shared users moved (limit {policy.max_moved_share})"
        )
    return None
