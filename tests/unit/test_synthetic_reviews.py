"""The synthetic-from-real generator of the scale benchmark, on small real files: its
output is labelled, seeded, never beside the real data, and ingested like real data."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys

import pyarrow.parquet as pq
import pytest

from tests.helpers import read_lines, write_gz
from usersegments.config import PROJECT_DIR, Settings
from usersegments.ingest import RAW_REVIEW_SCHEMA, ingest_sources

SPEC = importlib.util.spec_from_file_location(
    "synthetic_reviews", PROJECT_DIR / "bench" / "synthetic_reviews.py"
)
synthetic = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = synthetic  # its dataclasses look their module up there
SPEC.loader.exec_module(synthetic)

# one file of each schema: 2018 (verified, vote) and 2014 (helpful)
FILES = ("Appliances_5.json.gz", "reviews_Musical_Instruments_5.json.gz")


@pytest.fixture
def small_real(tmp_path, real_source_dir):
    source = tmp_path / "real"
    for name in FILES:
        write_gz(source / name, read_lines(real_source_dir / name, 300))
    return source


def lines_of(path):
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle]


def test_clones_are_new_users_of_the_real_items_with_real_texts(tmp_path, small_real):
    out = tmp_path / "x3"
    written = synthetic.generate(small_real, out, synthetic.CloneSpec(scale=3, seed=1))
    assert "SYNTHETIC" in (out / synthetic.MARKER).read_text()
    for name in FILES:
        real, fake = lines_of(small_real / name), lines_of(out / name)
        assert written[name] == len(fake)
        # each review kept with probability 0.9, every clone keeps at least one
        assert 0.8 * 3 * len(real) < len(fake) <= 3 * len(real)
        real_users = {r["reviewerID"] for r in real}
        fake_users = {r["reviewerID"] for r in fake}
        assert len(fake_users) == 3 * len(real_users) and not fake_users & real_users
        assert {r["asin"] for r in fake} <= {r["asin"] for r in real}
        assert {r.get("reviewText") for r in fake} <= {r.get("reviewText") for r in real}
        assert not any("reviewerName" in r for r in fake)
        assert {r["overall"] for r in fake} <= {1.0, 2.0, 3.0, 4.0, 5.0}
    # the same seed gives the same bytes; another seed other clones
    again = synthetic.generate(small_real, tmp_path / "again", synthetic.CloneSpec(3, seed=1))
    assert again == written
    assert all((out / n).read_bytes() == (tmp_path / "again" / n).read_bytes() for n in FILES)
    synthetic.generate(small_real, tmp_path / "other", synthetic.CloneSpec(3, seed=2))
    assert lines_of(tmp_path / "other" / FILES[0]) != lines_of(out / FILES[0])


def test_the_output_is_ingested_like_real_data(tmp_path, small_real):
    out = tmp_path / "x2"
    written = synthetic.generate(small_real, out, synthetic.CloneSpec(scale=2))
    report = ingest_sources(Settings(data_dir=tmp_path / "data", source_dir=out), "synthetic")
    assert report["rows_quarantined"] == 0
    assert report["lines_read"] == report["rows_loaded"] == sum(written.values())
    lake = Settings(data_dir=tmp_path / "data", source_dir=out).lake
    for name in FILES:
        stem = name.removesuffix(".json.gz")
        assert pq.read_schema(lake.raw_reviews(stem)).equals(
            RAW_REVIEW_SCHEMA, check_metadata=False
        )


def test_it_never_writes_beside_the_real_data(tmp_path, small_real):
    with pytest.raises(synthetic.NotSynthetic, match="inside the real source folder"):
        synthetic.generate(small_real, small_real / "x2", synthetic.CloneSpec(2))
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not the generator's")
    with pytest.raises(synthetic.NotSynthetic, match="has no SYNTHETIC.md"):
        synthetic.generate(small_real, foreign, synthetic.CloneSpec(2))
