"""Segmentation on the real data (through the demo's DAG run) and its report."""

from __future__ import annotations

import re

import pytest

from usersegments.warehouse import connect

USERS = 3_667


def latest_run(settings) -> dict:
    with connect(settings) as con:
        return (
            con.sql("select * from segmentation_runs order by segmented_at desc limit 1")
            .df()
            .iloc[0]
            .to_dict()
        )


def test_k_is_chosen_by_silhouette_and_recorded(full_run):
    run = latest_run(full_run.settings)
    assert run["k_selection"] == "silhouette" and run["algorithm"] == "kmeans"
    assert 3 <= run["k"] <= 10
    assert run["user_count"] == USERS
    with connect(full_run.settings) as con:
        scores = con.sql(
            "select k, silhouette, cost, smallest_segment, is_chosen "
            "from segmentation_model_selection where run_id = ? order by k",
            params=[run["run_id"]],
        ).df()
    assert list(scores["k"]) == list(range(3, 11))  # every k measured and kept
    assert scores["silhouette"].between(-1, 1).all() and (scores["cost"] > 0).all()
    chosen = scores[scores["is_chosen"]]
    assert list(chosen["k"]) == [run["k"]]
    assert chosen["silhouette"].iloc[0] == pytest.approx(run["silhouette"])
    # the best silhouette among the k whose smallest segment is big enough
    admissible = scores[scores["smallest_segment"] >= run["min_segment_size"]]
    assert chosen["silhouette"].iloc[0] == admissible["silhouette"].max()
    assert run["min_segment_size"] == 37  # 1% of 3,667 users


def test_the_segments_are_the_same_as_before_under_the_tests_key(full_run):
    """The real data under the tests' fixed key gives the segments docs/results.md
    reports: changes to how features are computed (the co-review degree by sketch, the
    text cache, GX on Spark) must not move a user unless they mean to."""
    run = latest_run(full_run.settings)
    with connect(full_run.settings) as con:
        sizes = con.sql("select user_count from segments order by segment_id").fetchall()
    assert run["k"] == 3 and run["silhouette"] == pytest.approx(0.3787, abs=1e-4)
    assert [n for (n,) in sizes] == [1431, 1210, 1026]


def test_every_user_has_one_segment_and_segments_are_named(full_run):
    with connect(full_run.settings) as con:
        segments = con.sql("select * from segments order by segment_id").df()
        users = con.sql(
            "select count(*), count(distinct user_key), count(segment_id) from user_segments"
        ).fetchall()[0]
        sizes = con.sql("select segment_id, count(*) as n from user_segments group by 1").df()
        published_users = con.sql("select count(*) from users").fetchall()[0][0]
    assert users == (USERS, USERS, USERS) and published_users == USERS
    assert len(segments) == latest_run(full_run.settings)["k"]
    assert segments["user_count"].sum() == USERS
    assert dict(zip(sizes.segment_id, sizes.n, strict=True)) == dict(
        zip(segments.segment_id, segments.user_count, strict=True)
    )
    names = segments["segment_name"]
    assert names.str.strip().str.len().gt(0).all()
    assert names.is_unique
    assert segments["top_terms"].notna().all()
    assert segments["example_review_summary"].notna().all()


def test_profiles_describe_each_segment_against_everyone(full_run):
    with connect(full_run.settings) as con:
        profiles = con.sql("select * from segment_profiles").df()
        k = con.sql("select count(*) from segments").fetchall()[0][0]
        terms = con.sql("select segment_id, count(*) as n from segment_terms group by 1").df()
    categories = profiles[profiles.facet == "category"]
    # category shares of each segment's reviews add up to 1
    assert categories.groupby("segment_id").segment_value.sum().round(9).eq(1).all()
    behaviour = profiles[profiles.facet == "behaviour"]
    assert behaviour.groupby("segment_id").feature.nunique().eq(9).all()
    rating = behaviour[behaviour.feature == "mean_rating"]
    assert (rating.lift - rating.segment_value / rating.population_value).abs().max() < 1e-9
    assert profiles.segment_id.nunique() == k and len(terms) == k and terms.n.gt(0).all()


def test_the_run_writes_its_segment_report(full_run):
    run = latest_run(full_run.settings)
    report = full_run.settings.run_dir(run["run_id"]) / "segments" / "report.html"
    text = report.read_text()
    assert len(re.findall(r'<img alt="" src="data:image/png;base64,', text)) == 3
    with connect(full_run.settings) as con:
        names = [n for (n,) in con.sql("select segment_name from segments").fetchall()]
    import html

    assert all(html.escape(name) in text for name in names)
