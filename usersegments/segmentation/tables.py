"""The lake tables a segmentation run reads and writes.

Reads: the users mart, the reviews, the users' text vectors (published run), or the
evaluation split's training side (evaluation refit). Writes, under lake/segments/
(the refit: lake/segments_eval/), each table partitioned by run_id, so a rerun of a run
overwrites its own partition only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from usersegments.embedding import user_vectors
from usersegments.lake import SEGMENTATION, Lake, partition_name

# The driver-side tables a run writes (Spark cannot infer types from all-null columns).
SCHEMAS = {
    "segments": "segment_id int, segment_name string, user_count long, user_share double, "
    "top_category string, top_category_share double, traits string, top_terms string, "
    "previous_match_distance double, stability double, is_stable boolean",
    "profiles": "segment_id int, facet string, feature string, segment_value double, "
    "population_value double, lift double, z double",
    "terms": "segment_id int, term_rank int, term string, score double, lift double, "
    "term_count long, users long",
    "model_selection": "algorithm string, k int, silhouette double, macro_silhouette double, "
    "macro_silhouette_noise double, stability double, cost double, "
    "smallest_segment long, is_chosen boolean",
    "runs": "algorithm string, k int, k_selection string, k_min int, k_max int, "
    "silhouette double, macro_silhouette double, stability double, unstable_segments int, "
    "start string, warm_cost_ratio double, restarts int, subsamples int, "
    "cost double, users long, users_without_text long, "
    "feature_weights string, feature_dims string, embedding_model_version string, "
    "seed long, min_segment_share double, min_segment_size long, "
    "input_fingerprint string, previous_run_id string, previous_input_fingerprint string, "
    "shared_users long, ari_previous double, unchanged_id_share double, "
    "segmented_at timestamp, as_of timestamp, refit boolean, refit_reason string, "
    "model_run_id string, intervals_since_refit int",
    "evaluation_runs": "algorithm string, k int, seed long, users long, silhouette double, "
    "shared_users long, ari_published double, unchanged_id_share double",
}


@dataclass(frozen=True)
class Inputs:
    """What a segmentation fits on: the users (behaviour features), their reviews
    (co-review graph, terms, categories) and their text vectors (``text_array``)."""

    users: DataFrame
    reviews: DataFrame
    text: DataFrame


def published_inputs(spark: SparkSession, lake: Lake, embedding_version: str) -> Inputs:
    """The users mart, every published review, the users' published text vectors."""
    text = spark.read.parquet(str(lake.user_vectors(embedding_version)))
    return Inputs(
        users=spark.read.parquet(str(lake.clean("users"))),
        reviews=spark.read.parquet(str(lake.clean("reviews"))),
        text=text.select("user_key", F.col("vector").alias("text_array")),
    )


def evaluation_inputs(spark: SparkSession, lake: Lake, embedding_version: str) -> Inputs:
    """The evaluation split's 'train' side only: behaviour features from training
    reviews, and text vectors averaged over training review vectors."""
    reviews = (
        spark.read.parquet(str(lake.clean("evaluation_reviews")))
        .where(F.col("evaluation_split") == "train")
        .drop("evaluation_split")
    )
    # computed, not read: cached, since the features use it three times
    text = user_vectors(spark, lake, embedding_version, only=reviews).select(
        "user_key", F.col("vector").alias("text_array")
    )
    return Inputs(
        users=spark.read.parquet(str(lake.clean("evaluation_users"))),
        reviews=reviews,
        text=text.cache(),
    )


def run_table(
    spark: SparkSession, lake: Lake, table: str, run_id: str, root: str = SEGMENTATION
) -> DataFrame:
    """One table of segmentation run ``run_id``."""
    frame = spark.read.parquet(str(lake.segmentation(table, root=root)))
    return frame.where(F.col("run_id") == partition_name(run_id)).drop("run_id")


def published_run(spark: SparkSession, lake: Lake, run_id: str) -> dict:
    """The runs row of the published segmentation ``run_id``."""
    runs = read_runs(spark, lake)
    rows = runs.where(F.col("run_id") == partition_name(run_id)).drop("run_id").collect()
    if not rows:
        raise SystemExit(
            f"no published segmentation run {run_id!r} under {lake.segmentation('runs')}"
        )
    return rows[0].asDict()


def read_runs(spark: SparkSession, lake: Lake) -> DataFrame:
    """Every run's row; runs written before a column existed have it null."""
    return spark.read.option("mergeSchema", "true").parquet(str(lake.segmentation("runs")))


def previous_run(
    spark: SparkSession, lake: Lake, run_id: str, as_of: datetime | None = None
) -> dict | None:
    """The runs row of the run before ``run_id``, or None: with an ``as_of``, the latest
    run of an earlier as-of (so a rerun of an old interval compares with the run before
    it, not with the newest); without one (a manual run, which sees everything), the
    latest run, runs without an as-of counting as the newest."""
    if not lake.segmentation("runs").exists():
        return None
    runs = read_runs(spark, lake).where(F.col("run_id") != partition_name(run_id))
    if as_of is not None:
        runs = runs.where(F.col("as_of") < F.lit(as_of))
    latest = (
        runs.orderBy(
            F.col("as_of").desc_nulls_first(), F.col("segmented_at").desc(), F.col("run_id").desc()
        )
        .limit(1)
        .collect()
    )
    return latest[0].asDict() if latest else None


def centroids(spark: SparkSession, lake: Lake, run_id: str) -> pd.DataFrame:
    """(segment_id, centroid): one row per segment of run ``run_id``."""
    return run_table(spark, lake, "centroids", run_id).select("segment_id", "centroid").toPandas()


def fingerprint(users: DataFrame, reviews: DataFrame, text: DataFrame) -> str:
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


def input_fingerprint(spark: SparkSession, lake: Lake, inputs: Inputs, table: DataFrame) -> str:
    """The published run's fingerprint: the users mart, review pairs, text vectors."""
    text = table.select("user_key", vector_to_array("text_vector").alias("v"))
    return fingerprint(spark.read.parquet(str(lake.clean("users"))), inputs.reviews, text)


def driver_frame(spark: SparkSession, name: str, frame: pd.DataFrame) -> DataFrame:
    """A small pandas table as a Spark DataFrame of the table's declared schema."""
    columns = [c.split(" ")[0] for c in SCHEMAS[name].split(", ")]
    values = frame[columns].astype(object)
    rows = [
        tuple(v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in row)
        for row in values.where(pd.notna(values), None).itertuples(index=False)
    ]
    return spark.createDataFrame(rows, SCHEMAS[name])


def write_run_table(
    frame: DataFrame, lake: Lake, name: str, run_id: str, root: str = SEGMENTATION
) -> None:
    """lake/<root>/<name>/run_id=<run>/ (one file): this run's partition only."""
    (
        frame.withColumn("run_id", F.lit(partition_name(run_id)))
        .coalesce(1)
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy("run_id")
        .parquet(str(lake.segmentation(name, root=root)))
    )
