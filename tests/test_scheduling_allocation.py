"""Rank normalisation, temperature softmax and floor + largest-remainder rounding (allocation.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtdagger.scheduling.allocation import (
    allocate_counts,
    average_ranks,
    largest_remainder,
    rank_normalise,
    softmax_weights,
)


def _pipeline(scores, budget, floor=1, temperature=0.5):
    return allocate_counts(softmax_weights(rank_normalise(np.asarray(scores)), temperature), budget, floor)


def test_average_ranks_share_the_mean_rank_of_a_tie():
    np.testing.assert_array_equal(average_ranks(np.array([10.0, 20.0, 20.0, 5.0])), [2.0, 3.5, 3.5, 1.0])
    np.testing.assert_array_equal(average_ranks(np.array([3.0, 3.0, 3.0])), [2.0, 2.0, 2.0])


def test_rank_normalise_spans_zero_to_one_and_ties_land_in_the_middle():
    np.testing.assert_allclose(rank_normalise(np.array([0.3, -1.0, 7.0])), [0.5, 0.0, 1.0])
    np.testing.assert_allclose(rank_normalise(np.array([1.0, 1.0, 1.0, 1.0])), [0.5] * 4)
    np.testing.assert_allclose(rank_normalise(np.array([42.0])), [0.5])  # single task: documented 0.5
    np.testing.assert_allclose(rank_normalise(np.array([0.0, 1.0, 1.0])), [0.0, 0.75, 0.75])


def test_largest_remainder_known_answer_and_tie_rule():
    np.testing.assert_array_equal(largest_remainder(np.array([0.5, 0.3, 0.2]), 7), [4, 2, 1])
    equal = np.full(3, 1 / 3)
    np.testing.assert_array_equal(largest_remainder(equal, 5), [2, 2, 1])  # list order breaks ties
    np.testing.assert_array_equal(largest_remainder(equal, 5, np.array([2, 0, 1])), [1, 2, 2])


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(st.floats(0.0, 1e3), min_size=1, max_size=12).filter(lambda w: sum(w) > 0),
    budget=st.integers(0, 500),
    floor=st.integers(0, 6),
)
def test_counts_sum_to_budget_and_respect_the_floor(weights, budget, floor):
    counts = allocate_counts(np.asarray(weights), budget, floor)
    assert counts.sum() == budget
    assert counts.dtype.kind == "i"
    if budget >= floor * len(weights):
        assert counts.min() >= floor
    else:  # documented rule: the floor drops to what fits evenly
        assert counts.min() >= budget // len(weights)


@settings(max_examples=100, deadline=None)
@given(scores=st.lists(st.integers(-50, 50), min_size=2, max_size=10), budget=st.integers(0, 200))
def test_a_strictly_increasing_transform_of_the_scores_changes_nothing(scores, budget):
    x = np.asarray(scores, dtype=np.float64)
    transformed = 2.0 * x**3 + 5.0  # exact in float64 for these integers, so ties stay ties
    np.testing.assert_array_equal(_pipeline(x, budget), _pipeline(transformed, budget))


def test_large_temperature_is_uniform_and_small_temperature_feeds_the_top_task():
    scores = np.array([0.1, 0.9, 0.4, 0.2, 0.3])
    hot = softmax_weights(rank_normalise(scores), temperature=1e4)
    assert np.ptp(hot) < 1e-3
    hot_counts = allocate_counts(hot, 23, 1)
    assert np.ptp(hot_counts) <= 1 and hot_counts.sum() == 23
    cold_counts = _pipeline(scores, budget=23, floor=2, temperature=1e-3)
    np.testing.assert_array_equal(cold_counts, [2, 23 - 2 * 4, 2, 2, 2])


def test_softmax_survives_a_tiny_temperature():
    weights = softmax_weights(np.array([0.0, 0.5, 1.0]), temperature=1e-300)
    np.testing.assert_array_equal(weights, [0.0, 0.0, 1.0])


def test_budget_zero_and_budget_below_the_floors():
    np.testing.assert_array_equal(allocate_counts(np.array([0.7, 0.2, 0.1]), 0, 3), [0, 0, 0])
    counts = allocate_counts(np.full(10, 0.1), 5, floor=1)  # 5 < 1 x 10: floor lowered to 0
    assert counts.sum() == 5 and set(counts.tolist()) == {0, 1}
    counts = allocate_counts(np.array([0.97, 0.01, 0.01, 0.01]), 9, floor=3)  # floor lowered to 2
    np.testing.assert_array_equal(counts, [3, 2, 2, 2])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: allocate_counts(np.ones(3), -1, 1), "budget"),
        (lambda: allocate_counts(np.ones(3), 2.5, 1), "budget"),
        (lambda: allocate_counts(np.ones(3), True, 1), "budget"),
        (lambda: allocate_counts(np.array([1.0, np.nan]), 3, 1), "weights"),
        (lambda: allocate_counts(np.zeros(3), 3, 0), "positive sum"),
        (lambda: allocate_counts(np.ones(0), 3, 0), "zero tasks"),
        (lambda: softmax_weights(np.ones(3), 0.0), "temperature"),
        (lambda: rank_normalise(np.array([1.0, np.inf])), "finite"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
