"""The per-run segment report: one self-contained HTML file with plots, written with the
run's artifacts (``runs/<run id>/segments/report.html``).

It shows the users in 2-D (the first two principal components of the fused features,
coloured by segment), segment sizes, how k was chosen (silhouette and cost per k),
the profile table, category mix, distinctive terms and representative reviews, and the
history: segment sizes over every run and where this run's users came from (the
warehouse's segment_size_history and segment_migrations marts, which the pipeline
builds just before the report).

    python -m usersegments.segment_report --run-id <run id>
"""

from __future__ import annotations

import argparse
import base64
import html
import io
from pathlib import Path

import pandas as pd

from usersegments.config import Settings
from usersegments.lake import partition_name
from usersegments.warehouse import query, read_segmentation

PROJECTION_SAMPLE = 5000
PROFILE_FEATURES = (
    "review_count",
    "mean_rating",
    "mean_review_words",
    "helpful_votes",
    "recency_days",
    "degree",
)


def read_run(settings: Settings, run_id: str) -> dict[str, pd.DataFrame]:
    """The run's segmentation tables from the lake: the per-segment ones whole, and a
    sample of PROJECTION_SAMPLE users for the 2-D plot (the same users every time: by
    hash of their key), so the report's memory does not grow with the users."""
    import duckdb

    tables = ("segments", "profiles", "terms", "examples", "model_selection", "runs")
    run = {table: read_segmentation(settings, table, run_id) for table in tables}
    folder = settings.lake.segmentation("assignments", run_id)
    with duckdb.connect() as con:
        run["assignments"] = con.execute(
            "select segment_id, projection_x, projection_y from read_parquet(?) "
            "order by hash(user_key), user_key limit ?",
            [str(folder / "*.parquet"), PROJECTION_SAMPLE],
        ).df()
    return run


def read_history(settings: Settings, run_id: str) -> dict[str, pd.DataFrame]:
    """Every run's segment sizes (runs x k rows), this run's migrations (at most
    (k + 1)^2 rows) and when the segments were refitted, from the warehouse's marts."""
    run = partition_name(run_id)  # ids in the marts are partition names: no quotes
    return {
        "sizes": query(
            settings,
            "select coalesce(as_of, segmented_at) as seen_at, segmented_at, segment_id, "
            "user_count from segment_size_history order by seen_at, segmented_at, segment_id",
        ),
        "migrations": query(
            settings,
            "select from_segment_id, to_segment_id, user_count from segment_migrations "
            f"where run_id = '{run}'",
        ),
        "refits": query(
            settings,
            "select coalesce(as_of, segmented_at) as seen_at from segmentation_runs where is_refit",
        ),
    }


def _history_plots(history: dict[str, pd.DataFrame]) -> str:
    """Segment sizes per run (a line per segment id) and this run's migration matrix
    (rows: segment in the run before, or joined; columns: segment now, or left)."""
    import matplotlib.pyplot as plt

    # a run per row (a rerun of an as-of is a run of its own), placed at its as-of
    sizes = history["sizes"].pivot_table(
        index=["seen_at", "segmented_at"], columns="segment_id", values="user_count", fill_value=0
    )
    seen_at = sizes.index.get_level_values("seen_at")
    figure, axes = plt.subplots(figsize=(8, 4))
    for segment in sizes.columns:
        axes.plot(seen_at, sizes[segment], marker="o", label=str(segment))
    # the runs between two refits placed their users with the same model
    for i, refit_at in enumerate(history["refits"]["seen_at"]):
        axes.axvline(refit_at, color="grey", linestyle=":", label=None if i else "refit")
    axes.set_ylabel("users")
    axes.set_xlabel("as of (a manual run: when it ran)")
    axes.set_title(f"Segment sizes over {len(sizes)} runs")
    axes.legend(title="segment", fontsize=7, ncol=2)
    figure.autofmt_xdate()
    over_time = _png(figure)

    moves = history["migrations"].assign(
        before=lambda m: _segment_labels(m["from_segment_id"], "joined"),
        now=lambda m: _segment_labels(m["to_segment_id"], "left"),
    )
    matrix = moves.pivot_table(
        index="before", columns="now", values="user_count", aggfunc="sum", fill_value=0
    )
    figure, axes = plt.subplots(figsize=(1.5 + 0.6 * len(matrix.columns), 1 + 0.5 * len(matrix)))
    axes.imshow(matrix.to_numpy(), cmap="Blues")
    axes.set_xticks(range(len(matrix.columns)), matrix.columns)
    axes.set_yticks(range(len(matrix.index)), matrix.index)
    darkest = matrix.to_numpy().max()
    for (row, column), users in pd.DataFrame(matrix.to_numpy()).stack().items():
        colour = "white" if users > darkest / 2 else "black"
        axes.text(column, row, f"{users:,}", ha="center", va="center", fontsize=7, color=colour)
    axes.set_xlabel("segment in this run")
    axes.set_ylabel("segment in the run before")
    axes.set_title("Where this run's users came from")
    return over_time + _png(figure)


def _segment_labels(segment_ids: pd.Series, missing: str) -> pd.Series:
    """Segment ids as axis labels; a null (no segment on that side) as ``missing``."""
    return segment_ids.astype("object").map(lambda s: missing if pd.isna(s) else str(int(s)))


def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return (
        f'<img alt="" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'
    )


def _plots(run: dict[str, pd.DataFrame]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    segments = run["segments"].sort_values("segment_id")
    names = dict(zip(segments["segment_id"], segments["segment_name"], strict=True))
    colours = {s: plt.cm.tab10(i % 10) for i, s in enumerate(segments["segment_id"])}

    users = run["assignments"]  # a sample (read_run)
    figure, axes = plt.subplots(figsize=(8, 6))
    for segment, members in users.groupby("segment_id"):
        axes.scatter(
            members["projection_x"],
            members["projection_y"],
            s=6,
            alpha=0.6,
            color=colours[segment],
            label=f"{segment}: {names[segment]}",
        )
    axes.set_xlabel("principal component 1")
    axes.set_ylabel("principal component 2")
    axes.set_title(f"Users by segment ({len(users):,} shown)")
    axes.legend(fontsize=7, markerscale=2, loc="best")
    projection = _png(figure)

    figure, axes = plt.subplots(figsize=(8, 0.5 + 0.45 * len(segments)))
    ordered = segments.sort_values("user_count")
    axes.barh(
        [f"{s}: {n}" for s, n in zip(ordered["segment_id"], ordered["segment_name"], strict=True)],
        ordered["user_count"],
        color=[colours[s] for s in ordered["segment_id"]],
    )
    axes.set_xlabel("users")
    axes.set_title("Segment sizes")
    sizes = _png(figure)

    choice = _choice_plot(run["model_selection"].sort_values("k"))
    return {"projection": projection, "sizes": sizes, "choice": choice}


def _choice_plot(selection: pd.DataFrame) -> str:
    """Per candidate k: silhouette, macro-silhouette with its noise band and stability
    (left, 0..1), cost (right); the chosen k circled."""
    import matplotlib.pyplot as plt

    figure, left = plt.subplots(figsize=(8, 4))
    k = selection["k"]
    left.plot(k, selection["silhouette"], marker="o", color="tab:blue", label="silhouette")
    macro, noise = selection["macro_silhouette"], selection["macro_silhouette_noise"]
    left.plot(k, macro, marker="^", color="tab:green", label="macro-silhouette")
    left.fill_between(k, macro - noise, macro + noise, color="tab:green", alpha=0.15)
    if selection["stability"].notna().any():
        left.plot(
            k,
            selection["stability"],
            marker="D",
            color="tab:orange",
            label="stability (ARI of subsample fits)",
        )
    chosen = selection[selection["is_chosen"]]
    left.scatter(
        chosen["k"],
        chosen["macro_silhouette"],
        s=160,
        facecolors="none",
        edgecolors="red",
        label="chosen",
    )
    left.set_xlabel("k")
    left.set_ylabel("score")
    right = left.twinx()
    right.plot(k, selection["cost"], marker="s", color="tab:grey", alpha=0.6)
    right.set_ylabel("cost (within-cluster sum of squares)", color="tab:grey")
    left.legend(loc="lower left", fontsize=7)
    left.set_title("Choosing k")
    return _png(figure)


def _as_of(info: pd.Series) -> str:
    as_of = info.get("as_of")
    return "every review" if as_of is None or pd.isna(as_of) else f"reviews before {as_of} UTC"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(
        index=False, border=0, classes="t", float_format=lambda v: f"{v:,.3g}", escape=True
    )


def _stability_sentence(info: pd.Series) -> str:
    if pd.isna(info["stability"]):
        return "Stability not measured (no subsamples)."
    unstable = int(info["unstable_segments"])
    return (
        f"Refitted on {info['subsamples']} subsamples, the chosen k agrees with itself at "
        f"ARI {info['stability']:.3f}; "
        + (
            f"<b>{unstable} segment(s) below the stability floor</b> (is_stable false)."
            if unstable
            else "every segment is above the stability floor."
        )
    )


def render(
    run_id: str,
    run: dict[str, pd.DataFrame],
    reviews: pd.DataFrame,
    history: dict[str, pd.DataFrame],
) -> str:
    plots = _plots(run)
    info = run["runs"].iloc[0]
    segments = run["segments"].sort_values("segment_id")
    profiles = run["profiles"]

    behaviour = profiles[profiles["feature"].isin(PROFILE_FEATURES)]
    profile = behaviour.pivot_table(index="segment_id", columns="feature", values="segment_value")
    lift = behaviour.pivot_table(index="segment_id", columns="feature", values="lift")
    profile_table = segments[
        [
            "segment_id",
            "segment_name",
            "user_count",
            "user_share",
            "stability",
            "is_stable",
            "traits",
        ]
    ].merge(profile.join(lift.add_suffix(" lift")).reset_index(), on="segment_id")
    categories = profiles[profiles["facet"] == "category"].pivot_table(
        index="segment_id", columns="feature", values="segment_value", fill_value=0.0
    )
    terms = (
        run["terms"]
        .sort_values(["segment_id", "term_rank"])
        .groupby("segment_id")["term"]
        .apply(", ".join)
    )
    examples = (
        run["examples"]
        .merge(reviews, on="review_key", how="left")
        .sort_values(["segment_id", "example_rank"])
    )
    example_rows = "".join(
        f"<tr><td>{row.segment_id}</td><td>{row.similarity:.3f}</td>"
        f"<td><b>{html.escape(str(row.summary or ''))}</b> {html.escape(str(row.review_text or '')[:300])}</td></tr>"
        for row in examples.itertuples()
    )
    stability = (
        f"previous run {html.escape(str(info['previous_run_id']))}: adjusted Rand index "
        f"{info['ari_previous']:.4f} on {info['shared_users']:,} shared users, "
        f"{info['unchanged_id_share']:.1%} kept their segment id"
        if pd.notna(info["previous_run_id"]) and pd.notna(info["ari_previous"])
        else "first run: no previous segmentation to compare with"
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Segments of run {html.escape(run_id)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table.t{{border-collapse:collapse;font-size:13px;margin:1em 0}}
table.t td,table.t th{{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}}
img{{max-width:100%}}</style></head><body>
<h1>User segments</h1>
<p>Run <code>{html.escape(run_id)}</code>, {info["segmented_at"]} UTC, {_as_of(info)}:
{info["algorithm"]}, k = {info["k"]} ({html.escape(info["k_selection"])}), silhouette {info["silhouette"]:.4f},
{info["users"]:,} users; feature weights {html.escape(info["feature_weights"])};
{info["restarts"]} starts per fit, {info["start"]} start; {stability}.
{_stability_sentence(info)}</p>
<h2>Segments</h2>{_table(profile_table)}
{plots["sizes"]}
<h2>Users in two dimensions</h2>{plots["projection"]}
<h2>Segments over runs</h2>{_history_plots(history)}
<h2>How k was chosen</h2>{plots["choice"]}{_table(run["model_selection"].sort_values("k"))}
<h2>Category mix (share of each segment's reviews)</h2>{_table(categories.reset_index())}
<h2>Distinctive terms (class-based TF-IDF)</h2>{_table(terms.reset_index().rename(columns={"term": "top terms"}))}
<h2>Representative reviews (nearest the segment's text centroid)</h2>
<table class="t"><tr><th>segment</th><th>similarity</th><th>review</th></tr>{example_rows}</table>
</body></html>
"""


def write_report(settings: Settings, run_id: str) -> Path:
    """The report of ``run_id``; ``settings``: the warehouse whose history marts hold
    the run (the pipeline's build of it, before it is published)."""
    run = read_run(settings, run_id)
    keys = run["examples"]["review_key"].tolist()
    reviews = pd.read_parquet(
        settings.lake.clean("reviews"),
        columns=["review_key", "summary", "review_text"],
        filters=[("review_key", "in", keys)],
    )
    out = settings.run_dir(run_id) / "segments" / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    history = read_history(settings, run_id)
    out.write_text(render(run_id, run, reviews, history), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a segmentation run's HTML report.")
    parser.add_argument("--run-id", required=True)
    args = parser.parse_args(argv)
    print(write_report(Settings.from_env(), args.run_id))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
