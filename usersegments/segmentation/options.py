"""What a segmentation run is asked for, checked before any Spark work starts."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

ALGORITHMS = ("kmeans", "bisecting_kmeans", "gaussian_mixture")
FEATURE_GROUPS = ("behaviour", "text", "graph")
DEFAULT_WEIGHTS = {"behaviour": 1.0, "text": 1.0, "graph": 1.0}


@dataclass(frozen=True)
class SegmentationOptions:
    algorithm: str = "kmeans"
    k: int = 0  # 0: chosen among k_min..k_max
    k_min: int = 3
    k_max: int = 10
    # k with a smaller segment (share of the users) is not chosen
    min_segment_share: float = 0.01
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    seed: int = 42
    max_iter: int = 40
    # seeded starts per fit; the lowest cost is kept (scikit-learn's n_init)
    restarts: int = 10
    # seeded subsamples each k is refitted on, for its stability and the segments'
    subsamples: int = 5
    subsample_share: float = 0.8
    # a k whose subsample fits agree less than this (mean ARI) is not chosen
    min_k_stability: float = 0.8
    # a segment whose mean best Jaccard over the subsamples is below this is unstable
    stability_floor: float = 0.6
    # start from the previous run's centroids when it had the chosen k (k-means)
    warm_start: bool = True
    pagerank_iterations: int = 20
    # gaussian_mixture: the principal components it is fitted on
    mixture_components: int = 16
    top_terms: int = 10
    examples: int = 3  # representative reviews per segment
    partitions: int = 0  # of the user features; 0: features.feature_partitions

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm {self.algorithm!r}: expected one of {ALGORITHMS}")
        if self.k == 1 or self.k < 0:
            raise ValueError(f"k={self.k}: 0 (choose) or at least 2")
        if not self.k and not 2 <= self.k_min <= self.k_max:
            raise ValueError(f"k range {self.k_min}..{self.k_max}: need 2 <= k_min <= k_max")
        min_segment_users(self.min_segment_share, 1)  # checks the share
        if self.restarts < 1 or self.subsamples < 0:
            raise ValueError(f"restarts={self.restarts}, subsamples={self.subsamples}")
        for name in ("subsample_share", "min_k_stability", "stability_floor"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name}={getattr(self, name)}: expected in (0, 1]")

    def candidate_ks(self, users: int) -> list[int]:
        """The k to fit: the forced one, or the range (no k above users - 1)."""
        return [self.k] if self.k else list(range(self.k_min, min(self.k_max, users - 1) + 1))


def parse_weights(text: str | None) -> dict[str, float]:
    """Feature group weights from JSON (``{"text": 2}``) or ``text=2,graph=0.5``;
    groups not named keep weight 1."""
    weights = dict(DEFAULT_WEIGHTS)
    if not text:
        return weights
    text = text.strip()
    if text.startswith("{"):
        given = json.loads(text)
    else:
        given = dict(part.split("=", 1) for part in text.split(",") if part.strip())
    for group, value in given.items():
        group = group.strip()
        if group not in weights:
            raise ValueError(f"unknown feature group {group!r}: expected one of {FEATURE_GROUPS}")
        value = float(value)
        if value < 0 or math.isnan(value):
            raise ValueError(f"weight of {group} must be >= 0, got {value}")
        weights[group] = value
    if not any(weights.values()):
        raise ValueError("at least one feature group needs a weight above 0")
    return weights


def min_segment_users(share: float, users: int) -> int:
    """The smallest segment allowed, in users: a share of them, at least one."""
    if not 0 <= share < 1:
        raise ValueError(f"min segment share must be in [0, 1), got {share}")
    return max(1, math.ceil(share * users))
