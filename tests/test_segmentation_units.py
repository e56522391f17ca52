"""Units of usersegments.segmentation on small hand-made tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from usersegments.segmentation import (
    Candidate,
    adjusted_rand,
    choose_k,
    class_tfidf,
    match_segment_ids,
    min_segment_users,
    parse_weights,
    segment_names,
    trait_phrases,
)


def test_weights_default_to_one_and_parse_both_forms():
    assert parse_weights("") == {"behaviour": 1.0, "text": 1.0, "graph": 1.0}
    assert parse_weights('{"text": 2, "graph": 0}') == {"behaviour": 1.0, "text": 2.0, "graph": 0.0}
    assert parse_weights("behaviour=0.5") == {"behaviour": 0.5, "text": 1.0, "graph": 1.0}


@pytest.mark.parametrize("bad", ['{"txt": 1}', "text=-1", '{"behaviour": 0, "text": 0, "graph": 0}'])
def test_bad_weights_are_refused_with_the_reason(bad):
    with pytest.raises(ValueError):
        parse_weights(bad)


def test_choose_k_takes_best_silhouette_among_big_enough_segments():
    candidates = [
        Candidate(k=3, silhouette=0.30, cost=90, min_size=100),
        Candidate(k=4, silhouette=0.41, cost=70, min_size=3),  # best, but a 3-user segment
        Candidate(k=5, silhouette=0.35, cost=60, min_size=40),
        Candidate(k=6, silhouette=0.35, cost=55, min_size=30),
    ]
    assert choose_k(candidates, min_segment_size=25).k == 5  # tie with 6: smaller k
    assert choose_k(candidates, min_segment_size=1).k == 4
    # nothing admissible: the best overall, and the size expectation will stop the run
    assert choose_k(candidates, min_segment_size=1000).k == 4


def test_matching_keeps_ids_when_clusters_come_back_in_another_order():
    previous = pd.DataFrame(
        {"segment_id": [1, 2, 3], "centroid": [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]}
    )
    # the same clusters, shuffled and moved a little
    centroids = np.array([[0.1, 9.8], [0.2, -0.1], [9.9, 0.3]])
    ids, distances = match_segment_ids(centroids, np.array([5, 9, 7]), previous)
    assert ids == [3, 1, 2]
    assert all(d is not None and d < 0.1 for d in distances)


def test_matching_gives_new_clusters_new_ids_and_first_run_ids_by_size():
    previous = pd.DataFrame({"segment_id": [1, 2], "centroid": [[0.0, 0.0], [10.0, 0.0]]})
    centroids = np.array([[10.0, 0.1], [50.0, 50.0], [0.0, 0.1], [-50.0, 50.0]])
    ids, distances = match_segment_ids(centroids, np.array([10, 3, 10, 8]), previous)
    assert ids[0] == 2 and ids[2] == 1
    assert sorted(ids[i] for i in (1, 3)) == [3, 4]
    assert ids[3] == 3  # the bigger new cluster gets the lower new id
    assert distances[1] is None and distances[3] is None

    first, _ = match_segment_ids(centroids, np.array([10, 3, 12, 8]), None)
    assert first == [2, 4, 1, 3]


def test_class_tfidf_prefers_words_particular_to_a_segment():
    counts = pd.DataFrame(
        [
            (1, "guitar", 30), (1, "great", 40), (1, "strings", 20),
            (2, "shampoo", 25), (2, "great", 45), (2, "hair", 20),
        ],
        columns=["segment_id", "term", "term_count"],
    )  # fmt: skip
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


def test_traits_are_the_strongest_deviations_in_words():
    profile = pd.DataFrame(
        {"feature": ["mean_rating", "mean_review_words", "review_count"], "z": [-1.2, 0.6, 0.1]}
    )
    assert trait_phrases(profile) == ["critics", "storytellers"]


def test_names_are_readable_and_distinct():
    categories = {1: ("all_beauty", 0.9), 2: ("all_beauty", 0.8), 3: ("appliances", 0.4)}
    traits = {1: ["critics"], 2: ["critics"], 3: []}
    terms = {1: ["hair", "smell", "skin"], 2: ["hair", "smell", "nails"], 3: ["fridge"]}
    names = segment_names(categories, traits, terms)
    assert names[1] == "Beauty critics · hair, smell, skin"
    assert names[2] == "Beauty critics · hair, smell, nails"
    assert names[3] == "Cross-category shoppers · fridge"
    assert len(set(names.values())) == 3


def test_identical_names_fall_back_to_the_id():
    same = {1: ("gift_cards", 1.0), 2: ("gift_cards", 1.0)}
    names = segment_names(same, {1: [], 2: []}, {1: ["gift"], 2: ["gift"]})
    assert names == {1: "Gift card shoppers · gift (#1)", 2: "Gift card shoppers · gift (#2)"}


def test_adjusted_rand_on_shared_users_only():
    previous = pd.DataFrame({"user_key": list("abcde"), "segment_id": [1, 1, 2, 2, 3]})
    relabelled = pd.DataFrame({"user_key": list("abcdef"), "segment_id": [7, 7, 8, 8, 9, 9]})
    ari, shared, unchanged = adjusted_rand(previous, relabelled)
    assert (ari, shared, unchanged) == (1.0, 5, 0.0)  # same partition, other ids
    same = adjusted_rand(previous, previous)
    assert same == (1.0, 5, 1.0)
    moved = pd.DataFrame({"user_key": list("abcde"), "segment_id": [1, 2, 2, 2, 3]})
    assert adjusted_rand(previous, moved)[0] < 1.0


def test_min_segment_users_is_a_share_of_users_at_least_one():
    assert min_segment_users(0.01, 3667) == 37
    assert min_segment_users(0.01, 50) == 1
    assert min_segment_users(0.0, 10) == 1
    with pytest.raises(ValueError):
        min_segment_users(1.5, 10)
