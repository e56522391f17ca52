"""Ingest raw review files into the lake.

Every line of every source file ends up in exactly one of two Parquet tables:
``lake/raw/reviews`` (mapped to one raw schema, with lineage) or
``lake/raw/quarantine`` (the raw text and the reason it was rejected). The run then
reads the row counts back from the written files and fails loudly unless
lines read = rows loaded + rows quarantined, per file.

Both published schemas of the Amazon review data are accepted: the 2014 one
(``helpful: [up, total]``) and the 2018 one (``verified``, ``vote``, ``style``,
``image``). Values are mapped, not cleaned: casting and normalising is dbt's job.
Each source file is rewritten whole on every run, so reruns are idempotent.

A run's input is the lake as a whole: every file ingested by this run or an earlier
one, until a run retires it (``retire``: its lake files are removed). A file is refused
whole, naming it, before anything is written: when it is empty, when more than the
policy's share of its lines is quarantined, or when the dbt seed gives it no category.
A review whose text is longer than ``MAX_TEXT_CHARS`` is quarantined: one review of
megabytes would otherwise outweigh a whole segment's words.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from usersegments.config import DBT_PROJECT_DIR, Settings
from usersegments.lake import Lake, write_parquet_atomically

SOURCE_SUFFIXES = (".json.gz", ".json", ".jsonl", ".jsonl.gz")
# The longest real review (summary and body) has 11,310 characters.
MAX_TEXT_CHARS = 32_000
# A JSON object with none of these keys is a review of neither schema.
REVIEW_KEYS = frozenset({"reviewerID", "asin", "overall", "unixReviewTime", "reviewText"})
# Every source file's category: dbt's seed, the one list of known files.
SOURCE_FILES_SEED = DBT_PROJECT_DIR / "seeds" / "amazon_source_files.csv"
# 2018 files write helpful votes as text with thousands separators ("1,024").
VOTE_PATTERN = re.compile(r"\d{1,3}(,\d{3})*|\d+")

RAW_REVIEW_SCHEMA = pa.schema(
    [
        ("ingest_run_id", pa.string()),
        ("source_file", pa.string()),
        ("line_number", pa.int64()),
        ("schema_version", pa.string()),
        ("reviewer_id", pa.string()),
        ("reviewer_name", pa.string()),
        ("item_id", pa.string()),
        ("rating", pa.float64()),
        ("summary", pa.string()),
        ("review_text", pa.string()),
        ("unix_review_time", pa.int64()),
        ("review_time_text", pa.string()),
        ("verified", pa.bool_()),
        ("vote_text", pa.string()),
        ("helpful_up", pa.int64()),
        ("helpful_total", pa.int64()),
        ("style_json", pa.string()),
        ("image_count", pa.int64()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("ingest_run_id", pa.string()),
        ("source_file", pa.string()),
        ("line_number", pa.int64()),
        ("reason", pa.string()),
        ("raw_line", pa.string()),
    ]
)


class IngestError(RuntimeError):
    """A source cannot be ingested at all, or the counts do not reconcile."""


class Rejected(ValueError):
    """A line that goes to quarantine; the message is the recorded reason."""


@dataclass(frozen=True)
class IngestPolicy:
    # a file with a larger share of quarantined lines is refused whole
    max_quarantined_share: float = 0.1


@dataclass
class FileReport:
    source_file: str
    lines_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    quarantine_reasons: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source_file": self.source_file,
            "lines_read": self.lines_read,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "quarantine_reasons": dict(sorted(self.quarantine_reasons.items())),
        }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _optional(obj: dict, key: str, check, type_name: str) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if not check(value):
        raise Rejected(f"wrong_type:{key} (expected {type_name}, got {type(value).__name__})")
    return value


def _required_id(obj: dict, key: str, missing_reason: str) -> str:
    value = obj.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Rejected(missing_reason)
    if not isinstance(value, str):
        raise Rejected(f"wrong_type:{key} (expected string, got {type(value).__name__})")
    return value


def map_record(obj: Any) -> dict[str, Any]:
    """Map one decoded JSON value (either schema) to the raw schema's value columns."""
    if not isinstance(obj, dict):
        raise Rejected(f"not_a_json_object (got {type(obj).__name__})")
    if not REVIEW_KEYS & obj.keys():
        raise Rejected(f"unknown_schema (keys: {', '.join(sorted(obj)[:8]) or 'none'})")

    reviewer_id = _required_id(obj, "reviewerID", "missing_reviewer_id")
    item_id = _required_id(obj, "asin", "missing_item_id")

    rating = obj.get("overall")
    if rating is None:
        raise Rejected("missing_rating")
    if not _is_number(rating):
        raise Rejected(f"wrong_type:overall (expected number, got {type(rating).__name__})")

    unix_time = obj.get("unixReviewTime")
    if unix_time is None:
        raise Rejected("missing_review_time")
    if isinstance(unix_time, float) and unix_time.is_integer():
        unix_time = int(unix_time)
    if not _is_int(unix_time):
        raise Rejected(
            f"wrong_type:unixReviewTime (expected integer, got {type(unix_time).__name__})"
        )

    helpful = _optional(
        obj,
        "helpful",
        lambda v: isinstance(v, list) and len(v) == 2 and all(_is_int(x) for x in v),
        "[up, total] integers",
    )
    vote = _optional(
        obj,
        "vote",
        lambda v: _is_int(v) or (isinstance(v, str) and VOTE_PATTERN.fullmatch(v) is not None),
        'a count such as "1,024"',
    )
    style = _optional(obj, "style", lambda v: isinstance(v, dict), "object")
    images = _optional(obj, "image", lambda v: isinstance(v, list), "list")
    summary = _optional(obj, "summary", lambda v: isinstance(v, str), "string")
    review_text = _optional(obj, "reviewText", lambda v: isinstance(v, str), "string")
    text_chars = len(summary or "") + len(review_text or "")
    if text_chars > MAX_TEXT_CHARS:
        raise Rejected(f"text_too_long ({text_chars} characters, at most {MAX_TEXT_CHARS})")

    return {
        # 2014 files carry `helpful`; 2018 files never do.
        "schema_version": "2014" if "helpful" in obj else "2018",
        "reviewer_id": reviewer_id,
        "reviewer_name": _optional(obj, "reviewerName", lambda v: isinstance(v, str), "string"),
        "item_id": item_id,
        "rating": float(rating),
        "summary": summary,
        "review_text": review_text,
        "unix_review_time": unix_time,
        "review_time_text": _optional(obj, "reviewTime", lambda v: isinstance(v, str), "string"),
        "verified": _optional(obj, "verified", lambda v: isinstance(v, bool), "boolean"),
        "vote_text": None if vote is None else str(vote),
        "helpful_up": None if helpful is None else helpful[0],
        "helpful_total": None if helpful is None else helpful[1],
        "style_json": None if style is None else json.dumps(style, sort_keys=True),
        "image_count": None if images is None else len(images),
    }


def parse_line(raw: bytes) -> dict[str, Any]:
    """Decode and map one raw line; raises Rejected with the quarantine reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(f"invalid_utf8 (byte {exc.start})") from None
    if not text.strip():
        raise Rejected("empty_line")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected(f"invalid_json ({exc.msg} at char {exc.pos})") from None
    return map_record(obj)


def _open_source(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def _read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with _open_source(path) as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line.rstrip(b"\r\n")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        # A broken container loses an unknown number of lines: no row count can be
        # reconciled, so the whole file is refused rather than half-loaded.
        raise IngestError(f"{path}: cannot read source file ({exc})") from exc


def source_stem(path: Path) -> str:
    name = path.name
    for suffix in SOURCE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


@dataclass
class ParsedFile:
    path: Path
    report: FileReport
    loaded: list[dict[str, Any]]
    quarantined: list[dict[str, Any]]


def parse_file(path: Path, run_id: str) -> ParsedFile:
    """Every line of one source file, mapped or with the reason it is quarantined."""
    parsed = ParsedFile(path, FileReport(source_file=path.name), [], [])
    lineage = {"ingest_run_id": run_id, "source_file": path.name}
    for number, raw in _read_lines(path):
        parsed.report.lines_read += 1
        try:
            parsed.loaded.append({**lineage, "line_number": number, **parse_line(raw)})
        except Rejected as rejected:
            reason = str(rejected)
            parsed.report.quarantine_reasons[reason.split(" ")[0]] += 1
            parsed.quarantined.append(
                {
                    **lineage,
                    "line_number": number,
                    "reason": reason,
                    "raw_line": raw.decode("utf-8", errors="backslashreplace"),
                }
            )
    return parsed


def check_file(parsed: ParsedFile, policy: IngestPolicy, categorised: set[str]) -> None:
    """Refuse a file that cannot be a useful part of the input, naming it and why."""
    name, report = parsed.path.name, parsed.report
    if name not in categorised:
        raise IngestError(
            f"{parsed.path}: no category for this file: add a row for {name!r} to "
            f"{SOURCE_FILES_SEED.relative_to(DBT_PROJECT_DIR.parent)} "
            "(source_file, category, category_name, dataset_version)"
        )
    if not report.lines_read:
        raise IngestError(f"{parsed.path}: empty file (0 lines): refused, not read as no reviews")
    share = len(parsed.quarantined) / report.lines_read
    if share > policy.max_quarantined_share:
        commonest = ", ".join(f"{r} {n}" for r, n in report.quarantine_reasons.most_common(3))
        first = parsed.quarantined[0]["line_number"]
        raise IngestError(
            f"{parsed.path}: {len(parsed.quarantined)} of {report.lines_read} lines "
            f"({share:.0%}) would be quarantined, more than the {policy.max_quarantined_share:.0%}"
            f" allowed (first at line {first}; {commonest}): file refused"
        )


def write_file(parsed: ParsedFile, lake: Lake) -> FileReport:
    """Replace the file's lake tables, then reconcile lines read with rows written."""
    report, stem = parsed.report, source_stem(parsed.path)
    reviews_path = write_parquet_atomically(
        pa.Table.from_pylist(parsed.loaded, schema=RAW_REVIEW_SCHEMA), lake.raw_reviews(stem)
    )
    quarantine_path = write_parquet_atomically(
        pa.Table.from_pylist(parsed.quarantined, schema=QUARANTINE_SCHEMA), lake.quarantine(stem)
    )
    # Counted from what is on disk, not from the lists above, so a lost write shows.
    report.rows_loaded = pq.read_metadata(reviews_path).num_rows
    report.rows_quarantined = pq.read_metadata(quarantine_path).num_rows
    if report.lines_read != report.rows_loaded + report.rows_quarantined:
        raise IngestError(
            f"{parsed.path.name}: {report.lines_read} lines read but {report.rows_loaded} "
            f"loaded + {report.rows_quarantined} quarantined"
        )
    return report


def ingest_file(
    path: Path, lake: Lake, run_id: str, policy: IngestPolicy = IngestPolicy()
) -> FileReport:
    """Ingest one source file, replacing whatever an earlier run wrote for it."""
    parsed = parse_file(path, run_id)
    check_file(parsed, policy, categorised_files())
    return write_file(parsed, lake)


def categorised_files() -> set[str]:
    """The source files dbt's seed gives a category."""
    import csv

    with SOURCE_FILES_SEED.open(newline="") as handle:
        return {row["source_file"] for row in csv.DictReader(handle)}


def retire_files(lake: Lake, names: list[str]) -> list[str]:
    """Remove files from the lake (their reviews and quarantine), so that later runs no
    longer read them; a name the lake does not hold is an error."""
    stems = {source_stem(Path(name)): name for name in names}
    missing = [name for stem, name in stems.items() if not lake.raw_reviews(stem).exists()]
    if missing:
        raise IngestError(f"cannot retire files the lake does not hold: {', '.join(missing)}")
    for stem in stems:
        lake.raw_reviews(stem).unlink()
        lake.quarantine(stem).unlink(missing_ok=True)
    return sorted(names)


def lake_files(lake: Lake) -> list[dict[str, Any]]:
    """Every source file in the lake: rows loaded and quarantined, and the run that
    ingested it (the run's input)."""
    files = []
    for path in sorted(lake.raw_reviews().parent.glob("*.parquet")):
        table = pq.read_table(path, columns=["source_file", "ingest_run_id"])
        quarantine = lake.quarantine(path.stem)
        files.append(
            {
                "source_file": table["source_file"][0].as_py() if len(table) else path.stem,
                "rows_loaded": len(table),
                "rows_quarantined": pq.read_metadata(quarantine).num_rows
                if quarantine.exists()
                else 0,
                "ingest_run_id": table["ingest_run_id"][0].as_py() if len(table) else None,
            }
        )
    return files


def discover_sources(source_dir: Path, names: list[str] | None = None) -> list[Path]:
    """The source files to ingest: the named ones, or every review file in the folder."""
    if not source_dir.is_dir():
        raise IngestError(f"source folder not found: {source_dir}")
    if names:
        paths = [source_dir / name for name in names]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise IngestError(f"source files not found in {source_dir}: {', '.join(missing)}")
        return paths
    paths = sorted(p for p in source_dir.iterdir() if p.name.endswith(SOURCE_SUFFIXES))
    if not paths:
        raise IngestError(f"no review files (*{', *'.join(SOURCE_SUFFIXES)}) in {source_dir}")
    return paths


def ingest_sources(
    settings: Settings,
    run_id: str,
    names: list[str] | None = None,
    retire: list[str] | None = None,
    policy: IngestPolicy = IngestPolicy(),
) -> dict[str, Any]:
    """Retire the named files from the lake, then ingest the selected source files
    (when none is named: all of them, or none in a run that retires files, which would
    otherwise ingest them again at once): every file is read and checked before any is
    written, so a refused file leaves the lake as it was. Returns this run's per-file
    reports and totals, and the lake's files after it (the run's input). Also creates
    the folders later stages write into: dbt's exported marts and the warehouse."""
    settings.lake.clean_dir.mkdir(parents=True, exist_ok=True)
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    paths = discover_sources(settings.source_dir, names) if names or not retire else []
    categorised = categorised_files()
    parsed = [parse_file(path, run_id) for path in paths]
    for each in parsed:
        check_file(each, policy, categorised)
    retired = retire_files(settings.lake, retire) if retire else []
    files = [write_file(each, settings.lake) for each in parsed]
    reasons: Counter = Counter()
    for report in files:
        reasons.update(report.quarantine_reasons)
    return {
        "ingest_run_id": run_id,
        "files": [report.as_dict() for report in files],
        "lines_read": sum(r.lines_read for r in files),
        "rows_loaded": sum(r.rows_loaded for r in files),
        "rows_quarantined": sum(r.rows_quarantined for r in files),
        "quarantine_reasons": dict(sorted(reasons.items())),
        "retired": retired,
        "lake_files": lake_files(settings.lake),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-id", default="manual")
    parser.add_argument("files", nargs="*", help="source file names (default: all)")
    parser.add_argument("--retire", action="append", help="remove this file from the lake first")
    args = parser.parse_args(argv)
    report = ingest_sources(Settings.from_env(), args.run_id, args.files or None, args.retire)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
