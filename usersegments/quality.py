"""Great Expectations checkpoints between pipeline stages.

The GX project lives in expectations/gx (suites, validation definitions, checkpoints as
committed JSON). Each checkpoint validates one table, named after it:

- ``raw_reviews``: the lake's raw reviews, between ingest and dbt's cleaning models;
- ``staged_reviews``: the cleaned reviews, between cleaning and user features;
- ``user_features``: the per-user features, before the marts are published;
- ``review_embeddings``: the review vectors, between embedding and segmentation;
- ``user_segments``: the segmentation run's assignments and segments, before the segment
  marts are published (needs the expectation parameter ``min_segment_size``);
- ``user_scores``: every scoring run's scores against the current users, before the
  scoring DAG publishes them (needs ``expected_new_scores``: users read minus users
  already scored).

An expectation's ``severity`` says what its failure means: ``critical`` (hard) stops
the run, ``warning`` (soft) is reported and the run goes on. Results and Data Docs are
written under the data folder, and a summary per checkpoint into the run's folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import pandas as pd

from usersegments.config import PROJECT_DIR, Settings
from usersegments.warehouse import (
    read_raw_reviews,
    read_recommendations_check,
    read_review_embeddings,
    read_scores_reconciliation,
    read_segment_assignments,
    read_table,
)

GX_PROJECT_DIR = PROJECT_DIR / "expectations"

# What each checkpoint validates: a function of the settings and run id returning a DataFrame.
CHECKPOINT_DATA: dict[str, Callable[[Settings, str], pd.DataFrame]] = {
    "raw_reviews": lambda settings, run_id: read_raw_reviews(settings),
    "staged_reviews": lambda settings, run_id: read_table(settings, "int_reviews__normalised"),
    "user_features": lambda settings, run_id: read_table(settings, "int_users__behaviour_features"),
    "review_embeddings": lambda settings, run_id: read_review_embeddings(settings),
    "user_segments": read_segment_assignments,
    "user_scores": read_scores_reconciliation,
    "recommendations": read_recommendations_check,
}


class ExpectationsFailed(RuntimeError):
    """A hard (critical) expectation failed: downstream stages must not run."""


# Columns that name a failing row, most precise first: the lineage of the raw table
# (file and line), else the table's key.
ROW_NAMES = (("source_file", "line_number"), ("review_id",), ("user_key",), ("item_id",))


def locate_rows(data: pd.DataFrame, index: list | None) -> list[str]:
    """Where the rows GX reports by index came from: "file line N" when the table has
    the lineage columns, else the row's key; GX's indexes mean nothing to an operator."""
    if not index:
        return []
    rows = data.loc[data.index.isin(index)]
    for columns in ROW_NAMES:
        if set(columns) <= set(rows.columns):
            if len(columns) == 2:
                return [
                    f"{f} line {n}" for f, n in zip(rows[columns[0]], rows[columns[1]], strict=True)
                ]
            return [f"{columns[0]} {value}" for value in rows[columns[0]]]
    return [f"row {i}" for i in index]


def _summarise(checkpoint: str, result, strict: bool, data: pd.DataFrame) -> dict[str, Any]:
    failed: list[dict[str, Any]] = []
    evaluated = 0
    for validation in result.run_results.values():
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
                        data, details.get("partial_unexpected_index_list")
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
    data: pd.DataFrame | None = None,
    strict: bool = False,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate a stage's output; raises ExpectationsFailed if a hard expectation fails
    (with ``strict``, if any expectation fails). ``parameters`` fill the suite's
    ``$PARAMETER`` thresholds."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    # great_expectations.yml writes results and Data Docs under ${USERSEGMENTS_DATA_DIR}.
    os.environ["USERSEGMENTS_DATA_DIR"] = str(settings.data_dir)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if data is None:
        data = CHECKPOINT_DATA[checkpoint](settings, run_id)

    context = gx.get_context(mode="file", project_root_dir=str(GX_PROJECT_DIR))
    result = context.checkpoints.get(checkpoint).run(
        batch_parameters={"dataframe": data},
        expectation_parameters=parameters or {},
        run_id=RunIdentifier(run_name=run_id),
    )
    summary = _summarise(checkpoint, result, strict, data)
    summary["rows"] = len(data)
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
    parser.add_argument("checkpoint", choices=sorted(CHECKPOINT_DATA))
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
    json.dump(summary, sys.stdout, indent=2, default=str)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
