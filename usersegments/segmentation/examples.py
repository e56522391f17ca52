"""Representative reviews: per segment, the reviews nearest its text centroid."""

from __future__ import annotations

from pyspark.ml.functions import vector_to_array
from pyspark.ml.stat import Summarizer
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def text_centroids(assigned: DataFrame) -> DataFrame:
    """(segment_id, centroid): the mean of the members' text vectors, one row a segment."""
    return assigned.groupBy("segment_id").agg(
        vector_to_array(Summarizer.mean(F.col("text_vector"))).alias("centroid")
    )


def cosine_to_centroid() -> F.Column:
    """Cosine of a unit-length ``vector`` with the array ``centroid``."""
    dot = F.aggregate(
        F.zip_with("vector", "centroid", lambda x, y: x * y), F.lit(0.0), lambda acc, v: acc + v
    )
    norm = F.sqrt(F.aggregate("centroid", F.lit(0.0), lambda acc, v: acc + v * v))
    return dot / norm


def representative_reviews(
    review_vectors: DataFrame, assigned: DataFrame, per_segment: int
) -> DataFrame:
    """(segment_id, review_key, similarity, example_rank): per segment, the
    ``per_segment`` reviews of its members whose vector is nearest its text centroid
    (ties by review key). ``review_vectors``: review_key, user_key, vector."""
    scored = (
        review_vectors.join(assigned.select("user_key", "segment_id"), "user_key")
        .join(F.broadcast(text_centroids(assigned)), "segment_id")
        .select("segment_id", "review_key", cosine_to_centroid().alias("similarity"))
    )
    window = Window.partitionBy("segment_id").orderBy(F.col("similarity").desc(), "review_key")
    return scored.withColumn("example_rank", F.row_number().over(window)).where(
        F.col("example_rank") <= per_segment
    )
