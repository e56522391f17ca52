"""Runs with data intervals, as the schedule and Airflow's backfill make them: each sees
the reviews before its interval's end; a later interval places the users who arrived
since with the saved model, and the scoring DAG scores them with the champion.

The runs are the session's ``intervals`` (tests/e2e/conftest.py); the rerun of an
interval is in test_pipeline.py, on a copy of them.
"""

from __future__ import annotations

import re

import duckdb
import pandas as pd

from tests.e2e.conftest import FIRST_DATE, Intervals
from usersegments.config import PROJECT_DIR
from usersegments.lake import partition_name

# the analysts' guide's examples that need scheduled runs (```sql intervals blocks)
INTERVAL_QUERIES = re.findall(
    r"```sql intervals\n(.*?)```",
    (PROJECT_DIR / "docs" / "analysts-guide.md").read_text(),
    flags=re.S,
)


def test_a_run_sees_only_the_reviews_before_its_data_interval_end(intervals):
    """A run with a logical date, as a scheduled or backfilled one, builds its tables
    from the reviews before its data interval's end."""
    as_of = intervals.first_as_of
    assert as_of == pd.Timestamp(FIRST_DATE), as_of
    staged_before, staged_after, counted, latest, mart_latest, mart_users, users = (
        intervals.build_counts
    )
    # every staged review before the as-of, and none after it, reaches the models
    assert staged_after > 0 and counted == staged_before
    assert latest < as_of and mart_latest < as_of
    assert users == mart_users


def test_a_later_interval_embeds_only_the_reviews_that_arrived_since(intervals):
    """The text cache: the 2019 run embeds the reviews of its interval, not those the
    2016 run embedded (the rerun of an interval embeds none)."""
    lake = intervals.second.settings.lake
    reviewed_at = pd.to_datetime(pd.read_parquet(lake.clean("reviews"))["reviewed_at"])
    earlier = int((reviewed_at < intervals.first_as_of).sum())
    embeddings = intervals.summary["embeddings"]
    assert embeddings["reviews_embedded_total"] == len(reviewed_at)
    assert embeddings["embedded_this_run"] == len(reviewed_at) - earlier > 0


def runs_table(intervals: Intervals) -> pd.DataFrame:
    lake = intervals.second.settings.lake
    runs = pd.read_parquet(lake.segmentation("runs"))
    return runs.assign(run_id=runs["run_id"].astype(str)).set_index("run_id")


def assignments(intervals: Intervals, run_id: str) -> pd.Series:
    frame = pd.read_parquet(intervals.second.settings.lake.segmentation("assignments", run_id))
    return frame.set_index("user_key")["segment_id"]


def test_a_later_interval_places_new_users_and_the_champion_scores_them(intervals):
    first, second = (partition_name(r) for r in (intervals.first_run_id, intervals.second_run_id))
    runs = runs_table(intervals)
    assert runs.loc[first, "refit"] and runs.loc[first, "refit_reason"] == "first run"
    placing = runs.loc[second]
    assert not placing["refit"] and placing["start"] == "placed"
    assert (placing["model_run_id"], placing["previous_run_id"]) == (first, first)
    lake = intervals.second.settings.lake
    centroids = [
        pd.read_parquet(lake.segmentation("centroids", run)).sort_values("segment_id")
        for run in (first, second)
    ]
    assert (
        centroids[0]["centroid"].map(list).tolist() == centroids[1]["centroid"].map(list).tolist()
    )

    # the users who arrived in 2016 are placed by the 2016 model, no refit
    before, after = (
        assignments(intervals, intervals.first_run_id),
        assignments(intervals, intervals.second_run_id),
    )
    arrived = after.index.difference(before.index)
    assert len(arrived) > 0 and before.index.isin(after.index).all()
    # and the champion scores them: the nearest centroid is the placing's segment
    scores = pd.read_parquet(lake.scores()).set_index("user_key")
    assert set(arrived) <= set(scores.index)
    assert (scores.loc[arrived, "segment_id"] == after[arrived]).all()
    assert set(scores["segmentation_run_id"]) == {second}
    with duckdb.connect(str(intervals.second.settings.warehouse_path), read_only=True) as con:
        published = con.execute(
            "select count(*) from user_interest_scores where model_version is not null"
        ).fetchone()[0]
        history = con.execute(
            "select run_id, is_refit, refit_reason from segmentation_runs order by as_of"
        ).fetchall()
        movements = dict(
            con.execute(
                "select movement, sum(user_count) from segment_migrations where run_id = ?"
                " group by movement",
                [second],
            ).fetchall()
        )
    assert published == len(after)
    assert history == [(first, True, "first run"), (second, False, None)]
    # the migrations add up: the users of both runs stayed or moved, the rest joined
    shared = before.index.intersection(after.index)
    assert movements.get("stayed", 0) + movements.get("moved", 0) == len(shared)
    assert movements["joined"] == len(arrived) and movements.get("left", 0) == 0


def test_the_previous_runs_lists_are_scored_on_what_its_users_reviewed_next(intervals):
    """The 2019 run scores, for every recommender, the lists of the 2016 run on the items
    the 2016 run's users reviewed for the first time in 2016."""
    first, second = (partition_name(r) for r in (intervals.first_run_id, intervals.second_run_id))
    settings = intervals.second.settings
    reviews = pd.read_parquet(
        settings.lake.clean("reviews"), columns=["user_key", "item_id", "reviewed_at"]
    )
    reviews["reviewed_at"] = pd.to_datetime(reviews["reviewed_at"])
    before = reviews[reviews["reviewed_at"] < intervals.first_as_of]
    members = assignments(intervals, intervals.first_run_id).index
    after = reviews[
        (reviews["reviewed_at"] >= intervals.first_as_of) & reviews["user_key"].isin(members)
    ]
    seen = set(zip(before["user_key"], before["item_id"], strict=True))
    next_users = {
        u for u, i in zip(after["user_key"], after["item_id"], strict=True) if (u, i) not in seen
    }

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        overall = con.execute(
            "select recommender, lists_run_id, window_start, users, hit_rate, hit_rate_low,"
            " hit_rate_high from recommendation_prospective_evaluation"
            " where run_id = ? and scope = 'overall'",
            [second],
        ).df()
        guide = [con.sql(query).fetchall() for query in INTERVAL_QUERIES]
    assert len(next_users) > 0
    assert set(overall["recommender"]) == {
        "segment_popularity",
        "global_popularity",
        "random",
        "item_knn",
        "als",
        "item_knn_segment_cold",
    }
    assert (overall["lists_run_id"] == first).all()
    assert (pd.to_datetime(overall["window_start"]) == intervals.first_as_of).all()
    assert (overall["users"] == len(next_users)).all()
    assert (
        (overall["hit_rate_low"] <= overall["hit_rate"])
        & (overall["hit_rate"] <= overall["hit_rate_high"])
    ).all()
    assert INTERVAL_QUERIES and all(rows for rows in guide), guide
