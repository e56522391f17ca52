"""Per-segment recommendations and their time-aware offline evaluation (WIP, issue 6).

Recommender: for each segment, items ranked by the segment members' reviews, each
weighted by its rating (rating / 5) and its age (half-life decay, measured from the
newest review the recommender sees); a user's top N is their segment's list without the
items they already reviewed.

Evaluation: each user with at least two reviewed items holds out their latest item(s)
(by review time, ties by review key); everything the recommender uses is computed from
the remaining reviews only (``time_split`` returns the two parts, and only the training
part is ever passed to ``item_scores``). Baselines, in the same run: global popularity
(the same weighting over all users) and random (seeded).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

ALL_USERS = -1  # the single "segment" of the global-popularity baseline


def time_split(reviews: pd.DataFrame, holdout: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test): per user, the ``holdout`` most recently reviewed distinct items go
    to test (all of the user's reviews of them leave train); users with no more than
    ``holdout`` items stay wholly in train."""
    latest = (
        reviews.groupby(["user_key", "item_id"], as_index=False)
        .agg(reviewed_at=("reviewed_at", "max"), review_key=("review_key", "max"))
        .sort_values(["user_key", "reviewed_at", "review_key"], ascending=[True, False, False])
    )
    latest["recency_rank"] = latest.groupby("user_key").cumcount()
    items = latest.groupby("user_key")["item_id"].transform("size")
    held = latest[(latest["recency_rank"] < holdout) & (items > holdout)][["user_key", "item_id"]]
    marked = reviews.merge(held.assign(_held=True), on=["user_key", "item_id"], how="left")
    is_test = marked["_held"].eq(True).to_numpy()
    return reviews[~is_test].reset_index(drop=True), held.reset_index(drop=True)


def item_scores(train: pd.DataFrame, groups: pd.Series, half_life_days: float) -> pd.DataFrame:
    """(group, item_id, score): the group's reviews weighted by rating/5 and by
    0.5 ** (age / half-life), age from the newest review in ``train``."""
    as_of = train["reviewed_at"].max()
    age_days = (as_of - train["reviewed_at"]).dt.total_seconds() / 86_400
    weighted = train.assign(
        group=train["user_key"].map(groups),
        weight=(train["rating"] / 5.0) * np.power(0.5, age_days / half_life_days),
    ).dropna(subset=["group"])
    scores = weighted.groupby(["group", "item_id"], as_index=False)["weight"].sum()
    return scores.rename(columns={"weight": "score"}).astype({"group": "int64"})


def top_n(scores: pd.DataFrame, groups: pd.Series, seen: pd.DataFrame, n: int) -> pd.DataFrame:
    """(user_key, rank, item_id, score): each user's group list minus the items in
    ``seen`` (user_key, item_id), best first (ties by item id), the first n."""
    seen_count = seen.groupby("user_key").size()
    users = pd.DataFrame({"user_key": groups.index, "group": groups.to_numpy()})
    depth = int(seen_count.max()) + n if len(seen_count) else n
    ranked = scores.sort_values(["group", "score", "item_id"], ascending=[True, False, True])
    shortlist = ranked.groupby("group").head(depth)
    candidates = users.merge(shortlist, on="group")
    candidates = candidates.merge(seen.assign(_seen=True), on=["user_key", "item_id"], how="left")
    candidates = candidates[candidates["_seen"].isna()].drop(columns="_seen")
    candidates = candidates.sort_values(["user_key", "score", "item_id"], ascending=[True, False, True])
    candidates["rank"] = candidates.groupby("user_key").cumcount() + 1
    return candidates[candidates["rank"] <= n][["user_key", "rank", "item_id", "score"]].reset_index(drop=True)


def random_top_n(users: pd.Index, catalogue: pd.Index, seen: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """The random baseline: n unseen catalogue items per user, uniformly, seeded."""
    rng = np.random.default_rng(seed)
    seen_by_user = seen.groupby("user_key")["item_id"].apply(set).to_dict()
    items = np.array(sorted(catalogue))
    rows = []
    for user in sorted(users):
        excluded = seen_by_user.get(user, set())
        picked: list[str] = []
        for item in items[rng.permutation(len(items))]:
            if item not in excluded:
                picked.append(item)
                if len(picked) == n:
                    break
        rows += [(user, rank + 1, item, 0.0) for rank, item in enumerate(picked)]
    return pd.DataFrame(rows, columns=["user_key", "rank", "item_id", "score"])


def ranking_metrics(recommendations: pd.DataFrame, test: pd.DataFrame, catalogue_size: int, k: int = 10) -> dict[str, float]:
    """HitRate@k, Recall@k and NDCG@k averaged over the users in ``test`` (a user
    without recommendations scores 0), and catalogue coverage (distinct items in anyone's
    top k over the catalogue)."""
    top = recommendations[recommendations["rank"] <= k]
    hits = test.merge(top, on=["user_key", "item_id"], how="left")
    hits["gain"] = np.where(hits["rank"].notna(), 1.0 / np.log2(hits["rank"].fillna(1) + 1), 0.0)
    per_user = hits.groupby("user_key").agg(
        relevant=("item_id", "size"), hit_count=("rank", "count"), dcg=("gain", "sum")
    )
    ideal = per_user["relevant"].clip(upper=k).map(lambda m: sum(1 / math.log2(i + 2) for i in range(m)))
    return {
        "users": float(len(per_user)),
        f"hit_rate_at_{k}": float((per_user["hit_count"] > 0).mean()),
        f"recall_at_{k}": float((per_user["hit_count"] / per_user["relevant"]).mean()),
        f"ndcg_at_{k}": float((per_user["dcg"] / ideal).mean()),
        "catalogue_coverage": float(top["item_id"].nunique() / catalogue_size) if catalogue_size else 0.0,
    }


# ---------------------------------------------------------------- driver (WIP)

HALF_LIFE_DAYS = 365.0
TOP_N = 10
SEED = 42


def evaluate(reviews: pd.DataFrame, segments: pd.Series, k: int = TOP_N, seed: int = SEED,
             half_life_days: float = HALF_LIFE_DAYS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Offline evaluation of the segment recommender and both baselines on one split.
    Returns (overall metrics per recommender, metrics per recommender and segment)."""
    train, test = time_split(reviews)
    seen = train[["user_key", "item_id"]].drop_duplicates()
    catalogue = pd.Index(sorted(train["item_id"].unique()))
    users = pd.Index(sorted(test["user_key"].unique()))
    segment_of = segments.reindex(users)
    everyone = pd.Series(ALL_USERS, index=users)
    recommendations = {
        "segment_popularity": top_n(item_scores(train, segments, half_life_days), segment_of.dropna().astype("int64"), seen, k),
        "global_popularity": top_n(item_scores(train, pd.Series(ALL_USERS, index=segments.index), half_life_days), everyone, seen, k),
        "random": random_top_n(users, catalogue, seen, k, seed),
    }
    overall, per_segment = [], []
    for name, recs in recommendations.items():
        overall.append({"recommender": name, **ranking_metrics(recs, test, len(catalogue), k)})
        for segment, members in test.assign(segment_id=test["user_key"].map(segments)).groupby("segment_id"):
            member_recs = recs[recs["user_key"].isin(members["user_key"])]
            per_segment.append({"recommender": name, "segment_id": int(segment),
                                **ranking_metrics(member_recs, members[["user_key", "item_id"]], len(catalogue), k)})
    return pd.DataFrame(overall), pd.DataFrame(per_segment)


def recommend_and_evaluate(settings, segmentation_run_id: str | None = None, k: int = TOP_N) -> dict:
    """WIP: the DAG step. Per-segment ranked items and per-user top-N from all reviews
    (published), and the offline evaluation (held-out split) logged to MLflow and
    written to the lake (lake/recommendations/<table>/run_id=<run>/)."""
    import mlflow

    from ml import tracking
    from usersegments.config import safe_name
    from usersegments.warehouse import latest_segmentation_run, read_segmentation

    run_id = safe_name(segmentation_run_id) if segmentation_run_id else latest_segmentation_run(settings)
    reviews = pd.read_parquet(
        settings.lake_dir / "clean" / "reviews.parquet",
        columns=["review_key", "user_key", "item_id", "rating", "reviewed_at"],
    )
    assignments = read_segmentation(settings, "assignments", run_id)
    segments = assignments.set_index("user_key")["segment_id"].astype("int64")

    # published: built from every review
    seen = reviews[["user_key", "item_id"]].drop_duplicates()
    segment_items = item_scores(reviews, segments, HALF_LIFE_DAYS)
    segment_items["item_rank"] = (
        segment_items.sort_values(["group", "score", "item_id"], ascending=[True, False, True])
        .groupby("group").cumcount() + 1
    )
    user_recs = top_n(segment_items[["group", "item_id", "score"]], segments, seen, k)

    overall, per_segment = evaluate(reviews, segments, k)
    client = tracking.configure(settings)
    mlflow.set_experiment(experiment_id=tracking.experiment_id(client, "segment_recommendations", settings))
    with mlflow.start_run(run_name=f"evaluate {run_id}", tags={"segmentation_run_id": run_id}) as run:
        mlflow.log_params({"k": k, "half_life_days": HALF_LIFE_DAYS, "seed": SEED, "holdout": "latest item per user"})
        for row in overall.to_dict("records"):
            name = row.pop("recommender")
            mlflow.log_metrics({f"{name}.{key}": value for key, value in row.items()})
        mlflow.log_table(per_segment, "per_segment_metrics.json")

    out = settings.lake_dir / "recommendations"
    for name, frame in {
        "segment_items": segment_items.rename(columns={"group": "segment_id"}),
        "user_recommendations": user_recs,
        "evaluation": overall.assign(segment_id=pd.NA),
        "evaluation_by_segment": per_segment,
    }.items():
        folder = out / name / f"run_id={run_id}"
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / "part-0.parquet", index=False)
    return {"segmentation_run_id": run_id, "mlflow_run_id": run.info.run_id,
            "overall": overall.to_dict("records")}
