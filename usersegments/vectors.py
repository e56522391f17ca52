"""Review and user text vectors in the lake, in Spark: the embedding job publishes them,
the segmentation reads them, and the recommender evaluation's refit recomputes user
vectors from the training reviews only.

A user's vector is the mean of their reviews' vectors. The embedding job computes it
from each review's text hash and the text vectors (one per distinct text) rather than
from the review vectors: only the small (user, text hash) rows are shuffled, by user,
and the text vectors are broadcast to them while they are few, so the per-user mean
needs no shuffle of vectors at all. O(reviews) either way. Measured at x100 (1.5 M
reviews, 16,141 distinct texts): the shuffles were not the cost; the per-user mean
itself (Summarizer, ~680 s a task of 515,000 reviews) is (docs/results.md, Scale)."""

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


# Up to this many distinct texts (~75 MB of 384 floats) are broadcast; beyond, the text
# vectors are joined by hash like any large table.
BROADCAST_TEXTS = 50_000


def user_vectors_from_texts(
    review_texts: DataFrame, text_vectors: DataFrame, texts: int
) -> DataFrame:
    """``user_text_vectors`` of the reviews in ``review_texts`` (user_key, text_hash),
    each review's vector its text's (``text_vectors``: text_hash, vector; ``texts``:
    how many rows it has)."""
    vectors = F.broadcast(text_vectors) if texts <= BROADCAST_TEXTS else text_vectors
    by_user = review_texts.select("user_key", "text_hash").repartition("user_key")
    return user_text_vectors(by_user.join(vectors, "text_hash").select("user_key", "vector"))


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
