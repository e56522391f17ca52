"""Readable, distinct segment names from the profile: category, trait and terms."""

from __future__ import annotations

import pandas as pd

# Readable labels of the review categories (dbt var review_categories).
CATEGORY_LABELS = {
    "all_beauty": "Beauty",
    "amazon_fashion": "Fashion",
    "appliances": "Appliance",
    "gift_cards": "Gift card",
    "magazine_subscriptions": "Magazine",
    "musical_instruments": "Musician",
}
# Widening steps when names collide: (terms, traits) per name.
WIDER = ((3, 1), (3, 2), (4, 2))


def segment_name(
    category: tuple[str, float],
    traits: list[str],
    terms: list[str],
    n_terms: int = 2,
    n_traits: int = 1,
) -> str:
    """'<category> <trait> · <term>, <term>'; a segment whose top category has under
    half its reviews is 'Cross-category', one without traits 'shoppers'."""
    label, share = category
    who = CATEGORY_LABELS.get(label, label.replace("_", " ").capitalize())
    who = who if share >= 0.5 else "Cross-category"
    trait = " ".join(traits[:n_traits]) if traits else "shoppers"
    if n_traits > 1 and len(traits) > 1:
        trait = f"{traits[0]} and {' '.join(traits[1:n_traits])}"
    words = ", ".join(terms[:n_terms])
    return f"{who} {trait}" + (f" · {words}" if words else "")


def segment_names(
    categories: dict[int, tuple[str, float]],
    traits: dict[int, list[str]],
    terms: dict[int, list[str]],
) -> dict[int, str]:
    """Distinct names for every segment of ``categories`` (segment -> (top category,
    its share of the segment's reviews)). Names that would collide take one more term,
    then one more trait, then the id."""

    def name(segment: int, n_terms: int = 2, n_traits: int = 1) -> str:
        return segment_name(
            categories[segment], traits.get(segment, []), terms.get(segment, []), n_terms, n_traits
        )

    names = {s: name(s) for s in categories}
    for n_terms, n_traits in WIDER:
        clashes = clashing(names)
        if not clashes:
            return names
        names.update({s: name(s, n_terms, n_traits) for s in clashes})
    for segment in clashing(names):
        names[segment] = f"{names[segment]} (#{segment})"
    return names


def clashing(names: dict[int, str]) -> list[int]:
    seen = pd.Series(names)
    return sorted(seen[seen.duplicated(keep=False)].index)
