"""Each segment against everyone: feature means (lift, z-score), category mix, traits.

The Spark functions aggregate per segment; what reaches the driver is one row per
segment and feature (or category).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from usersegments.segmentation.features import GRAPH_COLUMNS, PROFILE_BEHAVIOUR

# Reported per segment against the population (raw units).
PROFILE_FEATURES = {"behaviour": PROFILE_BEHAVIOUR, "graph": GRAPH_COLUMNS}

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


def profile_table(assigned: DataFrame) -> pd.DataFrame:
    """Segment means of the profile features against the population: lift, z.
    ``assigned``: one row per user with segment_id and the raw feature columns."""
    rows = []
    for facet, columns in PROFILE_FEATURES.items():
        population = assigned.agg(
            *[F.avg(c).alias(f"mean_{c}") for c in columns],
            *[F.stddev_pop(c).alias(f"std_{c}") for c in columns],
        ).first()
        segment_means = (
            assigned.groupBy("segment_id").agg(*[F.avg(c).alias(c) for c in columns]).collect()
        )
        for segment in segment_means:
            for column in columns:
                mean, std = population[f"mean_{column}"], population[f"std_{column}"]
                value = segment[column]
                rows.append(
                    {
                        "segment_id": segment["segment_id"],
                        "facet": facet,
                        "feature": column,
                        "segment_value": value,
                        "population_value": mean,
                        "lift": value / mean if value is not None and mean else None,
                        "z": (value - mean) / std if value is not None and std else 0.0,
                    }
                )
    return pd.DataFrame(rows)


def category_mix(reviews: DataFrame, assignments: DataFrame) -> pd.DataFrame:
    """Share of each segment's reviews per category, against the population."""
    counts = (
        reviews.join(assignments, "user_key")
        .groupBy("segment_id", "category")
        .agg(F.count("*").alias("reviews"))
        .toPandas()
    )
    totals = counts.groupby("segment_id")["reviews"].transform("sum")
    counts["segment_value"] = counts["reviews"] / totals
    population = counts.groupby("category")["reviews"].sum()
    population = population / population.sum()
    counts["population_value"] = counts["category"].map(population)
    counts["lift"] = counts["segment_value"] / counts["population_value"]
    counts["facet"] = "category"
    counts["z"] = None
    return counts.rename(columns={"category": "feature"}).drop(columns="reviews")


def top_categories(profiles: pd.DataFrame) -> dict[int, tuple[str, float]]:
    """Segment -> (its commonest category, that category's share of its reviews)."""
    found = {}
    for segment, mix in profiles[profiles["facet"] == "category"].groupby("segment_id"):
        top = mix.sort_values(["segment_value", "feature"], ascending=[False, True]).iloc[0]
        found[int(segment)] = (top["feature"], float(top["segment_value"]))
    return found


def trait_phrases(profile: pd.DataFrame) -> list[str]:
    """A segment's behaviour traits, strongest first. ``profile``: feature, z (the
    segment mean's distance from the population mean in population std units)."""
    z = dict(zip(profile["feature"], profile["z"], strict=True))
    found = []
    for feature, above, below in TRAITS:
        score = z.get(feature)
        if score is None or not np.isfinite(score) or abs(score) < TRAIT_MIN_Z:
            continue
        phrase = above if score > 0 else below
        if phrase:
            found.append((abs(score), phrase))
    return [phrase for _, phrase in sorted(found, key=lambda p: -p[0])]


def segment_traits(profiles: pd.DataFrame) -> dict[int, list[str]]:
    """Segment -> its trait phrases, from the behaviour and graph rows of ``profiles``."""
    features = profiles[profiles["facet"] != "category"]
    return {int(s): trait_phrases(p) for s, p in features.groupby("segment_id")}
