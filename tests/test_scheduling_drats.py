"""DRATS-style mirror ascent on task weights with a per-task floor (drats.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtdagger.scheduling import TaskFeedback, make_scheduler, scheduler_config
from mtdagger.scheduling.drats import kl_project_with_floor, mirror_ascent_step

TASKS = ["easy", "medium", "hard"]


def _weights(scheduler):
    return np.array([scheduler.diagnostics()[t]["weight"] for t in scheduler.tasks])


def test_projection_clamps_iteratively_and_rescales_the_rest_proportionally():
    projected = kl_project_with_floor(np.array([0.9, 0.09, 0.01]), 0.05)
    np.testing.assert_allclose(projected, [0.95 * 0.9 / 0.99, 0.95 * 0.09 / 0.99, 0.05])
    # first pass clamps only the last task; rescaling then pushes the middle one under: second pass
    np.testing.assert_allclose(kl_project_with_floor(np.array([0.7, 0.22, 0.08]), 0.2), [0.6, 0.2, 0.2])
    np.testing.assert_allclose(kl_project_with_floor(np.array([0.5, 0.3, 0.2]), 0.1), [0.5, 0.3, 0.2])
    with pytest.raises(ValueError, match="infeasible"):
        kl_project_with_floor(np.ones(3), 0.5)


def test_one_step_matches_the_formula():
    q, gaps, prior = np.array([0.5, 0.3, 0.2]), np.array([0.1, 0.5, 0.9]), np.full(3, 1 / 3)
    eta, step = 8.0, 0.5
    alpha = step / eta
    expected = np.exp((1 - alpha) * np.log(q) + alpha * np.log(prior) + step * gaps)
    np.testing.assert_allclose(
        mirror_ascent_step(q, gaps, prior, eta, step, floor=0.0), expected / expected.sum()
    )


def test_weights_move_toward_the_largest_gap_and_converge_to_the_tilted_prior():
    config = scheduler_config("drats", eta=2.0, step=0.5, min_prob=0.0)
    scheduler = make_scheduler(TASKS, config)
    feedback = {"easy": TaskFeedback(10, 9), "medium": TaskFeedback(10, 5), "hard": TaskFeedback(10, 1)}
    scheduler.update(feedback)
    q1 = _weights(scheduler)
    assert q1[2] > q1[1] > q1[0]
    for _ in range(200):
        scheduler.update(feedback)
    gaps = np.array([0.1, 0.5, 0.9])
    fixed_point = np.exp(2.0 * gaps) / np.exp(2.0 * gaps).sum()  # q* ∝ p0 · exp(η g)
    np.testing.assert_allclose(_weights(scheduler), fixed_point, rtol=1e-6)
    counts = scheduler.allocate(30)
    assert counts["hard"] > counts["medium"] > counts["easy"]


def test_floor_holds_even_when_one_task_dominates():
    config = scheduler_config("drats", min_prob=0.1, eta=20.0, step=20.0)
    scheduler = make_scheduler(TASKS, config)
    solved, failed = TaskFeedback(50, 50), TaskFeedback(50, 0)
    for _ in range(3):  # α = 1: q = p0·exp(20·g) ∝ (1, 1, e^20) before the floor
        scheduler.update({"easy": solved, "medium": solved, "hard": failed})
        np.testing.assert_allclose(_weights(scheduler), [0.1, 0.1, 0.8])
    assert scheduler.allocate(10) == {"easy": 2, "medium": 2, "hard": 6}  # 1 each (floor) + 7 by q
    no_count_floor = make_scheduler(TASKS, dataclasses.replace(config, min_per_task=0))
    no_count_floor.load_state_dict(scheduler.state_dict())
    assert no_count_floor.allocate(10) == {"easy": 1, "medium": 1, "hard": 8}  # 10 by q alone


@settings(max_examples=60, deadline=None)
@given(
    rounds=st.lists(
        st.lists(st.tuples(st.integers(0, 20), st.floats(0, 1)), min_size=3, max_size=3), max_size=12
    ),
    floor=st.sampled_from([0.0, 0.025, 0.2, 1 / 3]),
)
def test_weights_stay_a_distribution_above_the_floor(rounds, floor):
    scheduler = make_scheduler(TASKS, scheduler_config("drats", min_prob=floor))
    for round_ in rounds:
        scheduler.update({t: TaskFeedback(n, int(n * r)) for t, (n, r) in zip(TASKS, round_)})
        q = _weights(scheduler)
        assert q.sum() == pytest.approx(1.0)
        assert q.min() >= floor - 1e-12


def test_targets_define_the_gap_and_unmeasured_tasks_keep_their_last_rate():
    config = scheduler_config("drats", targets={"easy": 0.5})
    scheduler = make_scheduler(TASKS, config)
    scheduler.update(
        {"easy": TaskFeedback(10, 5), "medium": TaskFeedback(10, 5), "hard": TaskFeedback(10, 5)}
    )
    diag = scheduler.diagnostics()
    assert diag["easy"]["score"] == pytest.approx(0.0)  # at its own target
    assert diag["medium"]["score"] == pytest.approx(0.5)
    assert diag["easy"]["weight"] < diag["medium"]["weight"] == pytest.approx(diag["hard"]["weight"])
    scheduler.update({"easy": TaskFeedback(10, 5), "medium": TaskFeedback(10, 10)})  # hard: no rollouts
    assert scheduler.diagnostics()["hard"]["estimate"] == 0.5
    assert scheduler.diagnostics()["hard"]["weight"] > scheduler.diagnostics()["medium"]["weight"]


def test_bad_drats_settings_are_named():
    with pytest.raises(ValueError, match="min_prob"):
        make_scheduler([f"t{i}" for i in range(50)], scheduler_config("drats", min_prob=0.025))
    with pytest.raises(ValueError, match="unknown task"):
        make_scheduler(TASKS, scheduler_config("drats", targets={"fly": 0.5}))
    scheduler = make_scheduler(TASKS, scheduler_config("drats"))
    state = scheduler.state_dict()
    state["q"] = [0.9, 0.09, 0.01]
    with pytest.raises(ValueError, match="'q'"):
        scheduler.load_state_dict(state)
