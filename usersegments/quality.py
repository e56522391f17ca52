"""Great Expectations checkpoints between pipeline stages.

The GX project lives in expectations/gx (suites, validation definitions, checkpoints as
committed JSON). Each checkpoint validates one table, named after it:

- ``raw_reviews``: the lake's raw reviews, between ingest and dbt's cleaning models;
- ``staged_reviews``: the cleaned reviews, between cleaning and user features;
- ``user_features``: the per-user features, before the marts are published;
- ``review_embeddings``: the review vectors, between embedding and segmentation;
- ``user_segments``: the segmentation run's assignments and segments, before the segment
  marts are published (needs the expectation parameters ``min_segment_size`` and
  ``max_moved_share``: the drift limit, soft);
- ``user_scores``: every scoring run's scores against the current users, before the
  scoring DAG publishes them (needs ``expected_new_scores``: users read minus users
  already scored).

GX runs on Spark (the ``pipeline`` data source is a Spark one): each checkpoint's table
is a Spark frame built in usersegments/quality_data.py, so the expectations run where
the data is and no table is loaded into pandas. A failure names its rows by the
checkpoint's key columns (``unexpected_index_column_names`` in its JSON).

An expectation's ``severity`` says what its failure means: ``critical`` (hard) stops
the run, ``warning`` (soft) is reported and the run goes on. A checkpoint first asks
pass or fail only; a failure runs the whole checkpoint, which names the failing rows.
Results and Data Docs are written under the data folder (a run renders its Data Docs
once, at its end: ``update_data_docs``), and a summary per checkpoint into the run's
folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usersegments.config import PROJECT_DIR, Settings
from usersegments.segmentation.refit import RefitPolicy

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

GX_PROJECT_DIR = PROJECT_DIR / "expectations"


# one per validated table: expectations/gx/checkpoints/<name>.json
CHECKPOINTS = sorted(p.stem for p in (GX_PROJECT_DIR / "gx" / "checkpoints").glob("*.json"))


@dataclass(frozen=True)
class DriftLimits:
    """How far a run may move the users of the previous run before its checkpoint
    warns (soft; a strict run stops): the share of shared users whose segment changed.
    The same limit makes a placing run refit (usersegments.segmentation.refit)."""

    max_moved_share: float = RefitPolicy.max_moved_share


class ExpectationsFailed(RuntimeError):
    """A hard (critical) expectation failed: downstream stages must not run."""


def locate_rows(rows: list[dict] | None, key_columns: list[str]) -> list[str]:
    """Where the failing rows GX reports came from, by the checkpoint's key columns
    (its result_format's ``unexpected_index_column_names``): "file line N" for the
    raw tables' lineage, else the keys; GX's own row positions mean nothing to an
    operator (and a Spark frame has none)."""
    named = []
    for row in rows or []:
        if {"source_file", "line_number"} <= set(key_columns):
            named.append(f"{row['source_file']} line {row['line_number']}")
        else:
            named.append(", ".join(f"{column} {row[column]}" for column in key_columns))
    return named


def _summarise(
    checkpoint: str, validations, strict: bool, key_columns: list[str]
) -> dict[str, Any]:
    failed: list[dict[str, Any]] = []
    evaluated = 0
    for validation in validations:
        for outcome in validation.results:
            evaluated += 1
            if outcome.success:
                continue
            config = outcome.expectation_config
            severity = getattr(config, "severity", None) or "critical"
            details = outcome.result or {}
            failed.append(
                {
                    "expectation": config.type,
                    "column": config.kwargs.get("column") or config.kwargs.get("column_list"),
                    "severity": getattr(severity, "value", severity),
                    "unexpected_count": details.get("unexpected_count"),
                    "observed_value": details.get("observed_value"),
                    "unexpected_rows": locate_rows(
                        details.get("partial_unexpected_index_list"), key_columns
                    ),
                }
            )
    hard = [f for f in failed if f["severity"] == "critical" or strict]
    return {
        "checkpoint": checkpoint,
        "evaluated": evaluated,
        "passed": evaluated - len(failed),
        "failed_hard": len(hard),
        "failed_soft": len(failed) - len(hard),
        "failures": failed,
        "success": not hard,
    }


def run_checkpoint(
    checkpoint: str,
    settings: Settings,
    run_id: str,
    data: DataFrame | None = None,
    strict: bool = False,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate a stage's output; raises ExpectationsFailed if a hard expectation fails
    (with ``strict``, if any expectation fails). ``data``: a Spark frame to validate
    instead of the stage's (tests); ``parameters`` fill the suite's ``$PARAMETER``
    thresholds."""
    if data is not None:
        return _validate(checkpoint, settings, run_id, data, strict, parameters)
    from pyspark.sql import SparkSession

    from usersegments.quality_data import CHECKPOINT_DATA
    from usersegments.spark import spark_session

    ours = SparkSession.getActiveSession() is None  # else the caller's, left running
    spark = spark_session(
        f"validate_{checkpoint}", settings, master=settings.spark.checkpoint_master, jars=False
    )
    # partition folder values (run ids) are strings, whatever they look like
    spark.conf.set("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
    try:
        with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".quality-") as scratch:
            frame = CHECKPOINT_DATA[checkpoint](spark, settings, run_id, Path(scratch))
            return _validate(checkpoint, settings, run_id, frame, strict, parameters)
    finally:
        if ours:
            spark.stop()


def _validate(
    checkpoint: str,
    settings: Settings,
    run_id: str,
    data: DataFrame,
    strict: bool,
    parameters: dict[str, Any] | None,
) -> dict[str, Any]:
    from great_expectations.core.run_identifier import RunIdentifier

    definition = _context(settings).checkpoints.get(checkpoint)
    batch = {"dataframe": data}
    # Pass or fail first: GX computes the counts of a suite's expectations together, in
    # a few Spark jobs. Only a failure pays for the checkpoint itself, whose result
    # format collects the unexpected rows and their keys (several jobs an expectation)
    # and whose action renders Data Docs; a run renders the rest once (update_data_docs).
    first = definition.validation_definitions[0].run(
        batch_parameters=batch,
        expectation_parameters=parameters or {},
        result_format="BOOLEAN_ONLY",
        run_id=RunIdentifier(run_name=run_id),
    )
    validations = [first]
    if not first.success:
        result = definition.run(
            batch_parameters=batch,
            expectation_parameters=parameters or {},
            run_id=RunIdentifier(run_name=run_id),
        )
        validations = list(result.run_results.values())
    key_columns = definition.result_format["unexpected_index_column_names"]
    summary = _summarise(checkpoint, validations, strict, key_columns)
    summary["rows"] = data.count()
    summary["parameters"] = parameters or {}
    summary["data_docs"] = str(settings.data_dir / "gx" / "data_docs" / "index.html")

    out = settings.run_dir(run_id) / "quality" / f"{checkpoint}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str))

    if not summary["success"]:
        details = "; ".join(_describe(failure) for failure in summary["failures"])
        raise ExpectationsFailed(
            f"checkpoint {checkpoint}: {summary['failed_hard']} hard expectation(s) failed "
            f"on {summary['rows']} rows: {details}. Results: {out}"
        )
    return summary


def _context(settings: Settings):
    import great_expectations as gx

    # great_expectations.yml writes results and Data Docs under ${USERSEGMENTS_DATA_DIR}.
    os.environ["USERSEGMENTS_DATA_DIR"] = str(settings.data_dir)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    return gx.get_context(mode="file", project_root_dir=str(GX_PROJECT_DIR))


def update_data_docs(settings: Settings, run_id: str) -> Path:
    """Data Docs of run ``run_id``'s validations (a failed checkpoint renders its own):
    one rendering at the end of a run, not one a checkpoint."""
    context = _context(settings)
    keys = [
        key for key in context.validation_results_store.list_keys() if key.run_id.run_name == run_id
    ]
    context.build_data_docs(resource_identifiers=keys)
    return settings.data_dir / "gx" / "data_docs" / "index.html"


def _describe(failure: dict[str, Any]) -> str:
    described = f"{failure['expectation']}({failure['column']}, {failure['severity']})"
    rows = failure["unexpected_rows"]
    if rows:
        more = failure["unexpected_count"] - len(rows)
        described += " at " + ", ".join(rows) + (f" and {more} more" if more > 0 else "")
    return described


def min_segment_size(settings: Settings, min_segment_share: float) -> int:
    """The user_segments suite's threshold: the smallest segment allowed, in users, for
    this many published users (the same rule the segmentation job chooses k by)."""
    import pyarrow.parquet as pq

    from usersegments.segmentation.options import min_segment_users

    users = pq.read_metadata(settings.lake.clean("users")).num_rows
    return min_segment_users(min_segment_share, users)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one Great Expectations checkpoint.")
    parser.add_argument("checkpoint", choices=CHECKPOINTS)
    parser.add_argument("--run-id", default="manual")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=NUMBER",
        help="an expectation parameter, e.g. min_segment_size=25",
    )
    args = parser.parse_args(argv)
    parameters = {name: float(value) for name, value in (p.split("=", 1) for p in args.param)}
    try:
        summary = run_checkpoint(
            args.checkpoint, Settings.from_env(), args.run_id, parameters=parameters
        )
    except ExpectationsFailed as failed:
        print(failed, file=sys.stderr)
        return 1
    update_data_docs(Settings.from_env(), args.run_id)
    json.dump(summary, sys.stdout, indent=2, default=str)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
