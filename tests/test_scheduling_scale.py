"""The O(N) allocation paths give exactly the counts of the straightforward reference ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtdagger.bench.schedulers_scale import VARIANTS, measure
from mtdagger.scheduling import make_scheduler, scheduler_config
from mtdagger.scheduling.allocation import average_ranks, largest_remainder


def reference_average_ranks(scores: np.ndarray) -> np.ndarray:
    """The pre-vectorisation implementation: stable sort, group bounds via np.r_."""
    values = np.asarray(scores, dtype=np.float64)
    n = values.size
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts_group = np.r_[True, ordered[1:] != ordered[:-1]]
    group_of_sorted = np.cumsum(starts_group) - 1
    bounds = np.r_[np.flatnonzero(starts_group), n]
    group_mean_rank = (bounds[:-1] + bounds[1:] - 1) / 2.0 + 1.0
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = group_mean_rank[group_of_sorted]
    return ranks


def reference_largest_remainder(weights, total, priority) -> np.ndarray:
    """The pre-vectorisation implementation: full lexsort by (fraction desc, priority asc)."""
    w = np.asarray(weights, dtype=np.float64)
    quotas = w / w.sum() * total
    counts = np.floor(quotas).astype(np.int64)
    left = int(np.clip(total - counts.sum(), 0, w.size))
    fractions = np.round(quotas - counts, 9)
    counts[np.lexsort((priority, -fractions))[:left]] += 1
    return counts


# Few distinct values, so ties (the hard case) are common.
tied_floats = st.lists(st.sampled_from([0.0, 0.1, 0.25, 1.0 / 3.0, 0.5, 2.0]), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(values=tied_floats)
def test_ranks_equal_the_reference(values):
    np.testing.assert_array_equal(average_ranks(np.array(values)), reference_average_ranks(np.array(values)))


@settings(max_examples=200, deadline=None)
@given(
    weights=tied_floats.filter(lambda w: sum(w) > 0),
    total=st.integers(0, 200),
    rotation=st.integers(0, 50),
    arbitrary=st.booleans(),
    data=st.data(),
)
def test_largest_remainder_equals_the_reference(weights, total, rotation, arbitrary, data):
    n = len(weights)
    if arbitrary:  # any priorities, duplicates included
        priority = np.array(data.draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n)))
    else:  # what the schedulers pass: a rotation of 0..N-1
        priority = (np.arange(n) - rotation) % n
    got = largest_remainder(np.array(weights), total, priority)
    np.testing.assert_array_equal(got, reference_largest_remainder(weights, total, priority))


@pytest.mark.parametrize("label", sorted(VARIANTS))
def test_array_and_dict_apis_allocate_the_same_counts_round_after_round(label):
    assert measure(label, num_tasks=37, repeats=6, seed=1)["same"]


def test_update_arrays_refuses_bad_vectors_naming_the_field():
    scheduler = make_scheduler(["a", "b"], scheduler_config("task_need"))
    with pytest.raises(ValueError, match="rollouts must be 2 integers"):
        scheduler.update_arrays(np.array([1.0, 2.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="successes <= rollouts"):
        scheduler.update_arrays([1, 2], np.array([2, 1]))
    with pytest.raises(ValueError, match="both losses"):
        scheduler.update_arrays([1, 2], np.array([0, 1]), np.array([1.0, np.nan]), np.array([1.0, 1.0]))
    assert scheduler.rounds == 0  # nothing half-applied
