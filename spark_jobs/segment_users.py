"""Segment users with Spark MLlib and explain the segments.

    spark-submit spark_jobs/segment_users.py --lake-dir var/lake \
        --encoder-dir var/models/all-MiniLM-L6-v2 --run-id <run id> [--k 6]

Features, fused per user (each group scaled, then weighted by --weights):
- behaviour: the ``users`` mart (lake/clean/users.parquet): activity, ratings, length,
  helpfulness, category shares, tenure, recency (counts log-scaled);
- text: the user's embedding (lake/embeddings/users, the encoder's model version);
- graph: the co-review graph, users linked by reviewing the same items: degree,
  weighted degree (shared items), PageRank, mean reviewers of the user's items.
Each group is standardised and scaled so that its total variance equals its weight
squared: a group's influence does not depend on how many columns it has.

Clusters with K-means (default), bisecting K-means or a Gaussian mixture, seeded. With
no --k, every k in [--k-min, --k-max] is fitted and scored (silhouette from
ClusteringEvaluator, training cost for the elbow); the best silhouette among the
solutions whose smallest segment holds --min-segment-share of the users wins.

Segment ids are stable: this run's centroids are matched to the previous run's by the
Hungarian algorithm, and the adjusted Rand index on the users both runs share is kept.

Writes under lake/segments/, each table partitioned by run_id (a rerun of a run
overwrites its own partition only): assignments, segments, profiles, terms, examples,
model_selection, runs, centroids, features (every user's fused feature vector, one
named column per dimension: the interest classifier's input) and the fitted feature
pipeline (feature_pipeline/).

With --evaluation, the job segments the recommender evaluation's view of the users
instead: behaviour features from lake/clean/evaluation_users.parquet and text vectors and
co-review graph from the 'train' reviews of lake/clean/evaluation_reviews.parquet only, so
no held-out review shapes anyone's segment. It refits with the algorithm, k, weights and
seed of the published run --run-id, matches the clusters to that run's segment ids, and
writes lake/segments_eval/{assignments,runs}/run_id=<run id>/.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

# Behaviour columns of the users mart; counts and durations are heavy-tailed: log1p.
BEHAVIOUR_LOG = ("review_count", "mean_review_words", "helpful_votes", "tenure_days", "recency_days")
# text_share is left out: 99.8% of users have 1, so the few without text would be
# 30-sigma outliers forming their own segment (they get the mean text vector instead).
BEHAVIOUR_LINEAR = ("mean_rating", "rating_stddev", "verified_share")
GRAPH_COLUMNS = ("degree", "weighted_degree", "pagerank", "mean_item_reviewers")
# Reported per segment against the population (raw units).
PROFILE_FEATURES = {
    "behaviour": (
        "review_count", "mean_rating", "rating_stddev", "mean_review_words",
        "verified_share", "helpful_votes", "text_share", "tenure_days", "recency_days",
    ),
    "graph": GRAPH_COLUMNS,
}  # fmt: skip
# Users sampled to find principal axes (2-D projection; the mixture's input space).
PCA_SAMPLE = 20_000
# The driver-side tables the job writes (Spark cannot infer types from all-null columns).
SCHEMAS = {
    "segments": "segment_id int, segment_name string, user_count long, user_share double, "
    "top_category string, top_category_share double, traits string, top_terms string, "
    "previous_match_distance double",
    "profiles": "segment_id int, facet string, feature string, segment_value double, "
    "population_value double, lift double, z double",
    "terms": "segment_id int, term_rank int, term string, score double, lift double, "
    "term_count long, users long",
    "examples": "segment_id int, example_rank int, review_key string, similarity double",
    "model_selection": "algorithm string, k int, silhouette double, cost double, "
    "smallest_segment long, is_chosen boolean",
    "runs": "algorithm string, k int, k_selection string, k_min int, k_max int, silhouette double, "
    "cost double, users long, users_without_text long, feature_weights string, "
    "feature_dims string, embedding_model_version string, seed long, min_segment_share double, "
    "min_segment_size long, "
    "input_fingerprint string, previous_run_id string, previous_input_fingerprint string, "
    "shared_users long, ari_previous double, unchanged_id_share double, segmented_at timestamp",
}
# The evaluation refit's runs row (--evaluation), in this order.
EVALUATION_RUN_SCHEMA = (
    "algorithm string, k int, seed long, users long, silhouette double, shared_users long, "
    "ari_published double, unchanged_id_share double"
)
# Review words that say nothing about a segment, beyond Spark's English stop words; the
# star words come from titles Amazon generates ("Five Stars") for reviews without one.
EXTRA_STOP_WORDS = (
    "product", "item", "one", "would", "get", "got", "also", "really", "just",
    "star", "stars", "five", "four", "three", "two",
)  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Segment users with Spark MLlib.")
    parser.add_argument("--lake-dir", required=True, help="lake root: clean/ and embeddings/ in, segments/ out")
    parser.add_argument("--encoder-dir", required=True, help="the encoder whose user embeddings to use")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--algorithm", default="kmeans", choices=("kmeans", "bisecting_kmeans", "gaussian_mixture"))
    parser.add_argument("--k", type=int, default=0, help="force the number of segments (0: choose by silhouette)")
    parser.add_argument("--k-min", type=int, default=3)
    parser.add_argument("--k-max", type=int, default=10)
    parser.add_argument(
        "--min-segment-share", type=float, default=0.01,
        help="smallest segment as a share of the users; k with a smaller segment is not chosen",
    )  # fmt: skip
    parser.add_argument("--weights", default="", help='feature group weights: {"behaviour": 1, "text": 1, "graph": 1}')
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-iter", type=int, default=40)
    parser.add_argument("--pagerank-iterations", type=int, default=20)
    parser.add_argument("--partitions", type=int, default=0, help="0: default parallelism")
    parser.add_argument(
        "--mixture-components", type=int, default=16,
        help="gaussian_mixture: principal components it is fitted on",
    )  # fmt: skip
    parser.add_argument("--top-terms", type=int, default=10)
    parser.add_argument("--examples", type=int, default=3, help="representative reviews per segment")
    parser.add_argument("--report", help="also write the JSON report to this file")
    parser.add_argument(
        "--evaluation",
        action="store_true",
        help="segment the evaluation's training view with the published run's settings",
    )
    args = parser.parse_args(argv)
    if args.k == 0 and not 2 <= args.k_min <= args.k_max:
        parser.error("need 2 <= --k-min <= --k-max")
    if args.k == 1 or args.k < 0:
        parser.error("--k must be 0 (choose) or at least 2")
    # Airflow run ids hold ':' and '+'; partition folder names should not
    args.run_id = re.sub(r"[^A-Za-z0-9_.-]", "_", args.run_id)
    return args


# ---------------------------------------------------------------- features


def co_review_graph(reviews, users, F, iterations: int, damping: float = 0.85):
    """Graph features of the users linked by reviewing the same items.

    Edge weight = items both reviewed. PageRank on the weighted graph, by power
    iteration over DataFrames (GraphFrames is not on Maven Central here); dangling
    users' rank is spread evenly. PageRank is reported times the user count (1 = average).
    """
    reviewed = reviews.select("user_key", "item_id").distinct()
    item_reviewers = reviewed.groupBy("item_id").agg(F.count("*").alias("reviewers"))
    mean_item_reviewers = (
        reviewed.join(item_reviewers, "item_id")
        .groupBy("user_key")
        .agg(F.avg("reviewers").alias("mean_item_reviewers"))
    )
    a, b = reviewed.alias("a"), reviewed.alias("b")
    edges = (
        a.join(b, F.col("a.item_id") == F.col("b.item_id"))
        .where(F.col("a.user_key") != F.col("b.user_key"))
        .groupBy(F.col("a.user_key").alias("src"), F.col("b.user_key").alias("dst"))
        .agg(F.count("*").alias("weight"))
    )
    degrees = edges.groupBy("src").agg(
        F.count("*").alias("degree"), F.sum("weight").alias("weighted_degree")
    ).localCheckpoint()
    transitions = (
        edges.join(degrees.select("src", "weighted_degree"), "src")
        .select("src", "dst", (F.col("weight") / F.col("weighted_degree")).alias("p"))
        .localCheckpoint()
    )
    nodes = users.select("user_key").localCheckpoint()
    n = nodes.count()
    dangling = nodes.join(degrees.withColumnRenamed("src", "user_key"), "user_key", "left_anti")
    dangling = dangling.localCheckpoint()
    rank = nodes.withColumn("rank", F.lit(1.0 / n)).localCheckpoint()
    for _ in range(iterations):
        lost = rank.join(dangling, "user_key").agg(F.sum("rank")).first()[0] or 0.0
        incoming = (
            transitions.join(rank, transitions.src == rank.user_key)
            .groupBy("dst")
            .agg(F.sum(F.col("p") * F.col("rank")).alias("incoming"))
        )
        # localCheckpoint: cut the lineage, or every iteration replays all before it
        rank = (
            nodes.join(incoming, nodes.user_key == incoming.dst, "left")
            .select(
                "user_key",
                (
                    (1 - damping) / n
                    + damping * (F.coalesce("incoming", F.lit(0.0)) + F.lit(lost / n))
                ).alias("rank"),
            )
            .localCheckpoint()
        )
    return (
        nodes.join(degrees.withColumnRenamed("src", "user_key"), "user_key", "left")
        .join(rank, "user_key", "left")
        .join(mean_item_reviewers, "user_key", "left")
        .select(
            "user_key",
            F.coalesce("degree", F.lit(0)).cast("double").alias("degree"),
            F.coalesce("weighted_degree", F.lit(0)).cast("double").alias("weighted_degree"),
            # rounded: float sums over a shuffle differ in the last bits between runs
            F.round(F.col("rank") * n, 9).alias("pagerank"),
            F.coalesce("mean_item_reviewers", F.lit(0.0)).alias("mean_item_reviewers"),
        )
        .localCheckpoint()
    )


def published_inputs(spark, lake: Path, embedding_version: str, F):
    """(users, reviews, text): the users mart, every review, the users' text vectors."""
    users = spark.read.parquet(str(lake / "clean" / "users.parquet"))
    reviews = spark.read.parquet(str(lake / "clean" / "reviews.parquet"))
    text = spark.read.parquet(
        str(lake / "embeddings" / "users" / f"model_version={embedding_version}")
    ).select("user_key", F.col("vector").alias("text_array"))
    return users, reviews, text


def evaluation_inputs(spark, lake: Path, embedding_version: str, F):
    """(users, reviews, text) from the evaluation split's 'train' side only: features
    from training reviews, text vectors averaged over training review vectors."""
    from usersegments.user_vectors import user_text_vectors

    users = spark.read.parquet(str(lake / "clean" / "evaluation_users.parquet"))
    reviews = (
        spark.read.parquet(str(lake / "clean" / "evaluation_reviews.parquet"))
        .where(F.col("evaluation_split") == "train")
        .drop("evaluation_split")
    )
    review_vectors = (
        spark.read.parquet(str(lake / "embeddings" / "reviews" / f"model_version={embedding_version}"))
        .select("review_key", "vector")
        .join(reviews.select("review_key", "user_key"), "review_key")
    )
    text = user_text_vectors(review_vectors, F).select("user_key", F.col("vector").alias("text_array"))
    return users, reviews, text


def user_table(users, reviews, text, F, pagerank_iterations: int):
    """One row per user of ``users``: raw profile columns, the text vector and the
    graph features (co-review graph of ``reviews``)."""
    from pyspark.ml.functions import array_to_vector
    from pyspark.ml.stat import Summarizer

    # users without any review text: the mean vector (no pull towards any segment)
    mean_vector = text.agg(Summarizer.mean(array_to_vector("text_array")).alias("m")).first()["m"]
    graph = co_review_graph(reviews, users, F, pagerank_iterations)
    table = users.join(graph, "user_key", "left").join(text, "user_key", "left")
    missing_text = table.where(F.col("text_array").isNull()).count()
    mean_array = F.array(*[F.lit(float(x)) for x in mean_vector])
    table = table.withColumn(
        "text_vector", array_to_vector(F.coalesce(F.col("text_array").cast("array<double>"), mean_array))
    ).drop("text_array")
    for column in BEHAVIOUR_LOG:
        table = table.withColumn(f"f_{column}", F.log1p(F.col(column).cast("double")))
    for column in BEHAVIOUR_LINEAR:
        table = table.withColumn(f"f_{column}", F.col(column).cast("double"))
    for column in share_columns(users):
        table = table.withColumn(f"f_{column}", F.col(column).cast("double"))
    for column in GRAPH_COLUMNS:
        table = table.withColumn(f"f_{column}", F.log1p(F.col(column)))
    return table.cache(), missing_text


def table_columns(features) -> list[str]:
    """The per-user columns later stages use (not the intermediate feature vectors)."""
    keep = {"user_key", "features", "text_vector", *PROFILE_FEATURES["behaviour"], *GRAPH_COLUMNS}
    return [c for c in features.columns if c in keep]


def share_columns(users) -> list[str]:
    return sorted(c for c in users.columns if c.startswith("share_"))


def feature_pipeline(table, weights: dict[str, float]):
    """Fit the fusion: impute, assemble and scale each group, weight it, concatenate.
    Returns the PipelineModel (saved with the run), the group sizes, and the name of
    each dimension of the fused vector."""
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.feature import ElementwiseProduct, Imputer, StandardScaler, VectorAssembler
    from pyspark.ml.linalg import Vectors

    behaviour = [f"f_{c}" for c in (*BEHAVIOUR_LOG, *BEHAVIOUR_LINEAR)]
    behaviour += [c for c in table.columns if c.startswith("f_share_")]
    graph = [f"f_{c}" for c in GRAPH_COLUMNS]
    inputs = {"behaviour": behaviour, "graph": graph}
    stages = [Imputer(strategy="mean", inputCols=behaviour + graph, outputCols=behaviour + graph)]
    for group, columns in inputs.items():
        stages.append(VectorAssembler(inputCols=columns, outputCol=f"{group}_raw"))
    stages.append(StandardScaler(inputCol="behaviour_raw", outputCol="behaviour_scaled", withMean=True, withStd=True))
    stages.append(StandardScaler(inputCol="graph_raw", outputCol="graph_scaled", withMean=True, withStd=True))
    # text: centred only, its dimensions keep their relative spread
    stages.append(StandardScaler(inputCol="text_vector", outputCol="text_scaled", withMean=True, withStd=False))
    fitted = Pipeline(stages=stages).fit(table)

    text_scaler = fitted.stages[-1]
    text_variance = float(sum(s * s for s in text_scaler.std.toArray())) or 1.0
    variances = {"behaviour": len(behaviour), "graph": len(graph), "text": text_variance}
    dims = {"behaviour": len(behaviour), "graph": len(graph), "text": text_scaler.std.size}
    weighting, used = [], []
    for group in ("behaviour", "text", "graph"):
        if weights[group] <= 0:
            continue
        scale = weights[group] / math.sqrt(variances[group])
        weighting.append(
            ElementwiseProduct(
                scalingVec=Vectors.dense([scale] * dims[group]),
                inputCol=f"{group}_scaled",
                outputCol=f"{group}_weighted",
            )
        )
        used.append(f"{group}_weighted")
    weighting.append(VectorAssembler(inputCols=used, outputCol="features"))
    names = {
        "behaviour": [c.removeprefix("f_") for c in behaviour],
        "text": [f"text_{i:03d}" for i in range(dims["text"])],
        "graph": [c.removeprefix("f_") for c in graph],
    }
    feature_names = [name for group in ("behaviour", "text", "graph") if weights[group] > 0 for name in names[group]]
    return PipelineModel(stages=[*fitted.stages, *weighting]), dims, feature_names


# ---------------------------------------------------------------- clustering


def estimator(algorithm: str, k: int, seed: int, max_iter: int):
    from pyspark.ml.clustering import BisectingKMeans, GaussianMixture, KMeans

    if algorithm == "kmeans":
        return KMeans(k=k, seed=seed, maxIter=max_iter, initMode="k-means||")
    if algorithm == "bisecting_kmeans":
        return BisectingKMeans(k=k, seed=seed, maxIter=max_iter)
    return GaussianMixture(k=k, seed=seed, maxIter=max_iter)


def principal_axes(features, n: int, sample: int):
    """The first n principal axes of the fused features (and their mean), by numpy's SVD
    on a fixed sample of users (the first ``sample`` by user key, an HMAC: effectively
    random). MLlib's PCA is not used: its breeze SVD fails to converge on some inputs
    here ("NotConvergedException")."""
    import numpy as np
    from pyspark.ml.functions import vector_to_array

    rows = features.orderBy("user_key").limit(sample).select(vector_to_array("features").alias("v")).collect()
    matrix = np.array([row["v"] for row in rows])
    mean = matrix.mean(axis=0)
    _, _, axes = np.linalg.svd(matrix - mean, full_matrices=False)
    return mean, axes[:n]


def project(frame, mean, axes, F, prefix: str):
    """Add columns <prefix>0.. : the features' coordinates on the given axes."""
    from pyspark.ml.functions import vector_to_array

    values = vector_to_array("features")
    columns = []
    for i, axis in enumerate(axes):
        dot = F.aggregate(
            F.zip_with(values, F.array(*[F.lit(float(a)) for a in axis]), lambda x, y: x * y),
            F.lit(0.0),
            lambda acc, v: acc + v,
        )
        columns.append((dot - float(mean @ axis)).alias(f"{prefix}{i}"))
    return frame.select("*", *columns)


def measure(model, algorithm: str, predictions, evaluator):
    summary = model.summary
    cost = -summary.logLikelihood if algorithm == "gaussian_mixture" else summary.trainingCost
    sizes = list(summary.clusterSizes)
    return {
        "silhouette": float(evaluator.evaluate(predictions)),
        "cost": float(cost),
        "min_size": int(min(sizes)),
        "sizes": sizes,
    }


# ---------------------------------------------------------------- previous run


def published_run(spark, out: Path, run_id: str, F) -> dict:
    """The runs row of the published segmentation ``run_id``."""
    rows = spark.read.parquet(str(out / "runs")).where(F.col("run_id") == run_id).collect()
    if not rows:
        raise SystemExit(f"no published segmentation run {run_id!r} under {out / 'runs'}")
    return rows[0].asDict()


def run_table(spark, out: Path, table: str, run_id: str, columns: list[str], F):
    """The ``columns`` of one table of segmentation run ``run_id``, as pandas."""
    return spark.read.parquet(str(out / table)).where(F.col("run_id") == run_id).select(*columns).toPandas()


def write_evaluation(spark, lake: Path, args, predictions, cluster_centers, sizes, scores, users, started, F) -> dict:
    """The evaluation segmentation's outputs: each user's segment, with ids matched to
    the published run's segments, and how far the memberships moved from it."""
    from usersegments.segmentation import adjusted_rand, match_segment_ids

    published = lake / "segments"
    segment_ids, _ = match_segment_ids(
        cluster_centers, sizes, run_table(spark, published, "centroids", args.run_id, ["segment_id", "centroid"], F)
    )
    current = predictions.select("user_key", "prediction").toPandas()
    current["segment_id"] = [segment_ids[c] for c in current.pop("prediction")]
    ari, shared_users, unchanged = adjusted_rand(
        run_table(spark, published, "assignments", args.run_id, ["user_key", "segment_id"], F), current
    )
    scored = next(s for s in scores if s["k"] == args.k)
    run = {
        "algorithm": args.algorithm, "k": args.k, "seed": args.seed, "users": users,
        "silhouette": scored["silhouette"], "shared_users": shared_users,
        "ari_published": ari, "unchanged_id_share": unchanged,
    }  # fmt: skip
    out = lake / "segments_eval"
    for name, frame in {
        "assignments": spark.createDataFrame(
            current.sort_values("user_key")[["user_key", "segment_id"]], "user_key string, segment_id int"
        ),
        "runs": spark.createDataFrame([tuple(run.values())], EVALUATION_RUN_SCHEMA),
    }.items():
        frame.withColumn("run_id", F.lit(args.run_id)).coalesce(1).write.mode("overwrite").partitionBy(
            "run_id"
        ).parquet(str(out / name))
    report = {**run, "run_id": args.run_id, "evaluation": True, "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(report, default=str))
    spark.stop()
    return report


def previous_run(spark, out: Path, run_id: str, F):
    """The latest run before this one: its runs row, centroids and assignments."""
    import pandas as pd

    if not (out / "runs").exists():
        return None, None, None
    runs = spark.read.parquet(str(out / "runs")).where(F.col("run_id") != run_id)
    latest = runs.orderBy(F.col("segmented_at").desc(), F.col("run_id").desc()).limit(1).collect()
    if not latest:
        return None, None, None
    row = latest[0].asDict()
    centroids = run_table(spark, out, "centroids", row["run_id"], ["segment_id", "centroid"], F)
    assignments = run_table(spark, out, "assignments", row["run_id"], ["user_key", "segment_id"], F)
    return row, centroids if len(centroids) else pd.DataFrame(columns=["segment_id", "centroid"]), assignments


def fingerprint(users, reviews, text, F) -> str:
    """Order-free hash of the segmentation's inputs: equal inputs, equal fingerprint."""
    parts = []
    for frame in (users, reviews.select("user_key", "item_id"), text):
        hashed = frame.select(F.xxhash64(*frame.columns).alias("h"))
        row = hashed.agg(
            F.count("*").alias("n"),
            F.sum(F.pmod("h", F.lit(2_147_483_647))).alias("s"),
            F.sum(F.pmod(F.col("h") * 31, F.lit(1_000_000_007))).alias("t"),
        ).first()
        parts.append(f"{row['n']}:{row['s']}:{row['t']}")
    return "/".join(parts)


# ---------------------------------------------------------------- profiles


def profile_table(assigned, F):
    """Segment means of the profile features against the population: lift, z."""
    import pandas as pd

    rows = []
    for facet, columns in PROFILE_FEATURES.items():
        population = assigned.agg(
            *[F.avg(c).alias(f"mean_{c}") for c in columns],
            *[F.stddev_pop(c).alias(f"std_{c}") for c in columns],
        ).first()
        segment_means = assigned.groupBy("segment_id").agg(*[F.avg(c).alias(c) for c in columns]).collect()
        for seg in segment_means:
            for column in columns:
                pop_mean, pop_std = population[f"mean_{column}"], population[f"std_{column}"]
                value = seg[column]
                rows.append(
                    {
                        "segment_id": seg["segment_id"],
                        "facet": facet,
                        "feature": column,
                        "segment_value": value,
                        "population_value": pop_mean,
                        "lift": value / pop_mean if value is not None and pop_mean else None,
                        "z": (value - pop_mean) / pop_std if value is not None and pop_std else 0.0,
                    }
                )
    return pd.DataFrame(rows)


def category_mix(reviews, assignments, F):
    """Share of each segment's reviews per category, against the population."""
    counts = (
        reviews.join(assignments, "user_key")
        .groupBy("segment_id", "category")
        .agg(F.count("*").alias("reviews"))
        .toPandas()
    )
    counts["segment_value"] = counts["reviews"] / counts.groupby("segment_id")["reviews"].transform("sum")
    population = counts.groupby("category")["reviews"].sum()
    population = population / population.sum()
    counts["population_value"] = counts["category"].map(population)
    counts["lift"] = counts["segment_value"] / counts["population_value"]
    counts["facet"] = "category"
    counts["z"] = None
    return counts.rename(columns={"category": "feature"}).drop(columns="reviews")


def term_counts(reviews, assignments, F, min_users: int = 3):
    """Word counts per segment over its members' reviews (summary and body)."""
    from pyspark.ml.feature import RegexTokenizer, StopWordsRemover

    text = reviews.join(assignments, "user_key").select(
        "segment_id", "user_key", F.concat_ws(" ", "summary", "review_text").alias("text")
    )
    tokens = RegexTokenizer(
        inputCol="text", outputCol="tokens", pattern="[^a-z]+", gaps=True, minTokenLength=3
    ).transform(text)
    stop_words = StopWordsRemover.loadDefaultStopWords("english") + list(EXTRA_STOP_WORDS)
    words = StopWordsRemover(inputCol="tokens", outputCol="words", stopWords=stop_words).transform(tokens)
    return (
        words.select("segment_id", "user_key", F.explode("words").alias("term"))
        .groupBy("segment_id", "term")
        .agg(F.count("*").alias("term_count"), F.countDistinct("user_key").alias("users"))
        # a word only one or two members write does not describe a segment
        .where(F.col("users") >= min_users)
        .toPandas()
    )


def representative_reviews(spark, lake: Path, embedding_version: str, assigned, per_segment: int, F):
    """Per segment, the reviews nearest its text centroid (cosine of the review vector
    with the mean of the members' text vectors)."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.stat import Summarizer
    from pyspark.sql import Window

    centroids = assigned.groupBy("segment_id").agg(
        vector_to_array(Summarizer.mean(F.col("text_vector"))).alias("centroid")
    )
    published = spark.read.parquet(str(lake / "clean" / "reviews.parquet")).select("review_key")
    vectors = (
        spark.read.parquet(str(lake / "embeddings" / "reviews"))
        .where(F.col("model_version") == embedding_version)
        .join(published, "review_key")
        .dropDuplicates(["review_key"])
        .select("review_key", "user_key", "vector")
    )
    dot = F.aggregate(
        F.zip_with("vector", "centroid", lambda x, y: x * y), F.lit(0.0), lambda acc, v: acc + v
    )
    norm = F.sqrt(F.aggregate("centroid", F.lit(0.0), lambda acc, v: acc + v * v))
    scored = (
        vectors.join(assigned.select("user_key", "segment_id"), "user_key")
        .join(F.broadcast(centroids), "segment_id")
        .select("segment_id", "review_key", (dot / norm).alias("similarity"))
    )
    window = Window.partitionBy("segment_id").orderBy(F.col("similarity").desc(), "review_key")
    return (
        scored.withColumn("example_rank", F.row_number().over(window))
        .where(F.col("example_rank") <= per_segment)
        .toPandas()
    )


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    import numpy as np
    import pandas as pd
    from pyspark.ml.evaluation import ClusteringEvaluator
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.stat import Summarizer
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from usersegments.segmentation import (
        Candidate,
        adjusted_rand,
        choose_k,
        class_tfidf,
        match_segment_ids,
        min_segment_users,
        parse_weights,
        segment_names,
        trait_phrases,
    )

    args = parse_args(argv)
    weights = parse_weights(args.weights)
    started = time.perf_counter()
    lake = Path(args.lake_dir)
    out = lake / "segments"
    info = json.loads((Path(args.encoder_dir) / "encoder.json").read_text())
    embedding_version = info["model_version"]

    spark = SparkSession.builder.appName("segment_users").getOrCreate()
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    spark.sparkContext.setCheckpointDir(str(lake / "_spark_checkpoints"))
    partitions = args.partitions or spark.sparkContext.defaultParallelism

    if args.evaluation:
        # the published run's settings, so the evaluation measures the same recommender
        published = published_run(spark, out, args.run_id, F)
        args.algorithm, args.k, args.seed = published["algorithm"], published["k"], published["seed"]
        weights = json.loads(published["feature_weights"])
        users_in, reviews, text = evaluation_inputs(spark, lake, embedding_version, F)
    else:
        users_in, reviews, text = published_inputs(spark, lake, embedding_version, F)
    table, missing_text = user_table(users_in, reviews, text, F, args.pagerank_iterations)
    pipeline, dims, feature_names = feature_pipeline(table, weights)
    # fixed partitioning and order: the same input gives the same clusters
    features = (
        pipeline.transform(table)
        .repartition(partitions, "user_key")
        .sortWithinPartitions("user_key")
        .cache()
    )
    users = features.count()

    # -- choose k
    fit_input, fit_column = features, "features"
    if args.algorithm == "gaussian_mixture":
        # full covariances over ~400 correlated dimensions break MLlib's mixture
        # ("Matrix is not symmetric"): fit it on the leading principal components
        mean, axes = principal_axes(features, args.mixture_components, PCA_SAMPLE)
        fit_input = project(features, mean, axes, F, "pc_")
        fit_column = "mixture_features"
        fit_input = VectorAssembler(
            inputCols=[f"pc_{i}" for i in range(len(axes))], outputCol=fit_column
        ).transform(fit_input).cache()
    evaluator = ClusteringEvaluator(featuresCol=fit_column, predictionCol="prediction")
    ks = [args.k] if args.k else list(range(args.k_min, min(args.k_max, users - 1) + 1))
    models, scores = {}, []
    for k in ks:
        model = estimator(args.algorithm, k, args.seed, args.max_iter).setFeaturesCol(fit_column).fit(fit_input)
        scored = measure(model, args.algorithm, model.transform(fit_input), evaluator)
        models[k] = model
        scores.append({"k": k, **scored})
        print(f"k={k} silhouette={scored['silhouette']:.4f} cost={scored['cost']:.1f} sizes={scored['sizes']}")
    min_segment_size = min_segment_users(args.min_segment_share, users)
    chosen = choose_k(
        [Candidate(s["k"], s["silhouette"], s["cost"], s["min_size"]) for s in scores],
        min_segment_size,
    )
    model = models[chosen.k]
    predictions = model.transform(fit_input).select(*table_columns(features), "prediction").cache()
    # centroids in the fused feature space whatever the algorithm: the members' mean
    members = (
        predictions.groupBy("prediction")
        .agg(Summarizer.mean(F.col("features")).alias("centroid"), F.count("*").alias("size"))
        .orderBy("prediction")
        .collect()
    )
    clusters = [row["prediction"] for row in members]
    cluster_centers = np.array([row["centroid"].toArray() for row in members])
    sizes = np.array([row["size"] for row in members])

    if args.evaluation:
        return write_evaluation(spark, lake, args, predictions, cluster_centers, sizes, scores, users, started, F)

    # -- stable ids
    previous, previous_centroids, previous_assignments = previous_run(spark, out, args.run_id, F)
    segment_ids, match_distances = match_segment_ids(cluster_centers, sizes, previous_centroids)
    id_map = spark.createDataFrame(
        list(zip(clusters, segment_ids)), "prediction int, segment_id int"
    )
    centroid_rows = spark.createDataFrame(
        [(segment_ids[c], cluster_centers[c].tolist()) for c in range(len(segment_ids))],
        "segment_id int, centroid array<double>",
    )

    # -- assignments: segment, Euclidean distance to its centroid, 2-D projection
    mean, axes = principal_axes(features, 2, PCA_SAMPLE)
    diff = F.zip_with(vector_to_array("features"), "centroid", lambda x, y: (x - y) * (x - y))
    assigned = (
        project(predictions, mean, axes, F, "projection_")
        .join(F.broadcast(id_map), "prediction")
        .join(F.broadcast(centroid_rows), "segment_id")
        .withColumn("distance_to_centroid", F.sqrt(F.aggregate(diff, F.lit(0.0), lambda a, v: a + v)))
        .drop("centroid")
        .cache()
    )
    assignments = assigned.select(
        "user_key",
        "segment_id",
        "distance_to_centroid",
        F.col("projection_0").alias("projection_x"),
        F.col("projection_1").alias("projection_y"),
    )
    current = assignments.select("user_key", "segment_id").toPandas()
    ari, shared_users, unchanged = (
        adjusted_rand(previous_assignments, current) if previous is not None else (None, 0, None)
    )

    # -- profiles, terms, examples, names
    profiles = pd.concat(
        [profile_table(assigned, F), category_mix(reviews, assigned.select("user_key", "segment_id"), F)],
        ignore_index=True,
    )
    terms = class_tfidf(
        term_counts(reviews, assigned.select("user_key", "segment_id"), F), args.top_terms
    )
    examples = representative_reviews(spark, lake, embedding_version, assigned, args.examples, F)
    categories = {}
    for segment, mix in profiles[profiles["facet"] == "category"].groupby("segment_id"):
        top = mix.sort_values(["segment_value", "feature"], ascending=[False, True]).iloc[0]
        categories[int(segment)] = (top["feature"], float(top["segment_value"]))
    traits = {
        int(s): trait_phrases(p) for s, p in profiles[profiles["facet"] != "category"].groupby("segment_id")
    }
    top_terms = {int(s): list(t.sort_values("term_rank")["term"]) for s, t in terms.groupby("segment_id")}
    names = segment_names(
        categories, {s: traits.get(s, []) for s in categories}, {s: top_terms.get(s, []) for s in categories}
    )

    segment_sizes = current.groupby("segment_id").size()
    segments = pd.DataFrame(
        [
            {
                "segment_id": segment_ids[c],
                "segment_name": names[segment_ids[c]],
                "user_count": int(segment_sizes.get(segment_ids[c], 0)),
                "user_share": float(segment_sizes.get(segment_ids[c], 0)) / users,
                "top_category": categories[segment_ids[c]][0],
                "top_category_share": categories[segment_ids[c]][1],
                "traits": ", ".join(traits.get(segment_ids[c], [])),
                "top_terms": ", ".join(top_terms.get(segment_ids[c], [])),
                "previous_match_distance": match_distances[c],
            }
            for c in range(len(segment_ids))
        ]
    ).sort_values("segment_id")

    segmented_at = datetime.now(timezone.utc).replace(tzinfo=None)
    input_fingerprint = fingerprint(
        spark.read.parquet(str(lake / "clean" / "users.parquet")),
        reviews,
        table.select("user_key", vector_to_array("text_vector").alias("v")),
        F,
    )
    silhouette = next(s["silhouette"] for s in scores if s["k"] == chosen.k)
    run = {
        "algorithm": args.algorithm,
        "k": chosen.k,
        "k_selection": "forced" if args.k else "silhouette",
        "k_min": ks[0],
        "k_max": ks[-1],
        "silhouette": silhouette,
        "cost": chosen.cost,
        "users": users,
        "users_without_text": missing_text,
        "feature_weights": json.dumps(weights, sort_keys=True),
        "feature_dims": json.dumps(dims, sort_keys=True),
        "embedding_model_version": embedding_version,
        "seed": args.seed,
        "min_segment_share": args.min_segment_share,
        "min_segment_size": min_segment_size,
        "input_fingerprint": input_fingerprint,
        "previous_run_id": previous["run_id"] if previous else None,
        "previous_input_fingerprint": previous["input_fingerprint"] if previous else None,
        "shared_users": shared_users,
        "ari_previous": ari,
        "unchanged_id_share": unchanged,
        "segmented_at": segmented_at,
    }
    selection = pd.DataFrame(
        [
            {
                "algorithm": args.algorithm,
                "k": s["k"],
                "silhouette": s["silhouette"],
                "cost": s["cost"],
                "smallest_segment": s["min_size"],
                "is_chosen": s["k"] == chosen.k,
            }
            for s in scores
        ]
    )

    # -- write: every table partitioned by run_id; this run's partitions only
    def write(name: str, frame) -> None:
        if isinstance(frame, pd.DataFrame):
            columns = SCHEMAS[name].split(", ")
            frame = frame[[c.split(" ")[0] for c in columns]].astype(object)
            rows = [
                tuple(v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in row)
                for row in frame.where(pd.notna(frame), None).itertuples(index=False)
            ]
            frame = spark.createDataFrame(rows, SCHEMAS[name])
        frame.withColumn("run_id", F.lit(args.run_id)).coalesce(1).write.mode("overwrite").partitionBy(
            "run_id"
        ).parquet(str(out / name))

    write("assignments", assignments.orderBy("user_key"))
    write("segments", segments)
    write("profiles", profiles)
    write("terms", terms)
    write("examples", examples)
    write("model_selection", selection)
    write("centroids", centroid_rows)
    write("runs", pd.DataFrame([run]))
    vector = vector_to_array("features")
    write(
        "features",
        features.select("user_key", *[vector[i].alias(name) for i, name in enumerate(feature_names)]).orderBy("user_key"),
    )
    pipeline.write().overwrite().save(str(out / "feature_pipeline" / f"run_id={args.run_id}"))

    report = {
        **{k: v for k, v in run.items() if k != "segmented_at"},
        "run_id": args.run_id,
        "segments": segments[["segment_id", "segment_name", "user_count"]].to_dict("records"),
        "model_selection": selection.to_dict("records"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, default=str))
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report, indent=2, default=str))
    spark.stop()
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
