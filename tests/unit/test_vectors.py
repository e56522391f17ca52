"""User text vectors: the unit mean of each user's review vectors, from text hashes or
from review vectors, whatever the batches, order and partitioning of the rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from usersegments.vectors import (
    BROADCAST_TEXTS,
    _mean_vectors_of_sorted_users,
    user_text_vectors,
    user_vectors_from_texts,
)

TEXTS = {"h1": [1.0, 0.0, 0.0], "h2": [0.0, 2.0, 0.0], "h3": [1.0, 1.0, 1.0]}
# (review_key, user_key, text_hash): u1 wrote the same text twice, u3 one review
REVIEWS = [("r1", "u1", "h1"), ("r2", "u1", "h1"), ("r3", "u1", "h2"), ("r4", "u2", "h3"),
           ("r5", "u2", "h2"), ("r6", "u3", "h3")]  # fmt: skip


def as_dict(frame) -> dict[str, tuple[int, np.ndarray]]:
    return {
        row["user_key"]: (row["review_count"], np.array(row["vector"])) for row in frame.collect()
    }


@pytest.mark.parametrize("texts", [len(TEXTS), BROADCAST_TEXTS + 1], ids=["broadcast", "joined"])
def test_user_vectors_from_text_hashes_equal_the_mean_of_review_vectors(spark, texts):
    text_vectors = spark.createDataFrame(
        list(TEXTS.items()), "text_hash string, vector array<float>"
    )
    review_texts = spark.createDataFrame(
        REVIEWS, "review_key string, user_key string, text_hash string"
    )
    from_texts = user_vectors_from_texts(review_texts, text_vectors, texts)
    plan = from_texts._jdf.queryExecution().executedPlan().toString()
    assert ("BroadcastHashJoin" in plan) == (texts <= BROADCAST_TEXTS)
    found = as_dict(from_texts)
    assert found.keys() == {"u1", "u2", "u3"}
    for user in found:
        vectors = np.array([TEXTS[h] for _, u, h in REVIEWS if u == user])
        mean = vectors.mean(axis=0)
        assert found[user][0] == len(vectors)
        np.testing.assert_allclose(found[user][1], mean / np.linalg.norm(mean), rtol=1e-6)
    # u1: twice h1, once h2
    np.testing.assert_allclose(found["u1"][1], np.array([1.0, 1.0, 0.0]) / np.sqrt(2), rtol=1e-6)


def test_a_user_spanning_arrow_batches_is_one_row():
    rng = np.random.default_rng(0)
    users = ["a"] * 5 + ["b"] * 7 + ["c"] + ["d"] * 4
    vectors = rng.normal(size=(len(users), 4)).astype(np.float32)
    # batches of 3 rows: "a" and "b" span batches, "c" sits inside one, "d" ends the last
    batches = [
        pa.RecordBatch.from_arrays(
            [
                pa.array(users[i : i + 3]),
                pa.array(vectors[i : i + 3].tolist(), pa.list_(pa.float32())),
            ],
            names=["user_key", "vector"],
        )
        for i in range(0, len(users), 3)
    ]
    rows = pa.Table.from_batches(list(_mean_vectors_of_sorted_users(iter(batches)))).to_pylist()
    assert [(r["user_key"], r["review_count"]) for r in rows] == [
        ("a", 5), ("b", 7), ("c", 1), ("d", 4)
    ]  # fmt: skip
    for row in rows:
        mean = vectors[[u == row["user_key"] for u in users]].astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(row["vector"], mean / np.linalg.norm(mean), rtol=1e-6)


def test_user_vectors_do_not_depend_on_the_order_or_partitioning_of_the_rows(spark):
    rng = np.random.default_rng(1)
    rows = [
        (f"u{rng.integers(40)}", f"h{i}", rng.normal(size=8).astype(np.float32).tolist())
        for i in range(400)
    ]
    schema = "user_key string, text_hash string, vector array<float>"

    def vectors(order, partitions):
        frame = spark.createDataFrame([rows[i] for i in order], schema).repartition(partitions)
        return {r["user_key"]: r["vector"] for r in user_text_vectors(frame).collect()}

    first = vectors(range(len(rows)), 1)
    assert len(first) == len({r[0] for r in rows})
    assert vectors(rng.permutation(len(rows)), 7) == first  # bit for bit
