"""The lake's paths: one partition rule for run ids, and dbt's sources reading exactly
the paths the Python code writes."""

from __future__ import annotations

import pyarrow as pa
import pytest

from usersegments.config import Settings
from usersegments.lake import Lake, partition_name, write_parquet_atomically
from usersegments.warehouse_load import source_locations


def test_run_ids_become_the_same_folder_names_everywhere():
    run_id = "manual__2026-11-30T02:29:25.517164+00:00"
    assert partition_name(run_id) == "manual__2026-11-30T02_29_25.517164_00_00"
    assert partition_name("scheduled__é") == "scheduled___"  # ASCII only, for every reader
    lake = Lake(Settings.from_env({}).data_dir / "lake")
    assert lake.segmentation("runs", run_id).name == f"run_id={partition_name(run_id)}"
    assert lake.recommendations("evaluation", run_id).name == f"run_id={partition_name(run_id)}"
    assert lake.scores(run_id).name == f"scoring_run_id={partition_name(run_id)}"


@pytest.mark.parametrize(
    "source, table, path",
    [
        ("amazon", "reviews", lambda lake: lake.raw_reviews()),
        ("amazon", "quarantine", lambda lake: lake.quarantine()),
        ("segmentation", "runs", lambda lake: lake.segmentation("runs") / "*" / "*.parquet"),
        (
            "segmentation",
            "assignments",
            lambda lake: lake.segmentation("assignments") / "*" / "*.parquet",
        ),
        (
            "recommendations",
            "evaluation",
            lambda lake: lake.recommendations("evaluation") / "*" / "*.parquet",
        ),
        ("scoring", "user_interest_scores", lambda lake: lake.scores() / "*" / "*.parquet"),
    ],
)
def test_dbt_sources_read_the_lake_paths(tmp_path, source, table, path):
    settings = Settings(data_dir=tmp_path, source_dir=tmp_path)
    assert f"'{path(settings.lake)}'" in source_locations(source, settings)[table]


def test_atomic_writes_leave_no_partial_file(tmp_path):
    target = write_parquet_atomically(pa.table({"x": [1, 2]}), tmp_path / "a" / "t.parquet")
    assert target.exists() and [p.name for p in target.parent.iterdir()] == ["t.parquet"]
