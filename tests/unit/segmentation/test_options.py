"""What a run is asked for: weights, the smallest segment, k."""

from __future__ import annotations

import pytest

from usersegments.segmentation.options import SegmentationOptions, min_segment_users, parse_weights


def test_weights_default_to_one_and_parse_both_forms():
    assert parse_weights("") == {"behaviour": 1.0, "text": 1.0, "graph": 1.0}
    assert parse_weights('{"text": 2, "graph": 0}') == {"behaviour": 1.0, "text": 2.0, "graph": 0.0}
    assert parse_weights("behaviour=0.5") == {"behaviour": 0.5, "text": 1.0, "graph": 1.0}


@pytest.mark.parametrize(
    "bad", ['{"txt": 1}', "text=-1", '{"behaviour": 0, "text": 0, "graph": 0}']
)
def test_bad_weights_are_refused_with_the_reason(bad):
    with pytest.raises(ValueError):
        parse_weights(bad)


def test_min_segment_users_is_a_share_of_users_at_least_one():
    assert min_segment_users(0.01, 3667) == 37
    assert min_segment_users(0.01, 50) == 1
    assert min_segment_users(0.0, 10) == 1
    with pytest.raises(ValueError):
        min_segment_users(1.5, 10)


def test_options_refuse_what_cannot_run_and_list_the_candidate_k():
    assert SegmentationOptions().candidate_ks(3667) == list(range(3, 11))
    assert SegmentationOptions().candidate_ks(6) == [3, 4, 5]  # k <= users - 1
    assert SegmentationOptions(k=7).candidate_ks(3667) == [7]
    for bad in (
        {"k": 1},
        {"k": -2},
        {"k_min": 5, "k_max": 4},
        {"algorithm": "dbscan"},
        {"min_segment_share": 1.0},
    ):
        with pytest.raises(ValueError):
            SegmentationOptions(**bad)
