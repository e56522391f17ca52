"""The user_segments checkpoint (real Great Expectations) on small hand-made runs: a
clean segmentation passes, each kind of bad one is stopped naming the expectation."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from usersegments.config import Settings
from usersegments.lake import Lake
from usersegments.quality import ExpectationsFailed, locate_rows, run_checkpoint
from usersegments.quality_data import user_segments


def write_run(lake: Lake, run_id, users, assignments, segments, run=None):
    lake.clean_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"user_key": users}).to_parquet(lake.clean("users"))
    run = {
        "input_fingerprint": "b",
        "previous_input_fingerprint": "a",
        "ari_previous": 0.5,
        "unchanged_id_share": 0.5,
        **(run or {}),
    }
    for name, frame in (
        (
            "assignments",
            pd.DataFrame(assignments, columns=["user_key", "segment_id", "distance_to_centroid"]),
        ),
        ("segments", pd.DataFrame(segments, columns=["segment_id", "segment_name", "is_stable"])),
        ("runs", pd.DataFrame([run])),
    ):
        folder = lake.segmentation(name, run_id)
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / "part-0.parquet")


GOOD = {
    "users": ["u1", "u2", "u3", "u4"],
    "assignments": [("u1", 1, 0.1), ("u2", 1, 0.2), ("u3", 2, 0.3), ("u4", 2, 0.0)],
    "segments": [(1, "one", True), (2, "two", True)],
}


def check(tmp_path, strict=False, **changes):
    """The checkpoint as the pipeline runs it (on the unit tests' Spark session)."""
    settings = Settings(data_dir=tmp_path, source_dir=tmp_path)
    write_run(settings.lake, "r1", **{**GOOD, **changes})
    return run_checkpoint(
        "user_segments",
        settings,
        "r1",
        parameters={"min_segment_size": 2, "max_moved_share": 0.6},
        strict=strict,
    )


def test_a_clean_segmentation_passes(tmp_path, spark):
    assert check(tmp_path)["success"]


@pytest.mark.parametrize(
    "changes, failing",
    [
        (
            {"users": ["u1", "u2", "u3", "u4", "u5"]},
            "expect_column_values_to_not_be_null(segment_id",
        ),
        (
            {"assignments": GOOD["assignments"] + [("u1", 2, 0.4)]},
            "expect_column_values_to_be_unique(user_key",
        ),
        (
            {"segments": GOOD["segments"] + [(3, "empty", True)]},
            "expect_column_values_to_not_be_null(user_key",
        ),
        # u4 is assigned but not a published user
        ({"users": ["u1", "u2", "u3"]}, "expect_column_values_to_be_in_set(is_known_user"),
        (
            {"assignments": [("u1", 1, 0.1), ("u2", 1, 0.2), ("u3", 1, 0.3), ("u4", 2, 0.0)]},
            "expect_column_min_to_be_between(segment_user_count",
        ),
        ({"run": {"input_fingerprint": "a", "ari_previous": 0.9}}, "ids_stable_if_input_unchanged"),
    ],
    ids=[
        "unassigned user",
        "assigned twice",
        "empty segment",
        "unknown user",
        "segment too small",
        "unstable ids",
    ],
)
def test_the_checkpoint_stops_bad_segmentations(tmp_path, spark, changes, failing):
    with pytest.raises(ExpectationsFailed, match=re.escape(failing)):
        check(tmp_path, **changes)


def test_an_unstable_segment_is_reported_and_the_run_goes_on(tmp_path, spark):
    result = check(tmp_path, segments=[(1, "one", True), (2, "two", False)])
    assert result["success"] and result["failed_soft"] == 1
    (failure,) = result["failures"]
    assert failure["column"] == "segment_is_stable" and failure["unexpected_count"] == 2


def test_drift_past_the_limit_is_reported_and_a_strict_run_stops(tmp_path, spark):
    drifted = {"run": {"unchanged_id_share": 0.25}}  # 75% moved; the limit is 60%
    result = check(tmp_path, **drifted)
    assert result["success"] and result["failed_soft"] == 1
    (failure,) = result["failures"]
    assert failure["column"] == "moved_share_since_previous_run"
    with pytest.raises(ExpectationsFailed, match="moved_share_since_previous_run"):
        check(tmp_path, strict=True, **drifted)
    # a first run has nothing to drift from
    assert check(tmp_path, run={"unchanged_id_share": None})["failed_soft"] == 0


def test_stable_ids_are_required_only_when_inputs_are_unchanged(tmp_path, spark):
    settings = Settings(data_dir=tmp_path, source_dir=tmp_path)

    def stable() -> set[bool]:
        frame = user_segments(spark, settings, "r1", tmp_path)
        return {row[0] for row in frame.select("ids_stable_if_input_unchanged").collect()}

    write_run(
        settings.lake,
        "r1",
        **GOOD,
        run={"input_fingerprint": "a", "ari_previous": 1.0, "unchanged_id_share": 1.0},
    )
    assert stable() == {True}
    write_run(
        settings.lake,
        "r1",
        **GOOD,
        run={"previous_input_fingerprint": None, "ari_previous": None},
    )
    assert stable() == {True}
    write_run(
        settings.lake, "r1", **GOOD, run={"input_fingerprint": "a", "unchanged_id_share": 0.75}
    )
    assert stable() == {False}


def test_failing_rows_are_named_by_file_and_line_or_key():
    raw = [{"source_file": "a.json.gz", "line_number": 2, "rating": 7.0}]
    assert locate_rows(raw, ["source_file", "line_number"]) == ["a.json.gz line 2"]
    segments = [{"user_key": None, "segment_id": 3}, {"user_key": "k2", "segment_id": None}]
    assert locate_rows(segments, ["user_key", "segment_id"]) == [
        "user_key None, segment_id 3",
        "user_key k2, segment_id None",
    ]
    assert locate_rows(None, ["user_key"]) == []


def test_a_raw_reviews_failure_names_the_source_file_and_line(tmp_path, spark):
    raw = pd.DataFrame(
        {
            "ingest_run_id": "r1",
            "source_file": "Appliances_5.json.gz",
            "line_number": [1, 2, 3],
            "reviewer_id": ["A1", "A2", "A3"],
            "item_id": ["I1", "I1", "I2"],
            "rating": [5.0, 7.0, 4.0],
            "unix_review_time": [1_400_000_000] * 3,
        }
    )
    settings = Settings(data_dir=tmp_path, source_dir=tmp_path)
    with pytest.raises(ExpectationsFailed) as failure:
        run_checkpoint("raw_reviews", settings, "r1", data=spark.createDataFrame(raw))
    assert (
        "expect_column_values_to_be_between(rating, critical) at Appliances_5.json.gz line 2"
        in str(failure.value)
    )
