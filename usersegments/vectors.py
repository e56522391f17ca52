"""Review and user text vectors in the lake, in Spark: the embedding job publishes them,
the segmentation reads them, and the recommender evaluation's refit recomputes user
vectors from the training reviews only.

A user's vector is the mean of their reviews' vectors. The embedding job computes it
from each review's text hash and the text vectors (one per distinct text) rather than
from the review vectors: only the small (user, text hash) rows are shuffled, by user,
and the text vectors are broadcast to them while they are few, so the per-user mean
needs no shuffle of vectors at all. O(reviews) either way, and the mean is one numpy
pass over each partition sorted by user (``user_text_vectors``)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
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
    by_user = review_texts.select("user_key", "text_hash")
    if texts <= BROADCAST_TEXTS:
        # the join keeps the stream side's partitioning: vectors are never shuffled
        joined = by_user.repartition("user_key").join(F.broadcast(text_vectors), "text_hash")
    else:
        joined = by_user.join(text_vectors, "text_hash").repartition("user_key")
    return user_text_vectors(joined.select("user_key", "text_hash", "vector"), partitioned=True)


USER_VECTORS_SCHEMA = "user_key string, review_count long, vector array<float>"


def user_text_vectors(review_vectors: DataFrame, partitioned: bool = False) -> DataFrame:
    """(user_key, review_count, vector): the mean of each user's review vectors,
    normalised to unit length. ``partitioned``: each user's rows are already in one
    partition.

    Summed in numpy over each partition sorted by user (O(reviews), one pass, float64),
    not by a Spark aggregate: MLlib's Summarizer took ~680 s a task of 515,000 reviews
    at x100, numpy takes seconds. Rows are sorted by text too, so a user's sum is
    added in the same order whatever the order or partitioning of the input."""
    order = ["user_key", "text_hash"] if "text_hash" in review_vectors.columns else ["user_key"]
    by_user = review_vectors if partitioned else review_vectors.repartition("user_key")
    return (
        by_user.sortWithinPartitions(*order)
        .select("user_key", "vector")
        .mapInArrow(_mean_vectors_of_sorted_users, USER_VECTORS_SCHEMA)
    )


def _mean_vectors_of_sorted_users(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Arrow batches of (user_key, vector) rows, each user's rows consecutive (a user
    may span batches) -> one (user_key, review_count, unit mean vector) row per user."""
    carried: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # the last user so far
    for batch in batches:
        if batch.num_rows == 0:
            continue
        users = batch.column("user_key").to_numpy(zero_copy_only=False)
        vectors = batch.column("vector").flatten().to_numpy().astype(np.float64)
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        groups = (
            users[starts],
            np.diff(np.r_[starts, len(users)]),
            np.add.reduceat(vectors.reshape(len(users), -1), starts, axis=0),
        )
        if carried is not None:
            if carried[0][0] == groups[0][0]:  # the carried user goes on in this batch
                groups[1][0] += carried[1][0]
                groups[2][0] += carried[2][0]
            else:
                yield _unit_means(*carried)
        if len(starts) > 1:
            yield _unit_means(*(part[:-1] for part in groups))
        # the batch's last user may go on in the next one
        carried = tuple(part[-1:] for part in groups)
    if carried is not None:
        yield _unit_means(*carried)


def _unit_means(users: np.ndarray, counts: np.ndarray, sums: np.ndarray) -> pa.RecordBatch:
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    unit = (sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(unit.reshape(-1)), unit.shape[1])
    return pa.RecordBatch.from_arrays(
        [
            pa.array(users, pa.string()),
            pa.array(counts, pa.int64()),
            vectors.cast(pa.list_(pa.float32())),
        ],
        names=["user_key", "review_count", "vector"],
    )
