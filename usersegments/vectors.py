"""Review and user text vectors in the lake, in Spark: the embedding job publishes them,
the segmentation reads them, and the recommender evaluation's refit recomputes user
vectors from the training reviews only."""

from __future__ import annotations

from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.stat import Summarizer
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from usersegments.lake import Lake


def published_review_vectors(spark: SparkSession, lake: Lake, model_version: str) -> DataFrame:
    """(review_key, user_key, vector): one vector of this model version per review
    currently published in the reviews mart (earlier batches included)."""
    published = spark.read.parquet(str(lake.clean("reviews"))).select("review_key")
    return (
        spark.read.parquet(str(lake.review_vectors()))
        .where(F.col("model_version") == model_version)
        .join(published, "review_key")
        .dropDuplicates(["review_key"])
        .select("review_key", "user_key", "vector")
    )


def user_text_vectors(review_vectors: DataFrame) -> DataFrame:
    """(user_key, review_count, vector): the mean of each user's review vectors,
    normalised to unit length."""
    means = review_vectors.groupBy("user_key").agg(
        vector_to_array(Summarizer.mean(array_to_vector("vector"))).alias("mean"),
        F.count("*").alias("review_count"),
    )
    norm = F.sqrt(F.aggregate(F.col("mean"), F.lit(0.0), lambda acc, x: acc + x * x))
    return means.select(
        "user_key",
        "review_count",
        F.transform("mean", lambda x: (x / norm).cast("float")).alias("vector"),
    )
