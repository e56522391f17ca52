"""Write-audit-publish of the embedded warehouse, on tiny DuckDB files."""

from __future__ import annotations

import duckdb
import pytest

from usersegments.config import Settings
from usersegments.publish import publish_build, start_build


def tables(path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        names = [t for (t,) in con.sql("select table_name from duckdb_tables()").fetchall()]
        return {t: sorted(con.sql(f"select * from {t}").fetchall()) for t in names}


@pytest.fixture
def settings(tmp_path):
    settings = Settings(data_dir=tmp_path, source_dir=tmp_path)
    settings.warehouse_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as published:
        published.execute("create table users(user_key varchar, segment_id integer)")
        published.execute("insert into users values ('u1', 1), ('u2', 1)")
        published.execute("create table user_interest_scores(user_key varchar)")
        published.execute("insert into user_interest_scores values ('u1')")
    return settings


def test_a_build_replaces_the_published_tables_and_keeps_the_others(settings):
    start_build(settings)
    with duckdb.connect(str(settings.for_build().warehouse_path)) as build:
        build.execute("create table users(user_key varchar not null, segment_id integer)")
        build.execute("insert into users values ('u1', 2), ('u2', 3), ('u3', 3)")
        build.execute("create table segments(segment_id integer)")
        build.execute("insert into segments values (2), (3)")

    assert publish_build(settings) == {"segments": 2, "users": 3}
    assert tables(settings.warehouse_path) == {
        "segments": [(2,), (3,)],
        "user_interest_scores": [("u1",)],  # the scoring DAG's, not built by the pipeline
        "users": [("u1", 2), ("u2", 3), ("u3", 3)],
    }
    # the build's DDL, constraints included
    with (
        duckdb.connect(str(settings.warehouse_path)) as con,
        pytest.raises(duckdb.ConstraintException),
    ):
        con.execute("insert into users values (null, 1)")


def test_a_new_build_starts_empty_and_an_empty_build_publishes_nothing(settings):
    leftover = settings.for_build().warehouse_path
    with duckdb.connect(str(leftover)) as failed_run:
        failed_run.execute("create table users as select 'half' as user_key, 9 as segment_id")
    before = tables(settings.warehouse_path)

    start_build(settings)
    assert not leftover.exists()
    duckdb.connect(str(leftover)).close()
    with pytest.raises(RuntimeError, match="nothing was built"):
        publish_build(settings)
    assert tables(settings.warehouse_path) == before
