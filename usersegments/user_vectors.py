"""Per-user text vectors from review vectors, in Spark: the embedding job publishes them
for every review, and the recommender evaluation's segmentation recomputes them from the
training reviews only."""

from __future__ import annotations


def user_text_vectors(review_vectors, functions):
    """Per user: the mean of their review vectors, normalised to unit length."""
    from pyspark.ml.functions import array_to_vector, vector_to_array
    from pyspark.ml.stat import Summarizer

    means = review_vectors.groupBy("user_key").agg(
        vector_to_array(Summarizer.mean(array_to_vector("vector"))).alias("mean"),
        functions.count("*").alias("review_count"),
    )
    norm = functions.sqrt(
        functions.aggregate(
            functions.col("mean"), functions.lit(0.0), lambda acc, x: acc + x * x
        )
    )
    return means.select(
        "user_key",
        "review_count",
        functions.transform("mean", lambda x: (x / norm).cast("float")).alias("vector"),
    )
