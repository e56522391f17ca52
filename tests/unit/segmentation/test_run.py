"""Both segmentation jobs end to end on a tiny synthetic lake (two obvious groups of
users), in the unit suite's local Spark session, over one history of runs: every table
written, a new user placed by the saved model, ids kept across runs, the evaluation
refit matched to the published ids."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import pandas as pd
import pytest

from usersegments.lake import Lake
from usersegments.segmentation.options import SegmentationOptions
from usersegments.segmentation.run import publish_segmentation, refit_for_evaluation

# one worker runs the module: its tests share one history of runs (a module fixture)
pytestmark = pytest.mark.xdist_group("segmentation_history")
VERSION = "test-encoder"
# few iterations: two obvious groups of twelve users converge at once
QUICK = SegmentationOptions(k=2, max_iter=10, pagerank_iterations=2)
# synthetic: group g reviews items g-0..g-2 of one category, in its own words
GROUPS = {"books": ("novel", "chapter", "author"), "music": ("guitar", "strings", "chord")}


def users_and_reviews() -> tuple[pd.DataFrame, pd.DataFrame]:
    users, reviews = [], []
    for g, (category, words) in enumerate(GROUPS.items()):
        for u in range(6):
            user = f"{category}-{u}"
            for i in range(3):
                reviews.append(
                    {
                        "review_key": f"{user}-r{i}",
                        "user_key": user,
                        "item_id": f"{category}-{i}",
                        "category": category,
                        "summary": words[i],
                        "review_text": " ".join(words),
                        "rating": 5.0 - 3 * g,
                        "reviewed_at": pd.Timestamp(2015 + i, 1, 1 + u),
                    }
                )
            users.append(
                {
                    "user_key": user,
                    "review_count": 3,
                    "mean_review_words": 3.0 + u % 2,
                    "helpful_votes": u % 3,
                    "tenure_days": 700 + u,
                    "recency_days": 100 + 50 * g,
                    "mean_rating": 5.0 - 3 * g,
                    "rating_stddev": 0.0,
                    "verified_share": 1.0,
                    "text_share": 1.0,
                    "share_books": 1.0 - g,
                    "share_music": float(g),
                    "primary_category": category,
                }
            )
    return pd.DataFrame(users), pd.DataFrame(reviews)


def unit_vector(angle: float) -> list[float]:
    return [math.cos(angle), math.sin(angle), 0.0]


def synthetic_lake(folder) -> Lake:
    lake = Lake(folder / "lake")
    users, reviews = users_and_reviews()
    lake.clean_dir.mkdir(parents=True)
    users.to_parquet(lake.clean("users"))
    reviews.to_parquet(lake.clean("reviews"))
    # the evaluation split: each user's last review held out
    split = reviews.assign(
        evaluation_split=["holdout" if k.endswith("r2") else "train" for k in reviews.review_key]
    )
    split.to_parquet(lake.clean("evaluation_reviews"))
    users.to_parquet(lake.clean("evaluation_users"))
    # one vector per distinct text, as the encoder's text cache holds them
    angle = {"books": 0.0, "music": 1.5}
    texts = reviews.summary + ". " + reviews.review_text
    vectors = reviews.assign(
        text_hash=[hashlib.sha256(t.encode()).hexdigest() for t in texts],
        vector=[
            unit_vector(angle[c] + 0.01 * GROUPS[c].index(w))
            for c, w in zip(reviews.category, reviews.summary, strict=True)
        ],
    )
    batch = lake.review_vectors(VERSION) / "batch=b1"
    batch.mkdir(parents=True)
    vectors[["review_key", "user_key", "vector"]].to_parquet(batch / "part-0.parquet")
    text_batch = lake.text_vectors(VERSION) / "batch=b1"
    text_batch.mkdir(parents=True)
    vectors[["text_hash", "vector"]].drop_duplicates("text_hash").to_parquet(
        text_batch / "part-0.parquet"
    )
    per_user = vectors.groupby("user_key")["vector"].apply(
        lambda v: list(pd.DataFrame(list(v)).mean())
    )
    lake.user_vectors(VERSION).mkdir(parents=True)
    per_user.rename("vector").reset_index().to_parquet(
        lake.user_vectors(VERSION) / "part-0.parquet"
    )
    return lake


def memberships(lake: Lake, run_id: str, root: str = "segments") -> pd.Series:
    frame = pd.read_parquet(lake.segmentation("assignments", run_id, root))
    return frame.set_index("user_key")["segment_id"]


def add_music_user(lake: Lake, user: str) -> None:
    """A user who arrives later: the music group's reviews and text, in the lake as the
    pipeline's next interval publishes it (users mart, reviews, vectors)."""
    users, reviews = (pd.read_parquet(lake.clean(t)) for t in ("users", "reviews"))
    template = users[users.user_key == "music-0"].assign(user_key=user)
    new_reviews = reviews[reviews.user_key == "music-0"].assign(
        user_key=user, review_key=lambda r: r.review_key.str.replace("music-0", user)
    )
    pd.concat([users, template]).to_parquet(lake.clean("users"))
    pd.concat([reviews, new_reviews]).to_parquet(lake.clean("reviews"))
    vectors = pd.read_parquet(lake.user_vectors(VERSION))
    vector = vectors[vectors.user_key == "music-0"].assign(user_key=user)
    pd.concat([vectors, vector]).to_parquet(lake.user_vectors(VERSION) / "part-0.parquet")


@dataclass
class History:
    """One lake's segmentation history, as the schedule makes it: a first run (a refit, k
    searched), the evaluation refit of it, a later interval that places a user who
    arrived since, and a forced refit of the same inputs. Four runs shared by the tests
    below (each run is a few seconds of Spark jobs)."""

    lake: Lake
    first: dict
    evaluation: dict
    later: dict
    forced: dict


@pytest.fixture(scope="module")
def history(spark, tmp_path_factory) -> History:
    from datetime import datetime

    from usersegments.segmentation.refit import RefitPolicy

    lake = synthetic_lake(tmp_path_factory.mktemp("segmentation-history"))
    searched = SegmentationOptions(
        k_min=2, k_max=3, max_iter=10, pagerank_iterations=2, min_segment_share=0.1
    )
    first = publish_segmentation(
        spark, lake, "scheduled__2018", VERSION, searched, datetime(2018, 1, 1)
    )
    evaluation = refit_for_evaluation(spark, lake, "scheduled__2018", VERSION, iterations=QUICK)
    add_music_user(lake, "music-new")
    later = publish_segmentation(
        spark, lake, "scheduled__2019", VERSION, QUICK, datetime(2019, 1, 1)
    )
    forced = publish_segmentation(
        spark, lake, "manual__f", VERSION, QUICK, datetime(2020, 1, 1), RefitPolicy(force=True)
    )
    return History(lake, first, evaluation, later, forced)


def test_a_run_publishes_every_table(history):
    lake, first = history.lake, history.first
    assert (first["refit"], first["refit_reason"]) == (True, "first run")
    assert first["k"] == 2 and first["k_selection"].startswith("macro-silhouette")
    assert [s["k"] for s in first["model_selection"]] == [2, 3]
    assert first["start"] == "cold" and first["stability"] == 1.0
    assert first["users"] == 12 and first["users_without_text"] == 0
    for table in (
        "assignments",
        "segments",
        "profiles",
        "terms",
        "examples",
        "model_selection",
        "runs",
        "centroids",
        "features",
        "feature_pipeline",
    ):
        assert lake.segmentation(table, "scheduled__2018").is_dir(), table
    groups = memberships(lake, "scheduled__2018")
    # the two groups, one segment each
    assert groups.groupby(groups.index.str.split("-").str[0]).nunique().eq(1).all()
    assert groups.nunique() == 2
    segments = pd.read_parquet(lake.segmentation("segments", "scheduled__2018"))
    assert sorted(segments.top_category) == ["books", "music"]
    assert segments.stability.eq(1.0).all() and segments.is_stable.all()
    assert segments.segment_name.is_unique and segments.user_count.sum() == 12
    terms = pd.read_parquet(lake.segmentation("terms", "scheduled__2018")).term
    assert {"guitar", "novel"} <= set(terms)
    features = pd.read_parquet(lake.segmentation("features", "scheduled__2018"))
    assert len(features) == 12 and "text_000" in features.columns and "pagerank" in features.columns


def test_the_evaluation_refit_uses_the_published_settings_and_ids(history):
    report = history.evaluation
    assert (report["k"], report["algorithm"], report["users"]) == (2, "kmeans", 12)
    assert (report["ari_published"], report["unchanged_id_share"], report["shared_users"]) == (
        1.0,
        1.0,
        12,
    )
    refit = memberships(history.lake, "scheduled__2018", "segments_eval")
    assert refit.sort_index().equals(memberships(history.lake, "scheduled__2018").sort_index())


def test_a_later_interval_places_new_users_with_the_saved_model(history):
    lake, later = history.lake, history.later
    assert (later["refit"], later["refit_reason"], later["start"]) == (False, None, "placed")
    assert (later["model_run_id"], later["intervals_since_refit"]) == ("scheduled__2018", 1)
    assert later["users"] == 13 and later["unchanged_id_share"] == 1.0
    segments = memberships(lake, "scheduled__2019")
    assert segments["music-new"] == segments["music-0"]
    centroids = {
        run: pd.read_parquet(lake.segmentation("centroids", run)).sort_values("segment_id")
        for run in ("scheduled__2018", "scheduled__2019")
    }
    assert centroids["scheduled__2019"].equals(centroids["scheduled__2018"])
    features = pd.read_parquet(lake.segmentation("features", "scheduled__2019"))
    assert "music-new" in set(features.user_key)
    # a rerun of an interval: tests/e2e/test_pipeline.py, on the real files


def test_a_forced_refit_warm_starts_and_keeps_the_ids(history):
    """The same inputs again, refitted: started from the previous centroids, the same
    partition under the same segment ids."""
    forced, later = history.forced, history.later
    assert (forced["refit"], forced["refit_reason"], forced["previous_run_id"]) == (
        True,
        "forced",
        "scheduled__2019",
    )
    assert (forced["ari_previous"], forced["unchanged_id_share"]) == (1.0, 1.0)
    assert forced["input_fingerprint"] == later["input_fingerprint"]
    assert forced["input_fingerprint"] == forced["previous_input_fingerprint"]
    assert forced["start"] == "warm" and forced["warm_cost_ratio"] == pytest.approx(1.0)
    previous = memberships(history.lake, "scheduled__2019")
    assert memberships(history.lake, "manual__f").sort_index().equals(previous.sort_index())
