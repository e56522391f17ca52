"""Representative reviews: nearest each segment's text centroid."""

from __future__ import annotations

import pytest
from pyspark.ml.linalg import Vectors

from usersegments.segmentation.examples import representative_reviews


def test_the_reviews_nearest_the_centroid_come_first(spark):
    assigned = spark.createDataFrame(
        [
            ("u1", 1, Vectors.dense([1.0, 0.0])),
            ("u2", 1, Vectors.dense([0.0, 1.0])),
            ("u3", 2, Vectors.dense([-1.0, 0.0])),
        ],
        ["user_key", "segment_id", "text_vector"],
    )
    vectors = spark.createDataFrame(
        [
            ("r1", "u1", [1.0, 0.0]),
            ("r2", "u2", [0.0, 1.0]),
            ("r3", "u1", [0.6, 0.8]),
            ("r4", "u3", [-1.0, 0.0]),
            ("r5", "u3", [-1.0, 0.0]),
        ],
        "review_key string, user_key string, vector array<double>",
    )
    rows = (
        representative_reviews(vectors, assigned, per_segment=2)
        .orderBy("segment_id", "example_rank")
        .collect()
    )
    picked = [(r["segment_id"], r["example_rank"], r["review_key"]) for r in rows]
    # segment 1's centroid is (0.5, 0.5): r3 (cosine 0.99) first; r1 and r2 tie (0.71),
    # the smaller key wins; segment 2's two equal reviews: by key
    assert picked == [(1, 1, "r3"), (1, 2, "r1"), (2, 1, "r4"), (2, 2, "r5")]
    assert rows[0]["similarity"] == pytest.approx((0.6 * 0.5 + 0.8 * 0.5) / 0.5**0.5)
