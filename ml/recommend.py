"""Per-segment recommendations and their time-aware offline evaluation.

Recommender: for each segment, items ranked by the segment members' reviews, each
weighted by its rating (rating / 5) and its age (half-life decay, measured from the
newest review the recommender sees); a user's top N is their segment's list without the
items they already reviewed. Published from every review and the published segments.

Evaluation, time-aware and without leakage: dbt's ``evaluation_reviews`` holds out each
user's latest distinct item (every review of it) for users with at least two; the
evaluation's segmentation (segment_users.py --evaluation) refits the published run's
settings on features, text vectors and graph of the 'train' reviews only; the item
scores, the seen items and the catalogue come from 'train' reviews only. So the only
place a held-out review appears is the ``holdout`` frame the metrics compare against.
Baselines in the same run: global popularity (the same weighting over all users) and
random (seeded), both also excluding seen items. Results: an MLflow run (experiment
``segment_recommendations``) and lake/recommendations/evaluation/run_id=<run>/.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ml.config import RecommenderConfig

ALL_USERS = -1  # the single "segment" of the global-popularity baseline
EXPERIMENT = "segment_recommendations"
# The evaluation table's columns and types (typed even when empty, so every run's
# partition has the same Parquet schema).
EVALUATION_COLUMNS = {
    "recommender": "object",
    "scope": "object",
    "segment_id": "Int64",
    "users": "int64",
    "hit_rate": "float64",
    "recall": "float64",
    "ndcg": "float64",
    "catalogue_coverage": "float64",
    "k": "int64",
}


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
    candidates = candidates.sort_values(
        ["user_key", "score", "item_id"], ascending=[True, False, True]
    )
    candidates["rank"] = candidates.groupby("user_key").cumcount() + 1
    return candidates[candidates["rank"] <= n][
        ["user_key", "rank", "item_id", "score"]
    ].reset_index(drop=True)


def random_top_n(
    users: pd.Index, catalogue: pd.Index, seen: pd.DataFrame, n: int, seed: int
) -> pd.DataFrame:
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


def ranking_metrics(
    recommendations: pd.DataFrame, test: pd.DataFrame, catalogue_size: int, k: int = 10
) -> dict[str, float]:
    """HitRate@k, Recall@k and NDCG@k (binary relevance) averaged over the users in
    ``test`` (a user without recommendations scores 0), and catalogue coverage (distinct
    items in anyone's top k over the catalogue size)."""
    top = recommendations[recommendations["rank"] <= k]
    hits = test.merge(top, on=["user_key", "item_id"], how="left")
    hits["gain"] = np.where(hits["rank"].notna(), 1.0 / np.log2(hits["rank"].fillna(1) + 1), 0.0)
    per_user = hits.groupby("user_key").agg(
        relevant=("item_id", "size"), hit_count=("rank", "count"), dcg=("gain", "sum")
    )
    ideal = (
        per_user["relevant"]
        .clip(upper=k)
        .map(lambda m: sum(1 / math.log2(i + 2) for i in range(m)))
    )
    return {
        "users": len(per_user),
        "hit_rate": float((per_user["hit_count"] > 0).mean()),
        "recall": float((per_user["hit_count"] / per_user["relevant"]).mean()),
        "ndcg": float((per_user["dcg"] / ideal).mean()),
        "catalogue_coverage": float(top["item_id"].nunique() / catalogue_size)
        if catalogue_size
        else 0.0,
    }


def segment_items(
    reviews: pd.DataFrame, memberships: pd.Series, half_life_days: float
) -> pd.DataFrame:
    """(segment_id, item_rank, item_id, score, reviewers): every item reviewed in each
    segment, ranked by score (ties by item id)."""
    scores = item_scores(reviews, memberships, half_life_days).rename(
        columns={"group": "segment_id"}
    )
    reviewers = (
        reviews.assign(segment_id=reviews["user_key"].map(memberships))
        .dropna(subset=["segment_id"])
        .astype({"segment_id": "int64"})
        .groupby(["segment_id", "item_id"])["user_key"]
        .nunique()
        .rename("reviewers")
        .reset_index()
    )
    ranked = scores.merge(reviewers, on=["segment_id", "item_id"]).sort_values(
        ["segment_id", "score", "item_id"], ascending=[True, False, True]
    )
    ranked["item_rank"] = ranked.groupby("segment_id").cumcount() + 1
    return ranked[["segment_id", "item_rank", "item_id", "score", "reviewers"]].reset_index(
        drop=True
    )


def recommend(reviews: pd.DataFrame, memberships: pd.Series, config: RecommenderConfig):
    """(segment_items, user_recommendations) from ``reviews`` and the users' segments."""
    items = segment_items(reviews, memberships, config.half_life_days)
    seen = reviews[["user_key", "item_id"]].drop_duplicates()
    scores = items.rename(columns={"segment_id": "group"})[["group", "item_id", "score"]]
    users = top_n(scores, memberships, seen, config.top_n)
    return items, users.assign(segment_id=users["user_key"].map(memberships).astype("int64"))


def evaluation_recommendations(
    train: pd.DataFrame, holdout: pd.DataFrame, memberships: pd.Series, config: RecommenderConfig
) -> dict[str, pd.DataFrame]:
    """Each recommender's top-N lists for the held-out users, built from ``train`` and
    ``memberships`` (segments computed from ``train`` alone): the segment recommender,
    global popularity and random."""
    leaked = holdout.merge(
        train[["user_key", "item_id"]].drop_duplicates(), on=["user_key", "item_id"]
    )
    if len(leaked):
        raise ValueError(
            f"{len(leaked)} held-out (user, item) pairs are in the training reviews, e.g. {leaked.iloc[0].to_dict()}"
        )
    seen = train[["user_key", "item_id"]].drop_duplicates()
    catalogue = pd.Index(sorted(train["item_id"].unique()))
    users = pd.Index(sorted(holdout["user_key"].unique()))
    everyone = pd.Series(ALL_USERS, index=memberships.index)
    k = config.top_n
    return {
        "segment_popularity": top_n(
            item_scores(train, memberships, config.half_life_days),
            memberships.reindex(users).dropna().astype("int64"),
            seen,
            k,
        ),
        "global_popularity": top_n(
            item_scores(train, everyone, config.half_life_days), everyone.reindex(users), seen, k
        ),
        "random": random_top_n(users, catalogue, seen, k, config.seed),
    }


def evaluate(
    train: pd.DataFrame, holdout: pd.DataFrame, memberships: pd.Series, config: RecommenderConfig
) -> pd.DataFrame:
    """Offline evaluation of the segment recommender and both baselines: one row per
    recommender and scope, 'overall' and 'segment' (per evaluation segment). Empty
    when no user has an item held out (e.g. every user reviewed one item)."""
    if holdout.empty:
        return pd.DataFrame(
            {name: pd.Series(dtype=dtype) for name, dtype in EVALUATION_COLUMNS.items()}
        )
    recommendations = evaluation_recommendations(train, holdout, memberships, config)
    catalogue_size = train["item_id"].nunique()
    k = config.top_n
    by_segment = holdout.assign(segment_id=holdout["user_key"].map(memberships))
    rows = []
    for name, recs in recommendations.items():
        rows.append(
            {
                "recommender": name,
                "scope": "overall",
                "segment_id": None,
                **ranking_metrics(recs, holdout, catalogue_size, k),
            }
        )
        for segment, members in by_segment.groupby("segment_id"):
            member_recs = recs[recs["user_key"].isin(members["user_key"])]
            rows.append(
                {
                    "recommender": name,
                    "scope": "segment",
                    "segment_id": int(segment),
                    **ranking_metrics(
                        member_recs, members[["user_key", "item_id"]], catalogue_size, k
                    ),
                }
            )
    return pd.DataFrame(rows).assign(k=k)[list(EVALUATION_COLUMNS)].astype(EVALUATION_COLUMNS)


def evaluation_inputs(settings, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(train, holdout, memberships) of run ``run_id``: the split dbt published and the
    evaluation segmentation's memberships (lake/segments_eval)."""
    from usersegments.warehouse import read_segmentation

    split = pd.read_parquet(
        settings.lake.clean("evaluation_reviews"),
        columns=["review_key", "user_key", "item_id", "rating", "reviewed_at", "evaluation_split"],
    )
    train = (
        split[split["evaluation_split"] == "train"]
        .drop(columns="evaluation_split")
        .reset_index(drop=True)
    )
    holdout = split.loc[
        split["evaluation_split"] == "holdout", ["user_key", "item_id"]
    ].drop_duplicates()
    memberships = read_segmentation(settings, "assignments", run_id, root="segments_eval")
    return (
        train,
        holdout.reset_index(drop=True),
        memberships.set_index("user_key")["segment_id"].astype("int64"),
    )


def write_table(settings, name: str, run_id: str, frame: pd.DataFrame) -> None:
    """lake/recommendations/<name>/run_id=<run>/part-0.parquet (a rerun replaces it)."""
    folder = settings.lake.recommendations(name, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "part-0.parquet", index=False)


def recommend_and_evaluate(
    settings, segmentation_run_id: str, config: RecommenderConfig = RecommenderConfig()
) -> dict:
    """The DAG step: publish per-segment ranked items and per-user top-N lists (from
    every review and the published segments), evaluate offline, log to MLflow, and
    write all of it under lake/recommendations/."""
    import mlflow

    from ml import tracking
    from usersegments.lake import partition_name
    from usersegments.warehouse import read_segmentation

    run_id = partition_name(segmentation_run_id)
    reviews = pd.read_parquet(
        settings.lake.clean("reviews"),
        columns=["review_key", "user_key", "item_id", "rating", "reviewed_at"],
    )
    published = (
        read_segmentation(settings, "assignments", run_id)
        .set_index("user_key")["segment_id"]
        .astype("int64")
    )
    items, users = recommend(reviews, published, config)

    train, holdout, memberships = evaluation_inputs(settings, run_id)
    evaluation = evaluate(train, holdout, memberships, config)

    client = tracking.configure(settings)
    mlflow.set_experiment(experiment_id=tracking.experiment_id(client, EXPERIMENT, settings))
    overall = evaluation[evaluation["scope"] == "overall"].set_index("recommender")
    k = config.top_n
    with mlflow.start_run(
        run_name=f"recommendations {run_id}", tags={"segmentation_run_id": run_id}
    ) as run:
        mlflow.log_params(
            {
                "top_n": k,
                "half_life_days": config.half_life_days,
                "random_seed": config.seed,
                "holdout": "latest distinct item per user with >= 2 items",
                "train_reviews": len(train),
                "holdout_users": holdout["user_key"].nunique(),
            }
        )
        for name, row in overall.iterrows():
            mlflow.log_metrics(
                {
                    f"{name}.hit_rate_at_{k}": row["hit_rate"],
                    f"{name}.recall_at_{k}": row["recall"],
                    f"{name}.ndcg_at_{k}": row["ndcg"],
                    f"{name}.catalogue_coverage": row["catalogue_coverage"],
                }
            )
        for name in ("global_popularity", "random") if len(overall) else ():
            if overall.loc[name, "ndcg"] > 0:
                mlflow.log_metric(
                    f"ndcg_lift_over_{name}",
                    overall.loc["segment_popularity", "ndcg"] / overall.loc[name, "ndcg"],
                )
        mlflow.log_table(evaluation.astype({"segment_id": "float"}), "evaluation.json")
        refit = read_segmentation(settings, "runs", run_id, root="segments_eval").iloc[0]
        mlflow.log_metrics(
            {
                "evaluation_segmentation.silhouette": refit["silhouette"],
                "evaluation_segmentation.ari_published": refit["ari_published"],
            }
        )

    write_table(settings, "segment_items", run_id, items)
    write_table(settings, "user_recommendations", run_id, users)
    write_table(settings, "evaluation", run_id, evaluation.assign(mlflow_run_id=run.info.run_id))
    return {
        "segmentation_run_id": run_id,
        "mlflow_run_id": run.info.run_id,
        "top_n": k,
        "evaluation_segmentation": {
            "k": int(refit["k"]),
            "silhouette": float(refit["silhouette"]),
            "ari_published": float(refit["ari_published"]),
        },
        "users_recommended": int(users["user_key"].nunique()),
        "holdout_users": int(holdout["user_key"].nunique()),
        "overall": overall[["hit_rate", "recall", "ndcg", "catalogue_coverage"]]
        .round(4)
        .to_dict("index"),
    }
