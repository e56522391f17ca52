"""What each Great Expectations checkpoint validates, as Spark DataFrames: GX computes
its metrics where the data is (Spark's executors), and no table passes through pandas
or the driver. Each function costs one pass over its inputs, O(rows), joins by key.

A warehouse table (the dbt models the ``staged_reviews`` and ``user_features`` gates
check) is first written to Parquet by the warehouse itself (DuckDB's COPY, or a
streamed PostgreSQL cursor) in a scratch folder the caller removes afterwards.
"""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from usersegments.config import Settings
from usersegments.lake import partition_name


def raw_reviews(spark: SparkSession, settings: Settings, run_id: str, scratch: Path) -> DataFrame:
    """Every raw review in the lake (files written by different versions: merged)."""
    return spark.read.option("mergeSchema", "true").parquet(str(settings.lake.raw_reviews()))


def warehouse_table(table: str):
    def read(spark: SparkSession, settings: Settings, run_id: str, scratch: Path) -> DataFrame:
        from usersegments.warehouse import export_table

        return spark.read.parquet(str(export_table(settings, table, scratch / f"{table}.parquet")))

    return read


def review_embeddings(
    spark: SparkSession, settings: Settings, run_id: str, scratch: Path
) -> DataFrame:
    """One row per published review with text, and what the lake holds for it under the
    current encoder: how many vectors (expected: 1), their length, norm, and NaN or null
    elements."""
    from usersegments.encoder import encoder_info

    version = encoder_info(settings)["model_version"]
    reviews = (
        spark.read.parquet(str(settings.lake.clean("reviews")))
        .where(F.coalesce("summary", "review_text").isNotNull())
        .select("review_key")
    )
    vectors = spark.read.parquet(str(settings.lake.review_vectors(version))).select(
        F.col("review_key").alias("vector_review_key"), "vector"
    )
    has_vector = F.col("vector").isNotNull()
    squares = F.aggregate("vector", F.lit(0.0), lambda total, x: total + x * x)
    return (
        reviews.join(vectors, reviews.review_key == vectors.vector_review_key, "left")
        .groupBy("review_key")
        .agg(
            F.count("vector_review_key").alias("vector_count"),
            F.max(F.when(has_vector, F.size("vector"))).alias("dimension"),
            F.max(F.sqrt(squares)).alias("norm"),
            F.max(F.exists("vector", lambda x: x.isNull() | F.isnan(x))).alias("has_nan_or_null"),
        )
    )


def user_segments(spark: SparkSession, settings: Settings, run_id: str, scratch: Path) -> DataFrame:
    """A segmentation run's output as GX checks it: every published user joined with
    their assignments (full outer), and those with the run's segments (full outer).

    So a user without a segment has a null segment_id, a user assigned twice appears
    twice, an assignment of an unknown user has is_known_user false, and a segment
    without users shows as a row with a null user_key. Each row also carries its
    segment's actual user count and stability flag, the run's id-stability verdict and
    its drift from the previous run.
    """

    def read(table: str) -> DataFrame:
        return spark.read.parquet(str(settings.lake.segmentation(table, run_id)))

    users = spark.read.parquet(str(settings.lake.clean("users"))).select(
        "user_key", F.lit(True).alias("is_known_user")
    )
    assignments = read("assignments").select("user_key", "segment_id", "distance_to_centroid")
    sizes = assignments.groupBy("segment_id").agg(F.count("*").alias("segment_user_count"))
    segments = (
        read("segments")
        .select("segment_id", "segment_name", F.col("is_stable").alias("segment_is_stable"))
        .join(sizes, "segment_id", "left")
        .fillna(0, ["segment_user_count"])
    )
    (run,) = read("runs").limit(1).collect()  # one row per run
    return (
        users.join(assignments, "user_key", "full_outer")
        .withColumn("is_known_user", known("is_known_user"))
        .join(segments, "segment_id", "full_outer")
        .withColumn("ids_stable_if_input_unchanged", F.lit(ids_stable(run.asDict())))
        .withColumn(
            "moved_share_since_previous_run", F.lit(moved_share(run.asDict())).cast("double")
        )
    )


def moved_share(run: dict) -> float | None:
    """The share of the users of both this run and the previous one whose segment id
    changed (the drift the checkpoint limits); None for a first run."""
    unchanged = run["unchanged_id_share"]
    return None if unchanged is None else 1.0 - float(unchanged)


def ids_stable(run: dict) -> bool:
    """Same inputs as the previous run: the partition and the ids must be the same too."""
    unchanged = (
        run["previous_input_fingerprint"] is not None
        and run["input_fingerprint"] == run["previous_input_fingerprint"]
    )
    return (not unchanged) or bool(run["ari_previous"] == 1.0 and run["unchanged_id_share"] == 1.0)


def user_scores(
    spark: SparkSession, settings: Settings, scoring_run_id: str, scratch: Path
) -> DataFrame:
    """The newest segmentation run's users joined (full outer) with every scoring run's
    rows. A user never scored has a null prediction, one scored twice appears twice, a
    score of a user the run does not know has is_current_user false; in_this_batch
    marks this scoring run's rows."""
    from usersegments.warehouse import latest_segmentation_run

    run_id = latest_segmentation_run(settings)
    users = spark.read.parquet(str(settings.lake.segmentation("features", run_id))).select(
        "user_key", F.lit(True).alias("is_current_user")
    )
    scores = spark.read.parquet(str(settings.lake.scores())).withColumn(
        "in_this_batch",
        (F.col("scoring_run_id") == partition_name(scoring_run_id)).cast("long"),
    )
    return (
        users.join(scores, "user_key", "full_outer")
        .withColumn("is_current_user", known("is_current_user"))
        .fillna(0, ["in_this_batch"])
    )


def recommendations(
    spark: SparkSession, settings: Settings, run_id: str, scratch: Path
) -> DataFrame:
    """Every published user (full outer) with their top-N rows, each flagged if the user
    already reviewed the item and whether the user got a list at all."""
    recs = spark.read.parquet(str(settings.lake.recommendations("user_recommendations", run_id)))
    users = spark.read.parquet(str(settings.lake.clean("users"))).select(
        "user_key", F.lit(True).alias("is_known_user")
    )
    listed = recs.select("user_key").distinct().withColumn("has_recommendations", F.lit(True))
    seen = (
        spark.read.parquet(str(settings.lake.clean("reviews")))
        .select("user_key", "item_id")
        .distinct()
        .withColumn("already_reviewed", F.lit(True))
    )
    return (
        users.join(recs, "user_key", "full_outer")
        .withColumn("is_known_user", known("is_known_user"))
        .join(listed, "user_key", "left")
        .withColumn("has_recommendations", known("has_recommendations"))
        .join(seen, ["user_key", "item_id"], "left")
        .withColumn("already_reviewed", known("already_reviewed"))
    )


def known(flag: str) -> Column:
    """A flag set on one side of an outer join: false where that side had no row."""
    return F.coalesce(F.col(flag), F.lit(False))


CHECKPOINT_DATA = {
    "raw_reviews": raw_reviews,
    "staged_reviews": warehouse_table("int_reviews__normalised"),
    "user_features": warehouse_table("int_users__behaviour_features"),
    "review_embeddings": review_embeddings,
    "user_segments": user_segments,
    "user_scores": user_scores,
    "recommendations": recommendations,
}
