"""Distinctive terms per segment: word counts in Spark, class-based TF-IDF on the
driver over one row per segment and term."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.ml.feature import RegexTokenizer, StopWordsRemover
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# Review words that say nothing about a segment, beyond Spark's English stop words; the
# star words come from titles Amazon generates ("Five Stars") for reviews without one.
EXTRA_STOP_WORDS = (
    "product",
    "item",
    "one",
    "would",
    "get",
    "got",
    "also",
    "really",
    "just",
    "star",
    "stars",
    "five",
    "four",
    "three",
    "two",
)
# a word only one or two members write does not describe a segment
MIN_TERM_USERS = 3


def review_words(reviews: DataFrame) -> DataFrame:
    """Add ``words``: the review's summary and body, lower-case letters only, words of
    three letters or more, stop words removed."""
    text = reviews.withColumn("text", F.concat_ws(" ", "summary", "review_text"))
    tokens = RegexTokenizer(
        inputCol="text", outputCol="tokens", pattern="[^a-z]+", gaps=True, minTokenLength=3
    ).transform(text)
    stop_words = StopWordsRemover.loadDefaultStopWords("english") + list(EXTRA_STOP_WORDS)
    return (
        StopWordsRemover(inputCol="tokens", outputCol="words", stopWords=stop_words)
        .transform(tokens)
        .drop("text", "tokens")
    )


def term_counts(
    reviews: DataFrame, assignments: DataFrame, min_users: int = MIN_TERM_USERS
) -> DataFrame:
    """(segment_id, term, term_count, users): per segment, how many of its members'
    reviews use each word, for words at least ``min_users`` members wrote. A word
    counts once per review however often it repeats, so that no single review, however
    long, can outweigh the segment's other reviews."""
    words = review_words(reviews.join(assignments, "user_key"))
    return (
        words.select("segment_id", "user_key", F.explode(F.array_distinct("words")).alias("term"))
        .groupBy("segment_id", "term")
        .agg(F.count("*").alias("term_count"), F.countDistinct("user_key").alias("users"))
        .where(F.col("users") >= min_users)
    )


def class_tfidf(term_counts: pd.DataFrame, top_n: int = 10, min_lift: float = 1.5) -> pd.DataFrame:
    """Distinctive terms per segment by class-based TF-IDF (as in BERTopic):
    all of a segment's reviews form one document;

        score(t, c) = tf(t, c) / words(c) * log(1 + A / f(t))

    with A the mean words per segment and f(t) the term's frequency over all segments.
    Words every segment uses a lot ("great", "good") still score high on tf alone, so
    a term also needs its rate in the segment to be ``min_lift`` times its overall rate.
    A segment holding a share s of all words cannot exceed a lift of 1/s, so for big
    segments the bar is lowered to halfway between 1 and 1/s.
    ``term_counts``: segment_id, term, term_count (and any extra columns, kept).
    Returns the top_n terms per segment with score, lift and rank (1 = most distinctive).
    """
    counts = term_counts.copy()
    words = counts.groupby("segment_id")["term_count"].transform("sum")
    total = counts["term_count"].sum()
    mean_words = counts.groupby("segment_id")["term_count"].sum().mean()
    frequency = counts.groupby("term")["term_count"].transform("sum")
    counts["score"] = counts["term_count"] / words * np.log1p(mean_words / frequency)
    counts["lift"] = (counts["term_count"] / words) / (frequency / total)
    bar = np.minimum(min_lift, (1 + total / words) / 2)
    counts = counts[counts["lift"] >= bar]
    counts = counts.sort_values(["segment_id", "score", "term"], ascending=[True, False, True])
    counts["term_rank"] = counts.groupby("segment_id").cumcount() + 1
    return counts[counts["term_rank"] <= top_n].reset_index(drop=True)


def top_terms(terms: pd.DataFrame) -> dict[int, list[str]]:
    """Segment -> its terms, most distinctive first."""
    ranked = terms.sort_values("term_rank")
    return {int(s): list(t["term"]) for s, t in ranked.groupby("segment_id")}
