"""Segmentation logic that runs on the Spark driver over small tables (one row per
segment or per segment and term): stable ids, distinctive terms, readable names.

The Spark job ``spark_jobs/segment_users.py`` does the per-user work in Spark and calls
these on what it collects; they are plain pandas/numpy so they are unit-tested alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

ALGORITHMS = ("kmeans", "bisecting_kmeans", "gaussian_mixture")
FEATURE_GROUPS = ("behaviour", "text", "graph")
DEFAULT_WEIGHTS = {"behaviour": 1.0, "text": 1.0, "graph": 1.0}

# Readable labels of the review categories (dbt var review_categories).
CATEGORY_LABELS = {
    "all_beauty": "Beauty",
    "amazon_fashion": "Fashion",
    "appliances": "Appliance",
    "gift_cards": "Gift card",
    "magazine_subscriptions": "Magazine",
    "musical_instruments": "Musician",
}

# Behaviour traits a name can mention: (feature, phrase when above, phrase when below).
# A segment is described by the trait where it differs most from the population,
# in population standard deviations.
TRAITS = (
    ("mean_rating", "enthusiasts", "critics"),
    ("review_count", "regulars", "one-off reviewers"),
    ("mean_review_words", "storytellers", "terse reviewers"),
    ("helpful_votes", "trusted voices", None),
    ("recency_days", "lapsed reviewers", "recent reviewers"),
    ("tenure_days", "long-timers", None),
    ("text_share", None, "star-only raters"),
)
TRAIT_MIN_Z = 0.25


def parse_weights(text: str | None) -> dict[str, float]:
    """Feature group weights from JSON (``{"text": 2}``) or ``text=2,graph=0.5``;
    groups not named keep weight 1."""
    weights = dict(DEFAULT_WEIGHTS)
    if not text:
        return weights
    text = text.strip()
    given = json.loads(text) if text.startswith("{") else dict(
        part.split("=", 1) for part in text.split(",") if part.strip()
    )
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


@dataclass(frozen=True)
class Candidate:
    k: int
    silhouette: float
    cost: float
    min_size: int


def choose_k(candidates: list[Candidate], min_segment_size: int) -> Candidate:
    """The candidate with the best silhouette among those whose smallest segment has at
    least ``min_segment_size`` users (ties: the smaller k). If none qualifies, the best
    silhouette overall: the segment-size expectation then stops the run."""
    if not candidates:
        raise ValueError("no candidate k was measured")
    admissible = [c for c in candidates if c.min_size >= min_segment_size] or candidates
    return max(admissible, key=lambda c: (round(c.silhouette, 12), -c.k))


def match_segment_ids(
    centroids: np.ndarray,
    sizes: np.ndarray,
    previous: pd.DataFrame | None,
) -> tuple[list[int], list[float | None]]:
    """Stable ids: match this run's clusters to the previous run's segments.

    ``centroids`` is (k, d), one row per cluster of this run; ``previous`` has columns
    segment_id and centroid (previous run, same feature space). Clusters are matched to
    previous segments by the Hungarian algorithm on squared Euclidean distance; a
    cluster without a partner (k grew, or no previous run) gets a new id, largest
    cluster first. Returns the id and the match distance (None if new) per cluster.
    """
    from scipy.optimize import linear_sum_assignment

    k = len(centroids)
    ids: list[int | None] = [None] * k
    distances: list[float | None] = [None] * k
    next_id = 1
    if previous is not None and len(previous):
        old = np.vstack(previous["centroid"].to_numpy())
        if old.shape[1] == centroids.shape[1]:
            cost = ((centroids[:, None, :] - old[None, :, :]) ** 2).sum(axis=2)
            rows, cols = linear_sum_assignment(cost)
            for row, col in zip(rows, cols):
                ids[row] = int(previous["segment_id"].iloc[col])
                distances[row] = float(cost[row, col])
        next_id = int(previous["segment_id"].max()) + 1
    for cluster in sorted(range(k), key=lambda c: (-sizes[c], c)):
        if ids[cluster] is None:
            ids[cluster] = next_id
            next_id += 1
    return [int(i) for i in ids], distances


def class_tfidf(term_counts: pd.DataFrame, top_n: int = 10, min_lift: float = 1.5) -> pd.DataFrame:
    """Distinctive terms per segment by class-based TF-IDF (as in BERTopic):
    all of a segment's reviews form one document;

        score(t, c) = tf(t, c) / words(c) * log(1 + A / f(t))

    with A the mean words per segment and f(t) the term's frequency over all segments.
    Words every segment uses a lot ("great", "good") still score high on tf alone, so
    a term also needs its rate in the segment to be ``min_lift`` times its overall rate.
    A segment holding a share s of all words cannot exceed a lift of 1/s, so for big
    segments the bar is lowered to halfway between 1 and 1/s.
    ``term_counts``: segment_id, term, term_count (and any extra columns, kept).
    Returns the top_n terms per segment with score, lift and rank (1 = most distinctive).
    """
    counts = term_counts.copy()
    words = counts.groupby("segment_id")["term_count"].transform("sum")
    total = counts["term_count"].sum()
    mean_words = counts.groupby("segment_id")["term_count"].sum().mean()
    frequency = counts.groupby("term")["term_count"].transform("sum")
    counts["score"] = counts["term_count"] / words * np.log1p(mean_words / frequency)
    counts["lift"] = (counts["term_count"] / words) / (frequency / total)
    bar = np.minimum(min_lift, (1 + total / words) / 2)
    counts = counts[counts["lift"] >= bar]
    counts = counts.sort_values(["segment_id", "score", "term"], ascending=[True, False, True])
    counts["term_rank"] = counts.groupby("segment_id").cumcount() + 1
    return counts[counts["term_rank"] <= top_n].reset_index(drop=True)


def trait_phrases(profile: pd.DataFrame) -> list[str]:
    """A segment's behaviour traits, strongest first. ``profile``: feature, z (the
    segment mean's distance from the population mean in population std units)."""
    z = dict(zip(profile["feature"], profile["z"]))
    found = []
    for feature, above, below in TRAITS:
        score = z.get(feature)
        if score is None or not np.isfinite(score) or abs(score) < TRAIT_MIN_Z:
            continue
        phrase = above if score > 0 else below
        if phrase:
            found.append((abs(score), phrase))
    return [phrase for _, phrase in sorted(found, key=lambda p: -p[0])]


def segment_names(
    categories: dict[int, tuple[str, float]],
    traits: dict[int, list[str]],
    terms: dict[int, list[str]],
) -> dict[int, str]:
    """Readable, distinct names: '<category> <trait> · <term>, <term>'.

    categories: segment -> (top category, its share of the segment's reviews); a
    segment whose top category has under half the reviews is 'Cross-category'.
    Names that would collide take one more term, then one more trait, then the id.
    """
    def name(segment: int, n_terms: int, n_traits: int) -> str:
        category, share = categories[segment]
        who = CATEGORY_LABELS.get(category, category.replace("_", " ").capitalize())
        who = who if share >= 0.5 else "Cross-category"
        trait = " ".join(traits[segment][:n_traits]) if traits[segment] else "shoppers"
        if n_traits > 1 and len(traits[segment]) > 1:
            trait = f"{traits[segment][0]} and {' '.join(traits[segment][1:n_traits])}"
        words = ", ".join(terms[segment][:n_terms])
        return f"{who} {trait}" + (f" · {words}" if words else "")

    names = {s: name(s, 2, 1) for s in categories}
    for n_terms, n_traits in ((3, 1), (3, 2), (4, 2)):
        clashes = _clashing(names)
        if not clashes:
            return names
        names.update({s: name(s, n_terms, n_traits) for s in clashes})
    for segment in _clashing(names):
        names[segment] = f"{names[segment]} (#{segment})"
    return names


def _clashing(names: dict[int, str]) -> list[int]:
    seen = pd.Series(names)
    return sorted(seen[seen.duplicated(keep=False)].index)


def adjusted_rand(previous: pd.DataFrame, current: pd.DataFrame) -> tuple[float | None, int, float | None]:
    """Agreement with the previous run on the users both runs share: adjusted Rand index,
    the number of shared users, and the share of them whose segment id is unchanged."""
    from sklearn.metrics import adjusted_rand_score

    both = previous.merge(current, on="user_key", suffixes=("_previous", "_current"))
    if both.empty:
        return None, 0, None
    ari = adjusted_rand_score(both["segment_id_previous"], both["segment_id_current"])
    same = float((both["segment_id_previous"] == both["segment_id_current"]).mean())
    return float(ari), len(both), same
