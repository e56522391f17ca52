"""User text vectors from text hashes equal the mean of the review vectors."""

from __future__ import annotations

import numpy as np
import pytest

from usersegments.vectors import BROADCAST_TEXTS, user_text_vectors, user_vectors_from_texts

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
    review_vectors = spark.createDataFrame(
        [(r, u, TEXTS[h]) for r, u, h in REVIEWS],
        "review_key string, user_key string, vector array<float>",
    )
    from_texts = user_vectors_from_texts(review_texts, text_vectors, texts)
    plan = from_texts._jdf.queryExecution().executedPlan().toString()
    assert ("BroadcastHashJoin" in plan) == (texts <= BROADCAST_TEXTS)
    found, expected = as_dict(from_texts), as_dict(user_text_vectors(review_vectors))
    assert found.keys() == expected.keys() == {"u1", "u2", "u3"}
    for user, (count, vector) in expected.items():
        assert found[user][0] == count
        np.testing.assert_allclose(found[user][1], vector, rtol=1e-6)
    # u1: twice h1, once h2, normalised
    mean = np.array([2.0, 2.0, 0.0]) / 3
    np.testing.assert_allclose(found["u1"][1], mean / np.linalg.norm(mean), rtol=1e-6)
