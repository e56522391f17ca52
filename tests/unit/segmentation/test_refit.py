"""The refit policy: when a run with a data interval refits, and when it places."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from usersegments.segmentation.options import DEFAULT_WEIGHTS, SegmentationOptions
from usersegments.segmentation.refit import (
    RefitPolicy,
    model_run_id,
    placement_refit_reason,
    refit_reason,
)

OPTIONS = SegmentationOptions()
AS_OF = datetime(2016, 1, 1)


def previous(**changes) -> dict:
    row = {
        "run_id": "scheduled__2015",
        "embedding_model_version": "v1",
        "algorithm": "kmeans",
        "feature_weights": json.dumps(DEFAULT_WEIGHTS),
        "k": 6,
        "seed": OPTIONS.seed,
        "refit": True,
        "model_run_id": "scheduled__2015",
        "intervals_since_refit": 0,
    }
    return {**row, **changes}


@pytest.mark.parametrize(
    ("policy", "as_of", "before", "reason"),
    [
        (RefitPolicy(force=True), AS_OF, previous(), "forced"),
        (RefitPolicy(), None, previous(), "no data interval (a manual run refits on everything)"),
        (RefitPolicy(), AS_OF, None, "first run"),
        (RefitPolicy(), AS_OF, previous(), None),
        (RefitPolicy(), AS_OF, previous(intervals_since_refit=1), None),
        (
            RefitPolicy(),
            AS_OF,
            previous(intervals_since_refit=2),
            "scheduled: 3 intervals since the last refit (every 3)",
        ),
        (
            RefitPolicy(every=1),
            AS_OF,
            previous(),
            "scheduled: 1 intervals since the last refit (every 1)",
        ),
        (RefitPolicy(), AS_OF, previous(intervals_since_refit=None), None),
    ],
)
def test_the_policy_refits_on_force_no_interval_first_run_and_schedule(
    policy, as_of, before, reason
):
    assert refit_reason(policy, OPTIONS, "v1", as_of, before) == reason


def test_changed_settings_refit_and_name_what_changed():
    changed = previous(embedding_model_version="v0", algorithm="gaussian_mixture", seed=1, k=4)
    options = SegmentationOptions(k=6, weights={**DEFAULT_WEIGHTS, "text": 2.0})
    assert (
        refit_reason(RefitPolicy(), options, "v1", AS_OF, changed)
        == "settings changed: encoder, algorithm, feature weights, k, seed"
    )
    # k chosen (0) is not a change: the model's k stands
    assert refit_reason(RefitPolicy(), OPTIONS, "v1", AS_OF, previous(k=4)) is None


def test_a_placing_run_refits_on_new_columns_small_segments_or_drift():
    policy = RefitPolicy(max_moved_share=0.3)
    sizes = {1: 50, 2: 40}
    assert placement_refit_reason(policy, [], sizes, 10, 0.3) is None
    assert placement_refit_reason(policy, [], sizes, 10, None) is None
    assert (
        placement_refit_reason(policy, ["f_share_toys"], sizes, 10, 0.0)
        == "new feature columns: f_share_toys"
    )
    assert (
        placement_refit_reason(policy, [], {1: 50, 2: 4}, 10, 0.0)
        == "segment 2 fell to 4 users (smallest allowed 10)"
    )
    assert (
        placement_refit_reason(policy, [], sizes, 10, 0.31)
        == "drift: 0.310 of the shared users moved (limit 0.3)"
    )


def test_the_model_of_a_run_is_its_own_or_the_refit_that_placed_it():
    assert model_run_id({"run_id": "a", "model_run_id": None}) == "a"
    assert model_run_id({"run_id": "b", "model_run_id": "a"}) == "a"


@pytest.mark.parametrize("settings", [{"every": 0}, {"max_moved_share": 1.5}])
def test_a_policy_out_of_range_is_refused(settings):
    with pytest.raises(ValueError):
        RefitPolicy(**settings)
