"""AMF: information-gain allocation in the student's feature space (mtdagger/scheduling/amf.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtdagger.scheduling import StudentEmbeddings, TaskFeedback, make_scheduler, scheduler_config

TASKS = ["covered", "new-a", "new-b"]


def _amf(embeddings: StudentEmbeddings, tasks=TASKS, **config):
    scheduler = make_scheduler(tasks, scheduler_config("amf", **config))
    scheduler.observe_embeddings(embeddings)
    scheduler.update({t: TaskFeedback(2, 1) for t in tasks})
    return scheduler


def _axis_embeddings(covered_weight: float = 1000.0) -> StudentEmbeddings:
    """Each task visits states along its own feature axis; the training data covers axis 0 only."""
    rng = np.random.default_rng(0)
    visited = {}
    for i, task in enumerate(TASKS):
        rows = np.zeros((20, 4))
        rows[:, i] = 1.0 + 0.1 * rng.random(20)
        visited[task] = rows
    gram = np.zeros((4, 4))
    gram[0, 0] = covered_weight
    return StudentEmbeddings(visited, {t: 50.0 for t in TASKS}, gram)


def test_a_task_whose_states_the_data_already_covers_gets_fewer_episodes():
    counts = _amf(_axis_embeddings()).allocate(11)
    assert sum(counts.values()) == 11
    assert counts["covered"] == 1  # the floor, nothing more
    assert counts["covered"] < min(counts["new-a"], counts["new-b"])
    assert abs(counts["new-a"] - counts["new-b"]) <= 1  # diminishing returns: greedy alternates


def test_without_coverage_every_task_is_alike_and_the_split_is_even():
    counts = _amf(_axis_embeddings(covered_weight=0.0)).allocate(12)
    assert sorted(counts.values()) == [4, 4, 4]


@pytest.mark.parametrize("budget,floor", [(0, 1), (2, 1), (3, 1), (17, 2), (40, 0), (5, 3)])
def test_counts_sum_to_the_budget_and_respect_the_floor(budget, floor):
    rng = np.random.default_rng(budget + floor)
    emb = StudentEmbeddings(
        {t: rng.normal(size=(30, 6)) for t in TASKS}, {t: 40.0 for t in TASKS}, 5.0 * np.eye(6)
    )
    counts = _amf(emb, min_per_task=floor).allocate(budget)
    assert sum(counts.values()) == budget
    assert min(counts.values()) >= min(floor, budget // len(TASKS))


def test_gains_match_the_linear_gaussian_model_computed_in_weight_space():
    """The kernel-space conditioning equals the direct posterior over θ (module doc)."""
    rng = np.random.default_rng(3)
    d, sigma2, lam = 5, 0.7, 2.0
    visited = {t: rng.normal(size=(6, d)) for t in TASKS}
    steps = {"covered": 30.0, "new-a": 60.0, "new-b": 12.0}
    gram = rng.normal(size=(40, d)).T @ rng.normal(size=(40, d))
    gram = gram @ gram.T / 40
    scheduler = _amf(
        StudentEmbeddings(visited, steps, gram), label_noise=sigma2, prior_precision=lam, samples_per_task=6
    )
    precision = lam * np.eye(d) + gram / sigma2
    targets = np.concatenate([visited[t] for t in TASKS])
    weights = np.full(len(targets), 1.0 / len(targets))  # equal sample counts: uniform over states

    def variances(p):
        return np.einsum("ij,jk,ik->i", targets, np.linalg.inv(p), targets)

    expected = []
    for t in TASKS:
        after = precision + steps[t] / 6 * visited[t].T @ visited[t] / sigma2
        ratio = (sigma2 + variances(precision)) / (sigma2 + variances(after))
        expected.append(0.5 * weights @ np.log(ratio))
    got = [scheduler.diagnostics()[t]["score"] for t in TASKS]
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_before_any_embeddings_amf_splits_uniformly_and_ignores_success():
    scheduler = make_scheduler(TASKS, scheduler_config("amf"))
    scheduler.update({"covered": TaskFeedback(5, 0), "new-a": TaskFeedback(5, 5)})
    assert sorted(scheduler.allocate(9).values()) == [3, 3, 3]


def test_resumed_scheduler_allocates_as_the_original():
    scheduler = _amf(_axis_embeddings(covered_weight=3.0))
    state = json.loads(json.dumps(scheduler.state_dict()))
    fresh = make_scheduler(TASKS, scheduler_config("amf"))
    fresh.load_state_dict(state)
    for budget in (4, 9, 23):
        assert fresh.allocate(budget) == scheduler.allocate(budget)


def test_bad_embeddings_are_refused_with_the_field_named():
    scheduler = make_scheduler(TASKS, scheduler_config("amf"))
    with pytest.raises(ValueError, match="unknown task"):
        scheduler.observe_embeddings(StudentEmbeddings({"nope": np.zeros((2, 3))}, {}, np.eye(3)))
    with pytest.raises(ValueError, match=r"visited\['new-a'\]"):
        scheduler.observe_embeddings(StudentEmbeddings({"new-a": np.zeros((2, 4))}, {}, np.eye(3)))
    with pytest.raises(ValueError, match="label_noise"):
        scheduler_config("amf", label_noise=0.0)
