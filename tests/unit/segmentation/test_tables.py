"""The lake tables of a segmentation run: typed writes, partitions, reads, fingerprint."""

from __future__ import annotations

import pandas as pd
import pytest

from usersegments.lake import Lake
from usersegments.segmentation.tables import (
    driver_frame,
    fingerprint,
    previous_run,
    published_run,
    run_table,
    write_run_table,
)


def segments(name: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "segment_id": 1,
                "segment_name": name,
                "user_count": 3,
                "user_share": 1.0,
                "top_category": "books",
                "top_category_share": 1.0,
                "traits": "",
                "top_terms": "",
                "previous_match_distance": None,
                "stability": None,
                "is_stable": None,
            }
        ]
    )


def test_a_rerun_replaces_its_own_partition_only(spark, tmp_path):
    lake = Lake(tmp_path)
    for run_id, name in (
        ("manual__1:00+00", "first"),
        ("manual__2", "second"),
        ("manual__1:00+00", "again"),
    ):
        write_run_table(driver_frame(spark, "segments", segments(name)), lake, "segments", run_id)
    assert sorted(p.name for p in lake.segmentation("segments").iterdir() if p.is_dir()) == [
        "run_id=manual__1_00_00",
        "run_id=manual__2",
    ]
    first = run_table(spark, lake, "segments", "manual__1:00+00").toPandas()
    assert first["segment_name"].tolist() == ["again"]
    # an all-null column keeps its declared type
    assert (
        dict(run_table(spark, lake, "segments", "manual__2").dtypes)["previous_match_distance"]
        == "double"
    )


def runs_row(fingerprint_value: str, at: str, as_of: str | None = None) -> pd.DataFrame:
    row = dict.fromkeys(
        (
            "algorithm",
            "k_selection",
            "feature_weights",
            "feature_dims",
            "embedding_model_version",
            "previous_run_id",
            "previous_input_fingerprint",
        )
    )
    row.update(
        {
            "k": 3,
            "k_min": 3,
            "k_max": 3,
            "silhouette": 0.5,
            "macro_silhouette": 0.5,
            "stability": None,
            "unstable_segments": 0,
            "start": "cold",
            "warm_cost_ratio": None,
            "restarts": 10,
            "subsamples": 5,
            "cost": 1.0,
            "users": 3,
            "users_without_text": 0,
            "seed": 42,
            "min_segment_share": 0.01,
            "min_segment_size": 1,
            "input_fingerprint": fingerprint_value,
            "shared_users": 0,
            "ari_previous": None,
            "unchanged_id_share": None,
            "segmented_at": pd.Timestamp(at),
            "as_of": pd.Timestamp(as_of) if as_of else None,
            "refit": True,
            "refit_reason": "first run",
            "model_run_id": None,
            "intervals_since_refit": 0,
        }
    )
    return pd.DataFrame([row])


def test_the_previous_run_is_the_latest_other_run(spark, tmp_path):
    lake = Lake(tmp_path)
    assert previous_run(spark, lake, "r1") is None
    for run_id, at in (("r1", "2026-01-01"), ("r2", "2026-02-01")):
        write_run_table(
            driver_frame(spark, "runs", runs_row(f"f-{run_id}", at)), lake, "runs", run_id
        )
    assert previous_run(spark, lake, "r3")["run_id"] == "r2"
    assert previous_run(spark, lake, "r2")["run_id"] == "r1"
    assert published_run(spark, lake, "r1")["input_fingerprint"] == "f-r1"
    with pytest.raises(SystemExit, match="no published segmentation run 'r9'"):
        published_run(spark, lake, "r9")


def test_the_previous_run_of_an_interval_is_the_latest_earlier_as_of(spark, tmp_path):
    """A rerun of an old interval, made after newer ones, compares with the run before
    its as-of; a manual run (no as-of) with the latest run, undated ones newest."""
    from datetime import datetime

    lake = Lake(tmp_path)
    # made in the order 2016, 2017, then 2015 (a late backfill), then a manual run
    made = [("y2016", "2016"), ("y2017", "2017"), ("y2015", "2015"), ("manual", None)]
    for day, (run_id, as_of) in enumerate(made, start=1):
        row = runs_row(f"f-{run_id}", f"2026-01-0{day}", as_of and f"{as_of}-01-01")
        write_run_table(driver_frame(spark, "runs", row), lake, "runs", run_id)

    def before(run_id: str, year: int | None) -> str | None:
        found = previous_run(spark, lake, run_id, year and datetime(year, 1, 1))
        return found and found["run_id"]

    assert before("y2016", 2016) == "y2015"
    assert before("y2017", 2017) == "y2016"
    assert before("y2015", 2015) is None
    assert before("y2018", 2018) == "y2017"
    assert before("manual2", None) == "manual"
    assert before("manual", None) == "y2017"


def test_fingerprint_ignores_row_order_and_partitioning_but_not_values(spark):
    users = spark.createDataFrame([("a", 1.0), ("b", 2.0), ("c", 3.0)], "user_key string, x double")
    reviews = spark.createDataFrame([("a", "i1"), ("b", "i1")], "user_key string, item_id string")
    text = spark.createDataFrame([("a", [0.1]), ("b", [0.2])], "user_key string, v array<double>")
    base = fingerprint(users, reviews, text)
    shuffled = fingerprint(
        users.orderBy("x", ascending=False).repartition(3), reviews.repartition(2), text
    )
    assert shuffled == base
    changed = spark.createDataFrame(
        [("a", 1.0), ("b", 2.0), ("c", 3.5)], "user_key string, x double"
    )
    assert fingerprint(changed, reviews, text) != base
