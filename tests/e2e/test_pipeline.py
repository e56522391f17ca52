"""The whole pipeline DAG, run by Airflow (`airflow dags test`) on the real data."""

from __future__ import annotations

import gzip
import json

import duckdb

from tests.e2e.conftest import (
    LINES,
    MALFORMED_LINES,
    REVIEWS,
    SECOND_DATE,
    TWO_FILES_CONF,
    USERS,
    copy_data_dir,
    run_pipeline,
    task_states,
)
from tests.helpers import read_lines, write_gz
from usersegments.config import Settings
from usersegments.lake import partition_name
from usersegments.warehouse import connect


def published_counts(settings) -> dict[str, int]:
    with connect(settings) as con:
        return {
            table: con.sql(f"select count(*) from {table}").fetchall()[0][0]
            for table in ("reviews", "users", "items")
        }


def test_the_demo_publishes_the_cleaned_data(intervals):
    demo_run, summary = intervals.second, intervals.summary
    assert summary["rows_loaded"] + summary["rows_quarantined"] == summary["lines_read"]
    assert summary["published"] == published_counts(demo_run.settings)
    assert summary["published"]["reviews"] == REVIEWS
    assert summary["published"]["users"] == USERS
    assert [c["checkpoint"] for c in summary["expectations"]] == [
        "raw_reviews",
        "staged_reviews",
        "user_features",
        "review_embeddings",
        "user_segments",
        "recommendations",
    ]
    # every review with text embedded once (this run embedded those since the last)
    with connect(demo_run.settings) as con:
        with_text = con.sql(
            "select count(*) from reviews where coalesce(summary, review_text) is not null"
        ).fetchall()[0][0]
    assert summary["embeddings"]["reviews_embedded_total"] == with_text
    assert all(c["failed_hard"] == 0 for c in summary["expectations"])
    assert (demo_run.settings.data_dir / "gx" / "data_docs" / "index.html").exists()

    with connect(demo_run.settings) as con:
        # vote "1,024"-style text became integers (HTML entities: the strict-run test)
        assert con.sql("select max(helpful_votes) from reviews").fetchall()[0][0] > 999
        assert con.sql("select sum(duplicate_count) from reviews").fetchall()[0][0] == LINES
    # the Spark stages read the cleaned tables from the lake
    for table, count in published_counts(demo_run.settings).items():
        path = demo_run.settings.lake_dir / "clean" / f"{table}.parquet"
        assert duckdb.sql(f"select count(*) from '{path}'").fetchall()[0][0] == count


FREE_TEXT = {"summary", "review_text"}


def test_no_raw_reviewer_id_or_name_reaches_the_warehouse(demo_run, real_source_dir):
    ids, names = set(), set()
    for path in real_source_dir.glob("*.json.gz"):
        with gzip.open(path, "rt") as handle:
            for line in handle:
                record = json.loads(line)
                ids.add(record["reviewerID"])
                if len(record.get("reviewerName") or "") >= 6:  # short names are words
                    names.add(record["reviewerName"])
    with connect(demo_run.settings) as con:
        columns = con.sql(
            "select table_name, column_name, data_type from information_schema.columns"
        ).fetchall()
        leaks = []
        for table, column, data_type in columns:
            assert column.lower() not in {"reviewer_id", "reviewer_name", "reviewerid"}
            if data_type != "VARCHAR":
                continue
            values = {
                v for (v,) in con.sql(f'select distinct "{column}" from "{table}"').fetchall()
            }
            # Free text may quote a word that is also someone's display name
            # ("jayjustin" as a review title): names are checked as the values of
            # every other column, ids everywhere.
            personal = ids if column in FREE_TEXT else ids | names
            leaks += [(table, column, v) for v in values & personal]
    assert leaks == []


def test_a_rerun_of_an_interval_is_idempotent(intervals, tmp_path):
    """The 2019 interval again, on a copy of the intervals' data, as far as its segments'
    marts: a new run id; the same cleaned tables, segments, members, history row,
    migrations and drift in its build of the warehouse as the first attempt published;
    nothing embedded again. (A rerun's lists and evaluation are the published run's
    recomputed, which the leak test checks for all six recommenders on the demo's run;
    stopping here halves the run, 734 CI-seconds of the whole DAG.)"""
    source_dir = intervals.second.settings.source_dir
    data_dir = copy_data_dir(intervals.second.settings.data_dir, tmp_path / "data")
    published = Settings(data_dir=data_dir, source_dir=source_dir)

    def snapshot(settings):
        with connect(settings) as con:
            return {
                table: con.sql(
                    f"select count(*), md5(string_agg(t::varchar, '|' order by t::varchar)) "
                    f"from {table} t"
                ).fetchall()[0]
                for table in ("reviews", "users", "items")
            }

    def segmentation(settings):
        """The current run's segments, members, history row and migrations, without its
        run id and time."""
        with connect(settings) as con:
            segments = con.sql(
                "select segment_id, segment_name, user_count from segments order by all"
            ).fetchall()
            members = con.sql(
                "select md5(string_agg(user_key || ':' || segment_id, '|' order by user_key)) "
                "from user_segments"
            ).fetchall()[0][0]
            (run_id, *run) = con.sql(
                "select run_id, is_refit, model_run_id, previous_run_id, shared_users, "
                "ari_previous, unchanged_id_share, input_unchanged from segmentation_runs "
                "order by segmented_at desc limit 1"
            ).fetchall()[0]
            moves = con.execute(
                "select previous_run_id, movement, from_segment_id, to_segment_id, user_count"
                " from segment_migrations where run_id = ? order by all",
                [run_id],
            ).fetchall()
            drift = con.execute(
                "select shared_users, moved_share, segments_born, segments_gone, "
                "max_centroid_shift from segmentation_drift where run_id = ?",
                [run_id],
            ).fetchall()
        return run_id, (segments, members, run, moves, drift)

    def texts_embedded() -> int:
        texts = published.lake.text_vectors()
        return duckdb.sql(f"select count(*) from '{texts}/**/*.parquet'").fetchall()[0][0]

    first, (first_run_id, first_segmentation) = snapshot(published), segmentation(published)
    first_texts = texts_embedded()
    again = run_pipeline(data_dir, source_dir, stop_after="dbt_segments", logical_date=SECOND_DATE)
    assert again.result.returncode == 0, again.log[-5000:]
    build = published.for_build()
    assert snapshot(build) == first
    # the same interval's data: placed by the same model, the same segments, ids, names
    # and members, compared with the same previous run, the same migrations and drift
    run_id, segmentation_again = segmentation(build)
    assert run_id != first_run_id
    assert segmentation_again == first_segmentation
    assert first_segmentation[2][:2] == [False, partition_name(intervals.first_run_id)]
    # nothing embedded: every review already had its vector
    assert texts_embedded() == first_texts


def table_fingerprints(path) -> dict[str, tuple[int, int]]:
    """Rows and a content hash of every table of a DuckDB file."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = [t for (t,) in con.sql("select table_name from duckdb_tables()").fetchall()]
        return {
            name: con.execute(f'select count(*), sum(hash(t)) from "{name}" t').fetchone()
            for name in names
        }


# as review text is written in the source files; cleaned, as analysts read it
ENTITIES = "A &#34;quoted&#34;&nbsp; word &amp;\tmore&#x2014;  "
DECODED = 'A "quoted" word & more\u2014'


def test_a_strict_run_stopped_by_a_soft_expectation_publishes_nothing(
    intervals, tmp_path, real_source_dir
):
    """A copy of the intervals' data; a strict manual run of one more file, in which one
    reviewer wrote 3,000 words: the users' features gate fails on the soft expectation of
    at most 2,500 words a review, after dbt rebuilt the staged and feature tables in the
    run's build, and the published warehouse is unchanged."""
    first = intervals.second.settings
    data_dir = copy_data_dir(first.data_dir, tmp_path / "data")
    published = first.warehouse_path.relative_to(first.data_dir)
    before_publish = table_fingerprints(data_dir / published)
    name = "AMAZON_FASHION_5.json.gz"
    real = read_lines(real_source_dir / name, 100)
    verbose = {**json.loads(real[0]), "reviewerID": "AVERBOSE1", "reviewText": "word " * 3000}
    quoting = {**json.loads(real[1]), "reviewerID": "AQUOTES1", "reviewText": ENTITIES}
    write_gz(
        tmp_path / "src" / name, [*real, *(json.dumps(r).encode() for r in (verbose, quoting))]
    )

    run = run_pipeline(
        data_dir, tmp_path / "src", conf={"source_files": [name], "strict_expectations": True}
    )
    assert run.result.returncode != 0
    states = task_states(run)
    assert states["dbt_features"] == states["validate_staged_reviews"] == "success", states
    assert states["validate_user_features"] == "failed", states
    assert {states[t] for t in ("dbt_marts", "embed_reviews", "publish_warehouse")} == {
        "upstream_failed"
    }, states

    # the run's tables were built apart, never published
    assert table_fingerprints(data_dir / published) == before_publish
    build = data_dir / published.with_name("building.duckdb")
    with duckdb.connect(str(build), read_only=True) as con:
        (verbose_key,) = con.sql(
            "select user_key from int_users__behaviour_features where mean_review_words > 2500"
        ).fetchall()[0]
        staged_files = con.sql("select count(distinct source_file) from stg_amazon__reviews")
        assert staged_files.fetchall()[0][0] == 3
        # HTML entities decoded and white space folded as the cleaning stage does
        texts = con.sql(
            "select review_text from int_reviews__normalised where review_text like 'A %quoted%'"
        )
        assert texts.fetchall() == [(DECODED,)]
    assert "expect_column_values_to_be_between(mean_review_words, warning)" in run.log
    assert f"user_key {verbose_key}" in run.log


def test_corrupted_input_is_quarantined_through_the_dag(intervals, real_source_dir):
    lines = sum(len(read_lines(real_source_dir / name)) for name in TWO_FILES_CONF["source_files"])
    summary = intervals.summary
    assert summary["lines_read"] == lines + len(MALFORMED_LINES)
    assert summary["rows_quarantined"] == len(MALFORMED_LINES)
    assert summary["rows_loaded"] == lines
    expected_reasons = dict.fromkeys(MALFORMED_LINES.values(), 1)
    assert summary["quarantine_reasons"] == expected_reasons
    # the run's input is the lake's files, and the summary lists them
    assert {f["source_file"]: f["rows_loaded"] for f in summary["lake_files"]} == {
        f["source_file"]: f["rows_loaded"] for f in summary["files"]
    }
    with connect(intervals.second.settings) as con:
        staged = con.sql("select count(*) from stg_amazon__reviews").fetchall()[0][0]
        quarantined = con.sql(
            "select reason_code, count(*) from stg_amazon__quarantined_lines group by 1"
        ).fetchall()
    assert staged == lines
    assert dict(quarantined) == expected_reasons


def test_failed_hard_expectation_stops_everything_downstream(tmp_path, real_source_dir):
    name = "Appliances_5.json.gz"
    real = read_lines(real_source_dir / name, 300)
    # well-formed JSON with the right types, so ingest accepts it; a 7-star rating
    # breaks a hard expectation of the raw_reviews checkpoint
    impossible = json.loads(real[0])
    impossible["overall"] = 7.0
    write_gz(tmp_path / "src" / name, [*real, json.dumps(impossible).encode()])

    run = run_pipeline(tmp_path / "data", tmp_path / "src", conf={"source_files": [name]})
    assert run.result.returncode != 0

    states = task_states(run)
    assert states["ingest"] == "success"
    assert states["validate_raw_reviews"] == "failed"
    downstream = {t: s for t, s in states.items() if t not in {"ingest", "validate_raw_reviews"}}
    assert downstream and set(downstream.values()) == {"upstream_failed"}, downstream
    # named where the operator can find it: the source file and its line
    assert (
        f"expect_column_values_to_be_between(rating, critical) at {name} line {len(real) + 1}"
        in run.log
    )

    # nothing was published: no dbt model ran
    with connect(run.settings) as con:
        tables = {
            t for (t,) in con.sql("select table_name from information_schema.tables").fetchall()
        }
    assert tables.isdisjoint({"reviews", "users", "items", "stg_amazon__reviews"})
