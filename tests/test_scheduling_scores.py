"""Known answers for the score-based schedulers: uniform, task need, performance gain, hybrid."""

from __future__ import annotations

import numpy as np
import pytest

from mtdagger.scheduling import TaskFeedback, make_scheduler, scheduler_config

TASKS = ["a", "b", "c"]


def _column(scheduler, key):
    return np.array([scheduler.diagnostics()[t][key] for t in scheduler.tasks])


def test_uniform_rotates_the_extra_episodes_so_equal_tasks_get_equal_totals():
    tasks = ["t0", "t1", "t2", "t3", "t4"]
    scheduler = make_scheduler(tasks, scheduler_config("uniform"))
    totals = dict.fromkeys(tasks, 0)
    firsts = []
    for _ in range(5):
        counts = scheduler.allocate(11)  # 2 each + 1 extra per round
        assert sorted(counts.values()) == [2, 2, 2, 2, 3]
        firsts.append(max(counts, key=counts.get))
        totals = {t: totals[t] + counts[t] for t in tasks}
        scheduler.update({t: TaskFeedback(counts[t], 0) for t in tasks})
    assert firsts == tasks
    assert set(totals.values()) == {11}


def test_task_need_gives_most_to_the_least_successful_task():
    scheduler = make_scheduler(TASKS, scheduler_config("task_need", min_per_task=1))
    scheduler.update({"a": TaskFeedback(10, 9), "b": TaskFeedback(10, 1), "c": TaskFeedback(10, 5)})
    counts = scheduler.allocate(20)
    assert counts["b"] > counts["c"] > counts["a"] >= 1
    np.testing.assert_allclose(_column(scheduler, "score"), 1.0 - _column(scheduler, "estimate"))
    np.testing.assert_allclose(_column(scheduler, "rank"), [0.0, 1.0, 0.5])


def test_task_need_temperature_extremes():
    feedback = {"a": TaskFeedback(10, 9), "b": TaskFeedback(10, 1), "c": TaskFeedback(10, 5)}
    cold = make_scheduler(TASKS, scheduler_config("task_need", temperature=1e-3, min_per_task=2))
    hot = make_scheduler(TASKS, scheduler_config("task_need", temperature=1e3, min_per_task=2))
    cold.update(feedback)
    hot.update(feedback)
    assert cold.allocate(30) == {"a": 2, "b": 26, "c": 2}  # all beyond the floors to the neediest
    assert sorted(hot.allocate(30).values()) == [10, 10, 10]


def test_task_need_ablation_follows_the_last_round_while_the_filter_remembers():
    history = [{"a": TaskFeedback(20, 0), "b": TaskFeedback(20, 10)}] * 3
    history.append({"a": TaskFeedback(2, 2), "b": TaskFeedback(20, 10)})  # a lucky 2/2 for task a
    filtered = make_scheduler(["a", "b"], scheduler_config("task_need"))
    raw = make_scheduler(["a", "b"], scheduler_config("task_need", kalman=False))
    for feedback in history:
        filtered.update(feedback)
        raw.update(feedback)
    assert raw.diagnostics()["a"]["estimate"] == 1.0
    assert filtered.diagnostics()["a"]["estimate"] < 0.5
    assert raw.allocate(10)["b"] > raw.allocate(10)["a"]
    assert filtered.allocate(10)["a"] > filtered.allocate(10)["b"]


def test_task_need_task_without_rollouts_keeps_estimate_and_grows_variance():
    scheduler = make_scheduler(TASKS, scheduler_config("task_need", process_noise=0.02))
    scheduler.update({t: TaskFeedback(10, 3) for t in TASKS})
    before = scheduler.diagnostics()["c"]
    scheduler.update({"a": TaskFeedback(10, 9), "b": TaskFeedback(10, 1)})  # c missing = no rollouts
    after = scheduler.diagnostics()["c"]
    assert after["estimate"] == before["estimate"]
    assert after["variance"] == pytest.approx(before["variance"] + 0.02)
    assert after["rollouts_total"] == 10


def test_perf_gain_prioritises_the_largest_loss_drop_and_keeps_the_last_known_gain():
    scheduler = make_scheduler(TASKS, scheduler_config("perf_gain", min_per_task=1))
    scheduler.update(
        {
            "a": TaskFeedback(5, 1, loss_before=1.0, loss_after=0.95),
            "b": TaskFeedback(5, 1, loss_before=0.8, loss_after=0.3),
            "c": TaskFeedback(5, 1, loss_before=0.5, loss_after=0.7),  # got worse: gain clipped to 0
        }
    )
    np.testing.assert_allclose(_column(scheduler, "score"), [0.05, 0.5, 0.0])
    counts = scheduler.allocate(20)
    assert counts["b"] > counts["a"] > counts["c"] >= 1
    scheduler.update({"a": TaskFeedback(5, 1), "c": TaskFeedback(2, 0, 0.7, 0.6)})  # b: no report
    np.testing.assert_allclose(_column(scheduler, "score"), [0.05, 0.5, 0.1])
    np.testing.assert_array_equal(_column(scheduler, "loss_reports"), [1, 1, 2])


def test_perf_gain_is_invariant_to_rescaling_the_loss():
    def run(scale):
        scheduler = make_scheduler(TASKS, scheduler_config("perf_gain"))
        drops = {"a": 0.01, "b": 0.3, "c": 0.07}
        scheduler.update({t: TaskFeedback(4, 2, scale * 1.0, scale * (1.0 - d)) for t, d in drops.items()})
        return scheduler.allocate(25)

    assert run(1.0) == run(1000.0)


def _hybrid_pair(weight):
    """Task a: low success, flat loss. Task b: high success, big loss drop. Task c: in between."""
    feedback = {
        "a": TaskFeedback(10, 1, 1.0, 0.99),
        "b": TaskFeedback(10, 9, 1.0, 0.4),
        "c": TaskFeedback(10, 5, 1.0, 0.8),
    }
    schedulers = {
        name: make_scheduler(TASKS, scheduler_config(name, **extra))
        for name, extra in (("hybrid", {"need_weight": weight}), ("task_need", {}), ("perf_gain", {}))
    }
    for scheduler in schedulers.values():
        scheduler.update(feedback)
    return schedulers


def test_hybrid_endpoints_equal_task_need_and_perf_gain():
    at_one = _hybrid_pair(1.0)
    np.testing.assert_array_equal(_column(at_one["hybrid"], "weight"), _column(at_one["task_need"], "weight"))
    assert at_one["hybrid"].allocate(19) == at_one["task_need"].allocate(19)
    at_zero = _hybrid_pair(0.0)
    np.testing.assert_array_equal(
        _column(at_zero["hybrid"], "weight"), _column(at_zero["perf_gain"], "weight")
    )
    assert at_zero["hybrid"].allocate(19) == at_zero["perf_gain"].allocate(19)
    assert at_one["hybrid"].allocate(19) != at_zero["hybrid"].allocate(19)  # the two signals disagree here


def test_hybrid_interpolates_the_two_ranks():
    mid = _hybrid_pair(0.25)["hybrid"]
    need, gain, mixed = _column(mid, "need_rank"), _column(mid, "gain_rank"), _column(mid, "rank")
    np.testing.assert_allclose(mixed, 0.25 * need + 0.75 * gain)
    np.testing.assert_allclose(need, [1.0, 0.0, 0.5])
    np.testing.assert_allclose(gain, [0.0, 1.0, 0.5])
    weight_a = [_column(_hybrid_pair(w)["hybrid"], "weight")[0] for w in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert np.all(np.diff(weight_a) > 0)  # more task-need weight, more for the failing task a
