"""Readable, distinct segment names."""

from __future__ import annotations

from usersegments.segmentation.naming import segment_names


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
