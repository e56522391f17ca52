"""The run summary: what came in, what was rejected and why, what was published,
the segments found, and how the expectations went. Written to runs/<run_id>/summary.json by the DAG's last
task; `python -m usersegments.summary` prints the newest one."""

from __future__ import annotations

import argparse
import json
from typing import Any

from usersegments.config import Settings
from usersegments.warehouse import table_counts, warehouse_location

PUBLISHED_TABLES = ["reviews", "users", "items"]


def build_summary(
    settings: Settings,
    run_id: str,
    ingest: dict[str, Any],
    checks: list[dict[str, Any]],
    segment_report: str | None = None,
    classifier: dict[str, Any] | None = None,
    recommendations: dict[str, Any] | None = None,
) -> dict[str, Any]:
    summary = {
        "run_id": run_id,
        "lines_read": ingest["lines_read"],
        "rows_loaded": ingest["rows_loaded"],
        "rows_quarantined": ingest["rows_quarantined"],
        "quarantine_reasons": ingest["quarantine_reasons"],
        "files": ingest["files"],
        # the run's input: every file in the lake after this run's ingest and retirements
        "lake_files": ingest.get("lake_files", []),
        "retired": ingest.get("retired", []),
        "published": table_counts(settings, PUBLISHED_TABLES),
        "embeddings": embedding_counts(settings, run_id),
        "segmentation": segmentation_summary(settings),
        "segment_report": segment_report,
        "classifier": classifier,
        "recommendations": recommendations,
        "expectations": [
            {k: c[k] for k in ("checkpoint", "evaluated", "passed", "failed_hard", "failed_soft")}
            for c in checks
        ],
        "data_docs": str(settings.data_dir / "gx" / "data_docs" / "index.html"),
        "warehouse": warehouse_location(settings),
    }
    run_dir = settings.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def embedding_counts(settings: Settings, run_id: str) -> dict[str, Any]:
    """Review vectors of the current encoder: all of them, and those this run added."""
    import duckdb

    from usersegments.encoder import encoder_info
    from usersegments.lake import partition_name

    version = encoder_info(settings)["model_version"]
    folder = settings.lake.review_vectors(version)
    with duckdb.connect() as con:
        total, this_run = con.sql(
            "select count(*), count(*) filter (where batch = ?) "
            "from read_parquet(?, hive_partitioning = true)",
            params=[partition_name(run_id), str(folder / "*" / "*.parquet")],
        ).fetchall()[0]
    return {
        "model_version": version,
        "reviews_embedded_total": total,
        "embedded_this_run": this_run,
    }


def json_value(value: Any) -> Any:
    """A warehouse value as JSON takes it: NaN and NaT as None, times as ISO text."""
    if value is None or value != value:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else value


def segmentation_summary(settings: Settings) -> dict[str, Any]:
    """The published segmentation (the segment marts): k, silhouette, stability, segments."""
    from usersegments.warehouse import query

    run = query(
        settings,
        "select run_id, as_of, algorithm, k, k_selection, silhouette, stability, fit_start, "
        "ari_previous, shared_users, is_refit, refit_reason, model_run_id "
        "from segmentation_runs where run_id = (select run_id from segments limit 1)",
    )
    segments = query(
        settings,
        "select segment_id, segment_name, user_count, stability from segments order by segment_id",
    )
    info = {k: json_value(v) for k, v in run.iloc[0].to_dict().items()}
    return {**info, "segments": segments.to_dict("records")}


def with_interval(metrics: dict, name: str) -> str:
    """``0.1234 [0.1100, 0.1370]``; the value alone for a run from before intervals."""
    low, high = metrics.get(f"{name}_low"), metrics.get(f"{name}_high")
    interval = "" if low is None or high is None else f" [{low:.4f}, {high:.4f}]"
    return f"{metrics[name]:.4f}{interval}"


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"Run {summary['run_id']}",
        f"  lines read        {summary['lines_read']:>8,}",
        f"  rows loaded       {summary['rows_loaded']:>8,}",
        f"  rows quarantined  {summary['rows_quarantined']:>8,}",
    ]
    for reason, count in summary["quarantine_reasons"].items():
        lines.append(f"    {reason:<30} {count:>6,}")
    this_run = {f["source_file"] for f in summary["files"]}
    lines.append(f"  input: {len(summary['lake_files'])} files in the lake")
    for file in summary["lake_files"]:
        when = "this run" if file["source_file"] in this_run else f"run {file['ingest_run_id']}"
        lines.append(f"    {file['source_file']:<40} {file['rows_loaded']:>8,}  ingested by {when}")
    for name in summary["retired"]:
        lines.append(f"    {name:<40} retired by this run")
    lines.append("  published")
    for table, count in summary["published"].items():
        lines.append(f"    {table:<16} {count:>8,}")
    embeddings = summary["embeddings"]
    lines.append(f"  review embeddings ({embeddings['model_version']})")
    lines.append(f"    embedded this run {embeddings['embedded_this_run']:>8,}")
    lines.append(f"    embedded in all   {embeddings['reviews_embedded_total']:>8,}")
    seg = summary["segmentation"]
    stability = (
        f", ARI {seg['ari_previous']:.4f} vs the previous run on {seg['shared_users']:,} users"
        if seg["ari_previous"] is not None
        else ""
    )
    # a placing run's k and start are its model's: the next line names that run
    fit = (
        f" by {seg['k_selection']}, {seg.get('fit_start') or 'cold'} start"
        if seg.get("is_refit") is not False
        else ""
    )
    lines.append(
        f"  segments ({seg['algorithm']}, k={seg['k']}{fit}, "
        f"silhouette {seg['silhouette']:.4f}{stability})"
    )
    if seg.get("is_refit") is not None:
        lines.append(
            f"  refit: {seg['refit_reason']}"
            if seg["is_refit"]
            else f"  placed by the model of run {seg['model_run_id']} (no refit)"
        )
    for segment in seg["segments"]:
        jaccard = segment.get("stability")
        kept = "" if jaccard is None or jaccard != jaccard else f"  stability {jaccard:.2f}"
        lines.append(
            f"    {segment['segment_id']:>3}  {segment['user_count']:>6,}  "
            f"{segment['segment_name']}{kept}"
        )
    classifier = summary.get("classifier")
    if classifier and "skipped" in classifier:
        lines.append(f"  interest classifier not trained: {classifier['skipped']}")
    elif classifier:
        gate = classifier["gate"]
        lines.append(
            f"  interest classifier {classifier['model_name']} (held-out macro F1, "
            f"{classifier['heldout_users']:,} users)"
        )
        for candidate in classifier["candidates"]:
            lines.append(f"    {candidate['name']:<28} {candidate['macro_f1']:.4f}")
        lines.append(
            f"    challenger v{classifier['challenger_version']} ({classifier['best_candidate']}): "
            f"{'promoted to champion' if gate['promoted'] else 'not promoted'}, {gate['reason']}"
        )
    recommendations = summary.get("recommendations")
    if recommendations and recommendations.get("offline_evaluation") is False:
        lines.append(
            f"  recommendations: top {recommendations['top_n']} for"
            f" {recommendations['users_recommended']:,} users; not evaluated (offline_evaluation off)"
        )
    elif recommendations:
        refit = recommendations["evaluation_segmentation"]
        lines.append(
            f"  recommendations: top {recommendations['top_n']} for {recommendations['users_recommended']:,} users;"
            f" offline, latest item held out for {recommendations['holdout_users']:,} users"
            f" (refit ARI {refit['ari_published']:.3f} vs the published segments)"
        )
        baselines = recommendations.get("baselines")
        if baselines:
            lines.append(
                f"    chosen on a validation split of training: item-kNN"
                f" {baselines['item_knn_neighbours']} neighbours; ALS rank {baselines['als_rank']},"
                f" regularisation {baselines['als_reg_param']}, alpha {baselines['als_alpha']}"
            )
        lines += recommender_table(recommendations["overall"])
        prospective = recommendations.get("prospective")
        if prospective:
            lines.append(
                f"  prospective: the lists of run {prospective['lists_run_id']} on the items"
                f" {prospective['users']:,} of its users reviewed next"
                f" ({prospective['window_start']} to {prospective['window_end']})"
            )
            lines += recommender_table(prospective["overall"])
    lines.append("  expectations (passed/evaluated, hard and soft failures)")
    for check in summary["expectations"]:
        lines.append(
            f"    {check['checkpoint']:<16} {check['passed']:>3}/{check['evaluated']:<3}"
            f" hard failed {check['failed_hard']}, soft failed {check['failed_soft']}"
        )
    lines.append(f"  warehouse  {summary['warehouse']}")
    lines.append(f"  data docs  {summary['data_docs']}")
    lines.append(f"  segment report  {summary['segment_report']}")
    return "\n".join(lines)


def recommender_table(overall: dict[str, dict]) -> list[str]:
    width = max([len("recommender"), *map(len, overall)])
    lines = [
        f"    {'recommender':<{width}} {'HitRate [95% interval]':>24}"
        f" {'NDCG [95% interval]':>24} {'coverage':>9}"
    ]
    for name, m in overall.items():
        lines.append(
            f"    {name:<{width}} {with_interval(m, 'hit_rate'):>24}"
            f" {with_interval(m, 'ndcg'):>24} {m['catalogue_coverage']:>9.4f}"
        )
    return lines


def latest_summary(settings: Settings) -> dict[str, Any]:
    paths = sorted(settings.runs_dir.glob("*/summary.json"), key=lambda p: p.stat().st_mtime)
    if not paths:
        raise SystemExit(f"no run summary under {settings.runs_dir}: run `make demo` first")
    return json.loads(paths[-1].read_text())


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description="Print the newest run summary.").parse_args(argv)
    print(format_summary(latest_summary(Settings.from_env())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
