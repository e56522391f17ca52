"""Segments against everyone: means, lift, z, category mix, traits."""

from __future__ import annotations

import pandas as pd
import pytest

from usersegments.segmentation.features import GRAPH_COLUMNS, PROFILE_BEHAVIOUR
from usersegments.segmentation.profiles import (
    category_mix,
    profile_table,
    segment_traits,
    top_categories,
    trait_phrases,
)


def test_traits_are_the_strongest_deviations_in_words():
    profile = pd.DataFrame(
        {"feature": ["mean_rating", "mean_review_words", "review_count"], "z": [-1.2, 0.6, 0.1]}
    )
    assert trait_phrases(profile) == ["critics", "storytellers"]


def assigned(spark):
    rows = []
    for i, (segment, rating) in enumerate([(1, 5.0), (1, 4.0), (2, 1.0), (2, 2.0)]):
        values = dict.fromkeys((*PROFILE_BEHAVIOUR, *GRAPH_COLUMNS), 1.0)
        rows.append({**values, "user_key": f"u{i}", "segment_id": segment, "mean_rating": rating})
    return spark.createDataFrame(rows)


def test_profiles_compare_each_segment_with_everyone(spark):
    profile = profile_table(assigned(spark))
    rating = profile[profile.feature == "mean_rating"].set_index("segment_id")
    # population: mean 3, standard deviation sqrt(2.5) (population formula)
    assert rating.loc[1, "segment_value"] == 4.5 and rating.loc[1, "population_value"] == 3.0
    assert rating.loc[1, "lift"] == pytest.approx(1.5)
    assert rating.loc[1, "z"] == pytest.approx(1.5 / 2.5**0.5)
    assert rating.loc[2, "z"] == pytest.approx(-1.5 / 2.5**0.5)
    # a feature equal for everyone: lift 1, z 0
    assert set(profile[profile.feature == "review_count"]["z"]) == {0.0}
    assert set(profile.facet) == {"behaviour", "graph"}
    assert segment_traits(profile) == {1: ["enthusiasts"], 2: ["critics"]}


def test_category_mix_shares_add_up_and_name_the_top_category(spark):
    reviews = spark.createDataFrame(
        [("u0", "books"), ("u0", "books"), ("u1", "music"), ("u2", "music"), ("u3", "music")],
        "user_key string, category string",
    )
    memberships = spark.createDataFrame(
        [("u0", 1), ("u1", 1), ("u2", 2), ("u3", 2)], "user_key string, segment_id int"
    )
    mix = category_mix(reviews, memberships)
    assert mix.groupby("segment_id").segment_value.sum().round(12).eq(1).all()
    books = mix[(mix.segment_id == 1) & (mix.feature == "books")].iloc[0]
    assert books.segment_value == pytest.approx(2 / 3) and books.population_value == pytest.approx(
        2 / 5
    )
    assert books.lift == pytest.approx((2 / 3) / (2 / 5))
    assert top_categories(mix) == {1: ("books", pytest.approx(2 / 3)), 2: ("music", 1.0)}
