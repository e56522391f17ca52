"""Distinctive terms: words counted per segment in Spark, class-based TF-IDF."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from usersegments.segmentation.terms import class_tfidf, review_words, term_counts, top_terms


def test_class_tfidf_prefers_words_particular_to_a_segment():
    counts = pd.DataFrame(
        [
            (1, "guitar", 30),
            (1, "great", 40),
            (1, "strings", 20),
            (2, "shampoo", 25),
            (2, "great", 45),
            (2, "hair", 20),
        ],
        columns=["segment_id", "term", "term_count"],
    )
    top = class_tfidf(counts, top_n=2, min_lift=0)
    assert list(top[top.segment_id == 1].term) == ["guitar", "strings"]
    assert list(top[top.segment_id == 2].term) == ["shampoo", "hair"]
    # by hand: tf 30/90, A = 90 words per segment, f(guitar) = 30
    guitar = top[top.term == "guitar"].score.iloc[0]
    assert guitar == pytest.approx(30 / 90 * math.log(1 + 90 / 30))
    unfiltered = class_tfidf(counts, top_n=3, min_lift=0)
    assert unfiltered[unfiltered.term == "great"].score.max() < top.score.min()
    # "great" is as common in both segments as overall (lift < 1.5): never distinctive
    assert "great" not in set(class_tfidf(counts, top_n=3).term)
    assert list(top.term_rank) == [1, 2, 1, 2]


def test_a_segment_with_most_of_the_words_still_gets_terms():
    # segment 1 writes 80% of the words: no word can be 1.5x more frequent there
    counts = pd.DataFrame(
        [(1, "guitar", 300), (1, "great", 500), (2, "shampoo", 100), (2, "great", 100)],
        columns=["segment_id", "term", "term_count"],
    )
    top = class_tfidf(counts, top_n=3)
    # guitar: lift 300/800 / (300/1000) = 1.25 >= (1 + 1000/800) / 2 = 1.125
    assert list(top[top.segment_id == 1].term) == ["guitar"]
    assert list(top[top.segment_id == 2].term) == ["shampoo"]


REVIEWS = [
    ("u1", "Great guitar", "The guitar strings buzz; five stars."),
    ("u2", "Guitar", "Lovely guitar, new strings"),
    ("u3", None, "my guitar is a guitar"),
    ("u4", "Shampoo", "smells nice"),
]


def reviews(spark):
    return spark.createDataFrame(REVIEWS, "user_key string, summary string, review_text string")


def test_words_are_lower_case_letters_without_stop_words(spark):
    words = {r["user_key"]: r["words"] for r in review_words(reviews(spark)).collect()}
    assert words["u1"] == [
        "great",
        "guitar",
        "guitar",
        "strings",
        "buzz",
    ]  # no "the", "five", "stars"
    assert words["u3"] == ["guitar", "guitar"]  # a missing summary is no word


def test_term_counts_keep_words_enough_members_wrote(spark):
    assignments = spark.createDataFrame(
        [("u1", 1), ("u2", 1), ("u3", 1), ("u4", 2)], "user_key string, segment_id int"
    )
    counts = term_counts(reviews(spark), assignments, min_users=3).toPandas()
    # "guitar" twice in each of three reviews: three reviews use it
    assert counts.to_dict("records") == [
        {"segment_id": 1, "term": "guitar", "term_count": 3, "users": 3}
    ]
    two = term_counts(reviews(spark), assignments, min_users=2).toPandas()
    assert set(two["term"]) == {"guitar", "strings"}
    assert top_terms(class_tfidf(two, min_lift=0)) == {1: ["guitar", "strings"]}


def test_one_long_review_cannot_outweigh_the_others(spark):
    """A word repeated a thousand times in one review counts once: the 5.8 MB review
    that named a segment "store, easy" weighs what any other review weighs."""
    flood = ("u4", "Store", " ".join(["store easy"] * 1000))
    assignments = spark.createDataFrame(
        [("u1", 1), ("u2", 1), ("u3", 1), ("u4", 1)], "user_key string, segment_id int"
    )
    frame = spark.createDataFrame(
        [*REVIEWS, flood], "user_key string, summary string, review_text string"
    )
    counts = term_counts(frame, assignments, min_users=1).toPandas().set_index("term")
    assert counts.loc["store", "term_count"] == 1 and counts.loc["easy", "term_count"] == 1
    assert counts.loc["guitar", "term_count"] == 3
