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

In Spark, every step a function of DataFrames, linear in reviews and users: a user's
list is taken from the first (seen + N) items of the segment's ranking, an equi-join on
(segment, rank), so no user is ever paired with the whole catalogue; O(reviews + users
x N). Every float sum is exact, in fixed point (``exact_sum``): floating-point addition
depends on its order, so a plain sum over partitions can differ in its last bit between
two runs on the same data; scores are then rounded to 9 decimals so ties stay ties.
Only the evaluation's few rows (recommender x segment) reach the driver, and for the
bootstrap intervals the users per distinct outcome (ml.bootstrap).
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from ml.als import als_top_n
from ml.baselines import Tuning, choose_tuning
from ml.bootstrap import bootstrap_intervals
from ml.config import RecommenderConfig
from ml.item_knn import item_neighbours, knn_top_n
from ml.ranking import (
    coverage,
    covered_items,
    exact_sum,
    first_unseen,
    outcomes,
    scope_metrics,
)

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
    # 95% bootstrap intervals over users (ml.bootstrap)
    "hit_rate_low": "float64",
    "hit_rate_high": "float64",
    "ndcg_low": "float64",
    "ndcg_high": "float64",
}
INTERVAL_METRICS = ("hit_rate", "ndcg")


def item_scores(train: DataFrame, groups: DataFrame, half_life_days: float) -> DataFrame:
    """(group, item_id, score): the group's reviews weighted by rating/5 and by
    0.5 ** (age / half-life), age from the newest review in ``train``. ``groups``:
    (user_key, group)."""
    # seconds since the epoch, whether the lake's type is TIMESTAMP_NTZ (DuckDB's) or not
    seconds = F.col("reviewed_at").cast("timestamp").cast("double")
    as_of = train.agg(F.max(seconds)).first()[0]
    age_days = (F.lit(as_of) - seconds) / 86_400
    weight = (F.col("rating") / 5.0) * F.pow(F.lit(0.5), age_days / half_life_days)
    return (
        train.join(groups, "user_key")
        .groupBy("group", "item_id")
        .agg(F.round(exact_sum(weight), 9).alias("score"))
    )


def ranked(scores: DataFrame, by: str = "group") -> DataFrame:
    """``scores`` with item_rank within ``by``: best first, ties by item id."""
    order = Window.partitionBy(by).orderBy(F.desc("score"), "item_id")
    return scores.withColumn("item_rank", F.row_number().over(order).cast("long"))


def top_n(scores: DataFrame, groups: DataFrame, seen: DataFrame, n: int) -> DataFrame:
    """(user_key, rank, item_id, score): each user's group list minus the items in
    ``seen`` (user_key, item_id), best first (ties by item id), the first n. A user
    needs at most their seen count + n of the group's ranking: O(users x n + seen)."""
    seen_count = seen.groupBy("user_key").agg(F.count("*").alias("seen_count"))
    wanted = (
        groups.join(seen_count, "user_key", "left")
        .fillna(0, ["seen_count"])
        .select(
            "user_key",
            "group",
            F.explode(F.sequence(F.lit(1), F.col("seen_count") + n)).alias("item_rank"),
        )
    )
    return first_unseen(wanted.join(ranked(scores), ["group", "item_rank"]), seen, n, "item_rank")


def filled(primary: DataFrame, fallback: DataFrame, n: int) -> DataFrame:
    """Each user's ``primary`` list topped up to n items from their ``fallback`` list
    (both: user_key, rank, item_id, score), fallback items after the primary ones and
    none twice: a segment that reviewed fewer items than a user can be shown still gives
    a full list. O(users x n)."""
    extra = fallback.join(
        primary.select("user_key", "item_id"), ["user_key", "item_id"], "left_anti"
    ).withColumn("rank", F.col("rank") + n)
    order = Window.partitionBy("user_key").orderBy("rank")
    return (
        primary.unionByName(extra)
        .withColumn("rank", F.row_number().over(order).cast("long"))
        .where(F.col("rank") <= n)
        .select("user_key", "rank", "item_id", "score")
    )


def random_top_n(
    users: DataFrame, catalogue: DataFrame, seen: DataFrame, n: int, seed: int
) -> DataFrame:
    """The random baseline: n unseen catalogue items per user, seeded. The catalogue is
    shuffled once by a seeded hash; each user reads it from a seeded random offset
    (wrapping round), so every item is equally likely for every user, and the lists
    depend on the seed alone, not on order or partitioning. O(users x n + seen)."""
    size = catalogue.count()
    shuffled = catalogue.select(
        "item_id",
        (
            F.row_number().over(Window.orderBy(F.xxhash64(F.lit(seed), "item_id"), "item_id")) - 1
        ).alias("position"),
    )
    seen_count = seen.groupBy("user_key").agg(F.count("*").alias("seen_count"))
    depth = F.least(F.col("seen_count") + n, F.lit(size))
    wanted = (
        users.join(seen_count, "user_key", "left")
        .fillna(0, ["seen_count"])
        .select(
            "user_key",
            F.pmod(F.xxhash64(F.lit(seed), "user_key"), F.lit(size)).alias("offset"),
            F.explode(F.sequence(F.lit(0), depth - 1)).alias("step"),
        )
        .withColumn("position", F.pmod(F.col("offset") + F.col("step"), F.lit(size)))
    )
    candidates = wanted.join(shuffled, "position").withColumn("score", F.lit(0.0))
    return first_unseen(candidates, seen, n, "step")


def intervals(found: pd.DataFrame, seed: int) -> dict[str, float]:
    """Bootstrap intervals of HitRate and NDCG over the users of ``found`` (rows of
    ml.ranking.outcomes)."""
    merged = found.groupby(list(INTERVAL_METRICS), as_index=False)["users"].sum()
    return bootstrap_intervals(merged, INTERVAL_METRICS, seed)


def segment_items(reviews: DataFrame, memberships: DataFrame, half_life_days: float) -> DataFrame:
    """(segment_id, item_rank, item_id, score, reviewers): every item reviewed in each
    segment, ranked by score (ties by item id)."""
    groups = memberships.select("user_key", F.col("segment_id").alias("group"))
    reviewers = (
        reviews.join(groups, "user_key")
        .groupBy("group", "item_id")
        .agg(F.countDistinct("user_key").alias("reviewers"))
    )
    return (
        ranked(item_scores(reviews, groups, half_life_days).join(reviewers, ["group", "item_id"]))
        .withColumnRenamed("group", "segment_id")
        .select("segment_id", "item_rank", "item_id", "score", "reviewers")
    )


def recommend(
    reviews: DataFrame, memberships: DataFrame, config: RecommenderConfig
) -> tuple[DataFrame, DataFrame]:
    """(segment_items, user_recommendations) from ``reviews`` and the users' segments
    (``memberships``: user_key, segment_id); a list the segment cannot fill is topped
    up with the most popular items overall."""
    items = segment_items(reviews, memberships, config.half_life_days).localCheckpoint()
    seen = reviews.select("user_key", "item_id").distinct()
    scores = items.select(F.col("segment_id").alias("group"), "item_id", "score")
    groups = memberships.select("user_key", F.col("segment_id").alias("group"))
    everyone = memberships.select("user_key", F.lit(ALL_USERS).alias("group"))
    popular = top_n(
        item_scores(reviews, everyone, config.half_life_days), everyone, seen, config.top_n
    )
    lists = filled(top_n(scores, groups, seen, config.top_n), popular, config.top_n)
    users = lists.join(memberships, "user_key")
    return items, users.select("user_key", "rank", "item_id", "score", "segment_id")


def check_no_leak(train: DataFrame, holdout: DataFrame) -> None:
    leaked = holdout.join(train.select("user_key", "item_id").distinct(), ["user_key", "item_id"])
    example = leaked.first()
    if example is not None:
        raise ValueError(
            f"{leaked.count()} held-out (user, item) pairs are in the training reviews, "
            f"e.g. {example.asDict()}"
        )


def evaluation_recommendations(
    train: DataFrame,
    holdout: DataFrame,
    memberships: DataFrame,
    config: RecommenderConfig,
    tuning: Tuning | None = None,
) -> dict[str, DataFrame]:
    """Each recommender's top-N lists for the held-out users, built from ``train`` and
    ``memberships`` (segments computed from ``train`` alone): the segment recommender;
    the baselines global popularity, random, item-kNN and ALS (their hyperparameters
    ``tuning``, chosen on ``train`` alone when not given); and item-kNN with the
    segment's list for cold users (COLD_ITEMS training items or fewer). Short lists are
    topped up with global popularity."""
    check_no_leak(train, holdout)
    seen = train.select("user_key", "item_id").distinct()
    catalogue = train.select("item_id").distinct()
    users = holdout.select("user_key").distinct()
    segments = memberships.select("user_key", F.col("segment_id").alias("group"))
    everyone = memberships.select("user_key", F.lit(ALL_USERS).alias("group"))
    k, half_life = config.top_n, config.half_life_days
    popular = top_n(
        item_scores(train, everyone, half_life), everyone.join(users, "user_key"), seen, k
    ).localCheckpoint()  # the fallback of three lists
    segment = filled(
        top_n(item_scores(train, segments, half_life), segments.join(users, "user_key"), seen, k),
        popular,
        k,
    ).localCheckpoint()
    if tuning is None:
        tuning, _ = choose_tuning(train, config)
    similar = item_neighbours(seen, tuning.neighbours).localCheckpoint()
    knn = filled(knn_top_n(seen, users, similar, tuning.neighbours, k), popular, k)
    cold = cold_users(seen)
    return {
        # as published: the segment's ranking, topped up with global popularity
        "segment_popularity": segment,
        "global_popularity": popular,
        "random": random_top_n(users, catalogue, seen, k, config.seed),
        "item_knn": knn,
        "als": filled(als_top_n(seen, users, tuning.als, k, config.seed), popular, k),
        "item_knn_segment_cold": knn.join(cold, "user_key", "left_anti").unionByName(
            segment.join(cold, "user_key")
        ),
    }


# Users with this many distinct training items or fewer are cold: item-kNN has little
# to go on, and the segment (from their behaviour and text) may know them better.
COLD_ITEMS = 2


def cold_users(seen: DataFrame) -> DataFrame:
    """(user_key) of the users with COLD_ITEMS distinct items or fewer in ``seen``."""
    items = seen.groupBy("user_key").agg(F.count("*").alias("items"))
    return items.where(F.col("items") <= COLD_ITEMS).select("user_key")


def evaluate(
    train: DataFrame,
    holdout: DataFrame,
    memberships: DataFrame,
    config: RecommenderConfig,
    tuning: Tuning | None = None,
) -> pd.DataFrame:
    """Offline evaluation of the recommenders (evaluation_recommendations): one row per
    recommender and scope, 'overall', 'cold' (users with COLD_ITEMS training items or
    fewer) and 'segment' (per evaluation segment), with bootstrap intervals. Empty when
    no user has an item held out (e.g. every user reviewed one item). A small pandas
    frame: recommenders x (segments + 2) rows."""
    if holdout.first() is None:
        return pd.DataFrame(
            {name: pd.Series(dtype=dtype) for name, dtype in EVALUATION_COLUMNS.items()}
        )
    recommendations = evaluation_recommendations(train, holdout, memberships, config, tuning)
    catalogue_size = train.select("item_id").distinct().count()
    cold = cold_users(train.select("user_key", "item_id").distinct()).localCheckpoint()
    # (user_key, segment_id, is_cold: true or null); full, so that a cold user is one
    # whatever their membership
    groups = memberships.join(cold.withColumn("is_cold", F.lit(True)), "user_key", "full")
    k = config.top_n
    rows = []
    for name, recs in recommendations.items():
        recs = recs.localCheckpoint()  # read by both jobs
        found, covered = outcomes(recs, holdout, k, groups), coverage(recs, k, groups)
        scopes = [
            ("overall", None, found, covered_items(covered)),
            ("cold", None, found[found["is_cold"].eq(True)], covered_items(covered, cold=True)),
        ] + [
            (
                "segment",
                segment_id,
                found[found["segment_id"].eq(segment_id)],
                covered_items(covered, segment_id),
            )
            for segment_id in sorted(int(s) for s in found["segment_id"].dropna().unique())
        ]
        for scope, segment_id, members, items in scopes:
            if not members["users"].sum():
                continue  # e.g. no cold user held out
            rows.append(
                {
                    "recommender": name,
                    **scope_metrics(members, items, catalogue_size),
                    "scope": scope,
                    "segment_id": segment_id,
                    **intervals(members, config.seed),
                }
            )
    return pd.DataFrame(rows).assign(k=k)[list(EVALUATION_COLUMNS)].astype(EVALUATION_COLUMNS)


def evaluation_inputs(spark, settings, run_id: str) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(train, holdout, memberships) of run ``run_id``: the split dbt published and the
    evaluation segmentation's memberships (lake/segments_eval)."""
    split = spark.read.parquet(str(settings.lake.clean("evaluation_reviews")))
    train = split.where(F.col("evaluation_split") == "train").select(*REVIEW_COLUMNS)
    holdout = (
        split.where(F.col("evaluation_split") == "holdout").select("user_key", "item_id").distinct()
    )
    memberships = spark.read.parquet(
        str(settings.lake.evaluation_segmentation("assignments", run_id))
    ).select("user_key", F.col("segment_id").cast("long"))
    return train, holdout, memberships


REVIEW_COLUMNS = ["review_key", "user_key", "item_id", "rating", "reviewed_at"]


def write_table(settings, name: str, run_id: str, frame: DataFrame) -> None:
    """lake/recommendations/<name>/run_id=<run>/ (a rerun replaces it)."""
    frame.write.mode("overwrite").parquet(str(settings.lake.recommendations(name, run_id)))


def recommend_and_evaluate(
    settings,
    segmentation_run_id: str,
    config: RecommenderConfig = RecommenderConfig(),
    offline_evaluation: bool = True,
) -> dict:
    """The DAG step: publish per-segment ranked items and per-user top-N lists (from
    every review and the published segments), evaluate offline (unless told not to),
    log to MLflow, and write all of it under lake/recommendations/. In a local Spark
    session (MLlib's classpath: no jars)."""
    from usersegments.spark import spark_session

    spark = spark_session("recommend_segments", settings, jars=False)
    spark.sparkContext.setCheckpointDir(str(settings.lake.spark_checkpoints))
    try:
        if not offline_evaluation:
            return publish_lists(spark, settings, segmentation_run_id, config)
        return publish_and_log(spark, settings, segmentation_run_id, config)
    finally:
        spark.stop()


def write_lists(spark, settings, run_id: str, config: RecommenderConfig) -> None:
    """Per-segment ranked items and per-user top-N lists, from every review and the
    run's published segments."""
    reviews = spark.read.parquet(str(settings.lake.clean("reviews"))).select(*REVIEW_COLUMNS)
    published = spark.read.parquet(str(settings.lake.segmentation("assignments", run_id))).select(
        "user_key", F.col("segment_id").cast("long")
    )
    items, users = recommend(reviews, published, config)
    write_table(settings, "segment_items", run_id, items)
    write_table(settings, "user_recommendations", run_id, users)


def users_recommended(spark, settings, run_id: str) -> int:
    lists = spark.read.parquet(str(settings.lake.recommendations("user_recommendations", run_id)))
    return lists.select("user_key").distinct().count()


def publish_lists(spark, settings, segmentation_run_id: str, config: RecommenderConfig) -> dict:
    """A run with the offline evaluation off: its lists, an MLflow run that says so (no
    metrics), and evaluation tables with no rows for it."""
    import mlflow

    from ml import tracking
    from ml.prospective import empty_table
    from usersegments.lake import partition_name

    run_id = partition_name(segmentation_run_id)
    write_lists(spark, settings, run_id, config)
    client = tracking.configure(settings)
    mlflow.set_experiment(experiment_id=tracking.experiment_id(client, EXPERIMENT, settings))
    with mlflow.start_run(
        run_name=f"recommendations {run_id}", tags={"segmentation_run_id": run_id}
    ) as run:
        mlflow.log_params(
            {
                "top_n": config.top_n,
                "half_life_days": config.half_life_days,
                "offline_evaluation": False,
            }
        )
    empty = empty_table().assign(mlflow_run_id=run.info.run_id)
    write_rows(settings, "evaluation", run_id, empty[list(EVALUATION_COLUMNS) + ["mlflow_run_id"]])
    write_rows(settings, "prospective_evaluation", run_id, empty)
    return {
        "segmentation_run_id": run_id,
        "mlflow_run_id": run.info.run_id,
        "top_n": config.top_n,
        "users_recommended": users_recommended(spark, settings, run_id),
        "offline_evaluation": False,
    }


def publish_and_log(spark, settings, segmentation_run_id: str, config: RecommenderConfig) -> dict:
    import mlflow

    from ml import tracking
    from ml.prospective import WINDOW_COLUMNS
    from usersegments.lake import partition_name
    from usersegments.warehouse import read_segmentation

    run_id = partition_name(segmentation_run_id)
    reviews = spark.read.parquet(str(settings.lake.clean("reviews"))).select(*REVIEW_COLUMNS)
    write_lists(spark, settings, run_id, config)

    train, holdout, memberships = evaluation_inputs(spark, settings, run_id)
    tuning, validation_ndcg = choose_tuning(train, config)
    evaluation = evaluate(train, holdout, memberships, config, tuning)
    train_reviews, holdout_users = train.count(), holdout.select("user_key").distinct().count()
    prospective = previous_lists_evaluation(spark, settings, run_id, reviews, config)
    prospective_overall = prospective[prospective["scope"] == "overall"].set_index("recommender")

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
                "train_reviews": train_reviews,
                "holdout_users": holdout_users,
                **tuning.params(),
                "baselines_chosen_by": "NDCG on the latest training item per user",
                "cold_user_items": COLD_ITEMS,
            }
        )
        mlflow.log_metrics(
            {f"validation_ndcg_at_{k}.{candidate}": v for candidate, v in validation_ndcg.items()}
        )
        mlflow.log_metrics(overall_metrics(overall, k))
        if len(prospective_overall):
            mlflow.log_params(
                {f"prospective.{name}": str(prospective[name].iloc[0]) for name in WINDOW_COLUMNS}
            )
            mlflow.log_metrics(overall_metrics(prospective_overall, k, "prospective."))
        for name in ("global_popularity", "random", "item_knn", "als") if len(overall) else ():
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

    write_rows(settings, "evaluation", run_id, evaluation.assign(mlflow_run_id=run.info.run_id))
    write_rows(
        settings,
        "prospective_evaluation",
        run_id,
        prospective.assign(mlflow_run_id=run.info.run_id),
    )
    return {
        "segmentation_run_id": run_id,
        "mlflow_run_id": run.info.run_id,
        "top_n": k,
        "evaluation_segmentation": {
            "k": int(refit["k"]),
            "silhouette": float(refit["silhouette"]),
            "ari_published": float(refit["ari_published"]),
        },
        "users_recommended": users_recommended(spark, settings, run_id),
        "holdout_users": holdout_users,
        "baselines": {**tuning.params(), "validation_ndcg": validation_ndcg},
        "overall": summary_rows(overall),
        "prospective": {
            "lists_run_id": str(prospective["lists_run_id"].iloc[0]),
            "window_start": str(prospective["window_start"].iloc[0]),
            "window_end": str(prospective["window_end"].iloc[0]),
            "users": int(prospective_overall["users"].iloc[0]),
            "overall": summary_rows(prospective_overall),
        }
        if len(prospective_overall)
        else None,
    }


SUMMARY_COLUMNS = ["hit_rate", "recall", "ndcg", "catalogue_coverage"] + [
    f"{m}_{side}" for m in INTERVAL_METRICS for side in ("low", "high")
]


def summary_rows(overall: pd.DataFrame) -> dict:
    """recommender -> the overall metrics, rounded, for the run's summary."""
    return overall[SUMMARY_COLUMNS].round(4).to_dict("index")


def overall_metrics(overall: pd.DataFrame, k: int, prefix: str = "") -> dict[str, float]:
    """MLflow metrics of the 'overall' rows (indexed by recommender)."""
    metrics = {}
    for name, row in overall.iterrows():
        metrics.update(
            {
                f"{prefix}{name}.hit_rate_at_{k}": row["hit_rate"],
                f"{prefix}{name}.recall_at_{k}": row["recall"],
                f"{prefix}{name}.ndcg_at_{k}": row["ndcg"],
                f"{prefix}{name}.catalogue_coverage": row["catalogue_coverage"],
                **{
                    f"{prefix}{name}.{metric}_at_{k}_{side}": row[f"{metric}_{side}"]
                    for metric in INTERVAL_METRICS
                    for side in ("low", "high")
                },
            }
        )
    return metrics


def previous_lists_evaluation(
    spark, settings, run_id: str, reviews: DataFrame, config: RecommenderConfig
) -> pd.DataFrame:
    """The prospective evaluation (ml.prospective) of the lists of the run before
    ``run_id``, on the reviews this run sees that came after that run's as-of."""
    from ml.prospective import prospective_evaluation
    from usersegments.segmentation.tables import previous_run, published_run

    as_of = published_run(spark, settings.lake, run_id)["as_of"]
    previous = previous_run(spark, settings.lake, run_id, as_of)
    memberships = None
    if previous is not None:
        memberships = spark.read.parquet(
            str(settings.lake.segmentation("assignments", previous["run_id"]))
        ).select("user_key", F.col("segment_id").cast("long"))
    return prospective_evaluation(reviews, previous, memberships, as_of, config)


# pandas dtypes of the evaluation tables -> Parquet types: an empty table keeps its types
ARROW_TYPES = {
    "object": "string",
    "str": "string",  # pandas 3's string dtype
    "string": "string",
    "Int64": "int64",
    "int64": "int64",
    "float64": "double",
    "datetime64[us]": "timestamp[us]",
}


def write_rows(settings, name: str, run_id: str, frame: pd.DataFrame) -> None:
    """A few rows as lake/recommendations/<name>/run_id=<run>/part-0.parquet, typed
    even when empty (a rerun replaces it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [(c, pa.type_for_alias(ARROW_TYPES[str(t)])) for c, t in frame.dtypes.items()]
    )
    folder = settings.lake.recommendations(name, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    pq.write_table(table, folder / "part-0.parquet")
