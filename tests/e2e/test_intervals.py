"""Runs with data intervals, as the schedule and Airflow's backfill make them: each sees
the reviews before its interval's end; a later interval places the users who arrived
since with the saved model, and the scoring DAG scores them with the champion.

One session run of its own (two small real files, two intervals, ~8 min): no shared run
has a data interval, and the placing run needs the refit before it.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

import duckdb
import pandas as pd
import pytest

from tests.e2e.conftest import (
    TWO_FILES_CONF,
    PipelineRun,
    newest_run_id,
    run_airflow,
    run_pipeline,
)
from usersegments.config import PROJECT_DIR
from usersegments.lake import partition_name

# the analysts' guide's examples that need scheduled runs (```sql intervals blocks)
INTERVAL_QUERIES = re.findall(
    r"```sql intervals\n(.*?)```",
    (PROJECT_DIR / "docs" / "analysts-guide.md").read_text(),
    flags=re.S,
)

# k fixed, as the two-file run: no sweep to pay for on a few hundred users
CONF = TWO_FILES_CONF


@dataclass
class Intervals:
    first: PipelineRun  # 2016, stopped once its segments are checked
    first_run_id: str
    first_as_of: pd.Timestamp
    build_counts: tuple  # of the first run's build, before the second replaces it
    second: PipelineRun  # 2017, the whole DAG, then the scoring DAG
    second_run_id: str


def data_interval_end(run: PipelineRun, run_id: str) -> pd.Timestamp:
    with sqlite3.connect(run.settings.data_dir / "airflow" / "airflow.db") as db:
        (end,) = db.execute(
            "select data_interval_end from dag_run where run_id = ?", [run_id]
        ).fetchone()
    end = pd.Timestamp(end)
    return (end.tz_convert("UTC") if end.tzinfo else end).tz_localize(None)


def build_counts(run: PipelineRun, as_of: pd.Timestamp) -> tuple:
    """Staged rows before/after the as-of, rows the models counted, the newest review
    the marts hold, the users of the reviews and of the users mart."""
    with duckdb.connect(str(run.settings.for_build().warehouse_path), read_only=True) as con:
        staged = con.execute(
            "select count(*) filter (where reviewed_at < ?), "
            "count(*) filter (where reviewed_at >= ?) from stg_amazon__reviews",
            [as_of, as_of],
        ).fetchone()
        counted = con.execute(
            "select sum(duplicate_count), max(reviewed_at) from int_reviews__deduplicated"
        ).fetchone()
        marts = con.execute(
            "select max(reviewed_at), count(distinct user_key) from reviews"
        ).fetchone()
        users = con.execute("select count(*) from users").fetchone()[0]
    return (*staged, *counted, *marts, users)


@pytest.fixture(scope="module")
def intervals(tmp_path_factory, real_source_dir) -> Intervals:
    data_dir = tmp_path_factory.mktemp("intervals") / "data"
    first = run_pipeline(
        data_dir,
        real_source_dir,
        CONF,
        stop_after="validate_user_segments",
        logical_date="2016-01-01",
    )
    assert first.result.returncode == 0, first.log[-5000:]
    first_run_id = newest_run_id(first)
    as_of = data_interval_end(first, first_run_id)
    counts = build_counts(first, as_of)
    second = run_pipeline(data_dir, real_source_dir, CONF, logical_date="2017-01-01")
    assert second.result.returncode == 0, second.log[-5000:]
    second_run_id = newest_run_id(second)
    scoring = run_airflow(second.env, "dags", "test", "score_new_users")
    assert scoring.returncode == 0, (scoring.stdout + scoring.stderr)[-5000:]
    return Intervals(first, first_run_id, as_of, counts, second, second_run_id)


def test_a_run_sees_only_the_reviews_before_its_data_interval_end(intervals):
    """A run with a logical date, as a scheduled or backfilled one, builds its tables
    from the reviews before its data interval's end."""
    as_of = intervals.first_as_of
    assert pd.Timestamp("2015-01-01") <= as_of <= pd.Timestamp("2017-01-01"), as_of
    staged_before, staged_after, counted, latest, mart_latest, mart_users, users = (
        intervals.build_counts
    )
    # every staged review before the as-of, and none after it, reaches the models
    assert staged_after > 0 and counted == staged_before
    assert latest < as_of and mart_latest < as_of
    assert users == mart_users


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
    """The 2017 run scores, for every recommender, the lists of the 2016 run on the items
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
