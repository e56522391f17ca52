"""ALS (implicit feedback) on hand-made communities: the lists follow the community,
never show a seen item, do not follow row order or partitions, and the search keeps
the best validation NDCG."""

from __future__ import annotations

import pytest

from ml.als import AlsParams, als_top_n, choose_als, fit_factors, integer_ids
from ml.baselines import validation_split
from tests.unit.ml.test_recommend import PAIRS, lists

SMALL = AlsParams(rank=2, reg_param=0.01, alpha=10.0)


@pytest.fixture
def seen(frame):
    """Two communities: a, b, c review x, y, z; d, e, f review p, q, r; a has not
    reviewed z, d has not reviewed r."""
    rows = [(u, i) for u in "bc" for i in "xyz"] + [(u, i) for u in "ef" for i in "pqr"]
    return frame([*rows, ("a", "x"), ("a", "y"), ("d", "p"), ("d", "q")], PAIRS)


def test_ids_number_the_values_in_their_order(frame):
    values = frame([("b", "y"), ("a", "y"), ("c", "x"), ("a", "x")], PAIRS)
    found = {r["user_key"]: r["user_key_index"] for r in integer_ids(values, "user_key").collect()}
    assert found == {"a": 0, "b": 1, "c": 2}


def test_a_user_gets_their_communitys_unseen_item_first_whatever_the_row_order(seen):
    users = seen.select("user_key").distinct()
    found = als_top_n(seen, users, SMALL, n=3, seed=1)
    first = lists(found)
    assert first["a"][0] == "z" and first["d"][0] == "r"
    assert not {"x", "y"} & set(first["a"]) and not {"p", "q"} & set(first["d"])
    assert all(len(items) == 3 for items in first.values())
    # the same lists and scores from rows in another order and other partitions
    shuffled = seen.orderBy("item_id", "user_key").repartition(3)
    again = als_top_n(shuffled, users.repartition(2), SMALL, n=3, seed=1).collect()
    assert sorted(map(tuple, again)) == sorted(map(tuple, found.collect()))


def test_the_search_keeps_the_best_validation_ndcg_and_the_earlier_of_a_tie(reviews):
    """Each user's latest item is held out for validation: a's z and d's r, which the
    community predicts; b, c, e and f have one item each later than the rest."""
    rows = [(u, i, "01") for u in "bc" for i in "xyz"] + [(u, i, "01") for u in "ef" for i in "pqr"]
    rows += [("a", "x", "01"), ("a", "y", "01"), ("a", "z", "09")]
    rows += [("d", "p", "01"), ("d", "q", "01"), ("d", "r", "09")]
    train = reviews([(u, i, 5, f"2020-01-{day}") for u, i, day in rows])
    weak = AlsParams(rank=1, reg_param=1000.0, alpha=0.0)  # all factors ~0: scores tie
    twin = AlsParams(rank=2, reg_param=0.01, alpha=10.0001)  # SMALL's lists
    chosen, scores = choose_als(*validation_split(train), n=1, seed=1, grid=(weak, SMALL, twin))
    assert set(scores) == {weak.label(), SMALL.label(), twin.label()}
    assert scores[SMALL.label()] == scores[twin.label()] > scores[weak.label()]
    assert chosen == SMALL


def test_a_fit_without_a_checkpoint_directory_is_refused_before_it_starts():
    """Without one, ALS's lineage overflowed the stack and took the local JVM down."""
    from types import SimpleNamespace

    context = SimpleNamespace(getCheckpointDir=lambda: None)
    observations = SimpleNamespace(sparkSession=SimpleNamespace(sparkContext=context))
    with pytest.raises(ValueError, match="checkpoint directory"):
        fit_factors(observations, SMALL, seed=1)
