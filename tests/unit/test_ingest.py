"""Ingest on real lines, and on a corrupted copy of a real file."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from tests.helpers import read_lines, write_gz
from usersegments.config import Settings
from usersegments.ingest import (
    IngestError,
    IngestPolicy,
    Rejected,
    ingest_file,
    ingest_sources,
    parse_line,
)
from usersegments.lake import Lake

REAL_2014 = "reviews_Musical_Instruments_5.json.gz"
REAL_2018 = "Magazine_Subscriptions_5.json.gz"


def test_both_schemas_map_to_one(real_source_dir):
    old = parse_line(read_lines(real_source_dir / REAL_2014, 1)[0])
    new = parse_line(read_lines(real_source_dir / REAL_2018, 2)[1])  # line 2 has a vote
    assert old.keys() == new.keys()
    assert old["schema_version"] == "2014" and old["helpful_up"] is not None
    assert old["verified"] is None
    assert new["schema_version"] == "2018" and new["verified"] is not None
    assert new["vote_text"] == "3"


@pytest.mark.parametrize(
    "line, reason",
    [
        (b'{"reviewerID": "A1", "asin": "B1", "overall": 5.0, "unixRevi', "invalid_json"),
        (b'{"asin": "B1", "overall": 5.0, "unixReviewTime": 1}', "missing_reviewer_id"),
        (
            b'{"reviewerID": "", "asin": "B1", "overall": 5.0, "unixReviewTime": 1}',
            "missing_reviewer_id",
        ),
        (b'{"reviewerID": "A1", "overall": 5.0, "unixReviewTime": 1}', "missing_item_id"),
        (
            b'{"reviewerID": "A1", "asin": "B1", "overall": "five", "unixReviewTime": 1}',
            "wrong_type:overall",
        ),
        (
            b'{"reviewerID": "A1", "asin": "B1", "overall": 4.0, "unixReviewTime": "x"}',
            "wrong_type:unixReviewTime",
        ),
        (
            b'{"reviewerID": 17, "asin": "B1", "overall": 4.0, "unixReviewTime": 1}',
            "wrong_type:reviewerID",
        ),
        (
            b'{"reviewerID": "A1", "asin": "B1", "overall": 4.0, "unixReviewTime": 1, "vote": "lots"}',
            "wrong_type:vote",
        ),
        (b'{"reviewerID": "A1", "asin": "B1", "overall": 4.0}', "missing_review_time"),
        (b'["A1", "B1", 5.0]', "not_a_json_object"),
        # a JSON object of another kind: say so, not "missing_reviewer_id"
        (b'{"user": "A1", "product": "B1", "stars": 5}', "unknown_schema"),
        (
            b'{"reviewerID": "A1", "asin": "B1", "overall": 4.0, "unixReviewTime": 1, '
            b'"reviewText": "' + b"buy " * 9000 + b'"}',
            "text_too_long",
        ),
        (
            b'{"reviewerID": "A\xff1", "asin": "B1", "overall": 4.0, "unixReviewTime": 1}',
            "invalid_utf8",
        ),
        (b"   ", "empty_line"),
    ],
)
def test_bad_lines_are_rejected_with_a_reason(line, reason):
    with pytest.raises(Rejected) as rejected:
        parse_line(line)
    assert str(rejected.value).startswith(reason)


def test_vote_with_thousands_separator_is_accepted():
    record = parse_line(
        b'{"reviewerID": "A1", "asin": "B1", "overall": 4.0, "unixReviewTime": 1, "vote": "1,024"}'
    )
    assert record["vote_text"] == "1,024"


BAD_LINES = [
    b'{"overall": 5.0, "verified": true, "reviewerID": "AX1", "asin": "B0',  # truncated
    b'{"overall": "great", "reviewerID": "AX2", "asin": "B01", "unixReviewTime": 1400000000}',
    b'{"overall": 5.0, "asin": "B01", "unixReviewTime": 1400000000, "reviewerName": "Bob"}',
    b'{"overall": 5.0, "reviewerID": "AX4", "unixReviewTime": 1400000000}',
    b'{"overall": 5.0, "reviewerID": "AX5\xc3\x28", "asin": "B01", "unixReviewTime": 1}',
]


def test_corrupted_copy_is_quarantined_and_reconciles(tmp_path, real_source_dir):
    real = read_lines(real_source_dir / REAL_2018)
    # bad lines spread through a real file: at the start, in the middle, at the end
    corrupted = [BAD_LINES[0], *real[:1000], *BAD_LINES[1:4], *real[1000:], BAD_LINES[4]]
    source = write_gz(tmp_path / "src" / REAL_2018, corrupted)

    report = ingest_file(source, Lake(tmp_path / "lake"), "test-run")

    assert report.lines_read == len(real) + len(BAD_LINES)
    assert report.rows_loaded == len(real)
    assert report.rows_quarantined == len(BAD_LINES)
    assert report.lines_read == report.rows_loaded + report.rows_quarantined
    assert dict(report.quarantine_reasons) == {
        "invalid_json": 1,
        "wrong_type:overall": 1,
        "missing_reviewer_id": 1,
        "missing_item_id": 1,
        "invalid_utf8": 1,
    }
    quarantine = pq.read_table(tmp_path / "lake/raw/quarantine/Magazine_Subscriptions_5.parquet")
    rows = quarantine.to_pylist()
    assert [r["line_number"] for r in rows] == [1, 1002, 1003, 1004, len(corrupted)]
    assert rows[0]["raw_line"] == BAD_LINES[0].decode()  # the raw text is kept
    assert rows[4]["raw_line"].startswith('{"overall": 5.0, "reviewerID": "AX5\\xc3(')
    loaded = pq.read_table(tmp_path / "lake/raw/reviews/Magazine_Subscriptions_5.parquet")
    assert loaded.column("line_number").to_pylist()[:2] == [2, 3]  # lineage is per line
    assert set(loaded.column("source_file").to_pylist()) == {REAL_2018}


def test_rerun_replaces_rather_than_appends(tmp_path, real_source_dir):
    source = write_gz(tmp_path / "src" / REAL_2018, read_lines(real_source_dir / REAL_2018, 200))
    settings = Settings(data_dir=tmp_path, source_dir=source.parent)
    first = ingest_sources(settings, "run-1")
    second = ingest_sources(settings, "run-2")
    assert first["rows_loaded"] == second["rows_loaded"] == 200
    table = pq.read_table(tmp_path / "lake/raw/reviews")
    assert table.num_rows == 200
    assert set(table.column("ingest_run_id").to_pylist()) == {"run-2"}


def test_unreadable_file_fails_loudly_naming_it(tmp_path, real_source_dir):
    data = (real_source_dir / REAL_2018).read_bytes()
    broken = tmp_path / "src" / "Broken_5.json.gz"
    broken.parent.mkdir()
    broken.write_bytes(data[: len(data) // 2])  # gzip stream cut in half
    with pytest.raises(IngestError, match="Broken_5.json.gz"):
        ingest_file(broken, Lake(tmp_path / "lake"), "run")
    assert not (tmp_path / "lake/raw/reviews/Broken_5.parquet").exists()


def test_missing_named_source_is_an_error(tmp_path, real_source_dir):
    with pytest.raises(IngestError, match="Nope.json.gz"):
        ingest_sources(Settings(tmp_path, real_source_dir), "run", ["Nope.json.gz"])


def test_real_data_loads_every_line(tmp_path, real_source_dir):
    report = ingest_sources(Settings(tmp_path, real_source_dir), "run")
    assert report["lines_read"] == 26_330  # SOURCES.md
    assert report["rows_loaded"] + report["rows_quarantined"] == report["lines_read"]
    assert json.loads(json.dumps(report)) == report  # XCom-serialisable


def test_a_file_that_cannot_be_input_is_refused_naming_it(tmp_path, real_source_dir):
    lake = Lake(tmp_path / "lake")
    empty = write_gz(tmp_path / "src" / REAL_2018, [])
    empty.write_bytes(b"")  # zero bytes, as a truncated copy would be
    with pytest.raises(IngestError, match=rf"{REAL_2018}: empty file"):
        ingest_file(empty, lake, "run")
    # 3 bad lines in 10: above the 10% allowed; the reasons say what kind
    real = read_lines(real_source_dir / REAL_2018, 7)
    junk = [b'{"user": "A1", "stars": 5}'] * 3
    mostly_bad = write_gz(tmp_path / "src" / REAL_2018, [*real, *junk])
    with pytest.raises(IngestError, match=r"3 of 10 lines \(30%\).*line 8; unknown_schema 3"):
        ingest_file(mostly_bad, lake, "run")
    assert (
        ingest_file(
            mostly_bad, lake, "run", IngestPolicy(max_quarantined_share=0.5)
        ).rows_quarantined
        == 3
    )
    # a file dbt's seed gives no category: the error says where to add it
    unknown = write_gz(tmp_path / "src" / "Garden_5.json.gz", real)
    with pytest.raises(
        IngestError, match=r"Garden_5.json.gz.*dbt_project/seeds/amazon_source_files.csv"
    ):
        ingest_file(unknown, lake, "run")
    assert not lake.raw_reviews("Garden_5").exists()


def test_a_run_reads_the_whole_lake_until_a_file_is_retired(tmp_path, real_source_dir):
    source = tmp_path / "src"
    for name in (REAL_2018, "Appliances_5.json.gz"):
        write_gz(source / name, read_lines(real_source_dir / name, 50))
    settings = Settings(data_dir=tmp_path, source_dir=source)
    ingest_sources(settings, "run-1")
    second = ingest_sources(settings, "run-2", ["Appliances_5.json.gz"])
    # this run ingested one file; its input is both
    assert [f["source_file"] for f in second["files"]] == ["Appliances_5.json.gz"]
    assert {(f["source_file"], f["ingest_run_id"]) for f in second["lake_files"]} == {
        (REAL_2018, "run-1"),
        ("Appliances_5.json.gz", "run-2"),
    }
    third = ingest_sources(settings, "run-3", retire=[REAL_2018])
    assert third["retired"] == [REAL_2018] and third["files"] == []
    assert [f["source_file"] for f in third["lake_files"]] == ["Appliances_5.json.gz"]
    assert not settings.lake.quarantine("Magazine_Subscriptions_5").exists()
    with pytest.raises(IngestError, match="does not hold: Nope_5.json.gz"):
        ingest_sources(settings, "run-4", retire=["Nope_5.json.gz"])


def test_a_refused_file_leaves_the_lake_as_it_was(tmp_path, real_source_dir):
    source = tmp_path / "src"
    write_gz(source / REAL_2018, read_lines(real_source_dir / REAL_2018, 50))
    settings = Settings(data_dir=tmp_path, source_dir=source)
    ingest_sources(settings, "run-1")
    before = settings.lake.raw_reviews("Magazine_Subscriptions_5").read_bytes()
    (source / "Appliances_5.json.gz").write_bytes(b"")
    with pytest.raises(IngestError, match="Appliances_5.json.gz: empty file"):
        ingest_sources(settings, "run-2")  # both files: the good one is not rewritten either
    assert settings.lake.raw_reviews("Magazine_Subscriptions_5").read_bytes() == before
