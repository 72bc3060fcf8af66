"""What one round of the DAgger algorithm hands its collector and its scheduler.

`MultitaskDAgger.run_round` runs for real (allocation, split, normalisation, held-out losses,
feedback) with the collector, aggregate, publisher and success signal replaced by recording
stand-ins and BC fitting stubbed, so no MuJoCo is needed and every number the collector and the
scheduler receive is known exactly.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from mtdagger.data.episode import Episode
from mtdagger.data.normalization import NormalizationStats
from mtdagger.training import success_signal as signal_module
from mtdagger.training.algorithm import MultitaskDAgger, PublishedStudent
from mtdagger.training.bc import BCTrainer, FitResult
from mtdagger.training.collection import episode_seed
from mtdagger.training.config import config_from_dict
from mtdagger.training.success_signal import (
    EVAL_SEED_OFFSET,
    MAX_ROUNDS,
    BetaZeroEvaluation,
    SuccessMeasurement,
)

TASKS = ["task-0", "task-1"]
P = 5


def _episode(task_index: int, seed: int, action_scale: float, success: bool, steps: int = 12) -> Episode:
    rng = np.random.default_rng(seed)
    return Episode(
        task_name=TASKS[task_index],
        task_index=task_index,
        seed=seed,
        beta=0.5,
        states=rng.normal(size=(steps, 4)).astype(np.float32),
        privileged=rng.normal(size=(steps, P)).astype(np.float32),
        actions=rng.normal(size=(steps, 4)).astype(np.float32),
        expert_actions=(rng.normal(size=(steps, 4)) * action_scale).astype(np.float32),
        actor_is_expert=np.zeros(steps, dtype=bool),
        success_per_step=np.full(steps, success),
    )


class RawConstant(nn.Module):
    """Predicts one fixed action in RAW units, whatever normalisation it was built under.

    Shaped like a state student (its config declares the batch keys it reads)."""

    config = SimpleNamespace(input_keys=lambda: ("privileged", "task_index"))

    def __init__(self, raw: np.ndarray, stats: NormalizationStats) -> None:
        super().__init__()
        self.register_buffer("out", torch.as_tensor(stats.normalize("action", raw[None]))[0])
        self.unused = nn.Parameter(torch.zeros(0))  # where the trainer finds the model's device

    def forward(self, privileged: torch.Tensor, task_index: torch.Tensor) -> torch.Tensor:
        return self.out.expand(len(privileged), -1)


class RecordingScheduler:
    wants_embeddings = False

    def __init__(self, allocation: dict[str, int] | None = None) -> None:
        self.allocation = allocation
        self.feedback = []

    def allocate(self, budget: int) -> dict[str, int]:
        return dict(self.allocation) if self.allocation else {t: budget // len(TASKS) for t in TASKS}

    def update(self, feedback) -> None:
        self.feedback.append(feedback)

    def diagnostics(self) -> dict:
        return {}


class RecordingCollector:
    def __init__(self, collected: dict[str, list[Episode]]) -> None:
        self.collected = collected
        self.calls = []

    def collect(self, round_index, allocation, beta, student):
        self.calls.append((round_index, dict(allocation), beta, student))
        return self.collected


class FixedAggregate:
    def __init__(self, train: list[Episode], heldout: list[Episode]) -> None:
        self.train, self.heldout = train, heldout

    def split(self):
        return self.train, self.heldout


class RecordingPublisher:
    def __init__(self, restorable: dict[int, PublishedStudent] | None = None) -> None:
        self.restorable = restorable or {}
        self.published = []

    def publish(self, round_index, model, stats, train_loss):
        self.published.append((round_index, train_loss))
        return f"student-{round_index}"

    def restore(self, round_index):
        return self.restorable.get(round_index)


class FixedSignal:
    def __init__(self, measurement: SuccessMeasurement) -> None:
        self.measurement = measurement
        self.students = []

    def measure(self, student, collected, *, keep_visited, round_index):
        self.students.append(student)
        return self.measurement


def _algorithm(
    *, retrain="finetune", collected=None, success=None, train=(), heldout=(), by_task=None, **parts
):
    """The algorithm on two tasks with recording stand-ins; `parts` replaces any of them.
    `by_task` is dagger.initial_episodes_by_task."""
    dagger = {"retrain": retrain, "initial_episodes_per_task": 3, "budget_per_round": 4}
    dagger["initial_episodes_by_task"] = by_task or {}
    config = config_from_dict({"student": {"architecture": "state"}, "dagger": dagger})
    trainer = BCTrainer(config.bc)
    trainer.fit = lambda model, dataset, desc="": FitResult([0.125], 0)  # the model stays as built
    success = success or {}
    defaults = {
        "scheduler": RecordingScheduler(),
        "collector": RecordingCollector(collected or {}),
        "aggregate": FixedAggregate(list(train), list(heldout)),
        "publisher": RecordingPublisher(),
        "success_signal": FixedSignal(SuccessMeasurement(success, {t: 4 for t in success})),
        "new_model": lambda: RawConstant(np.zeros(4, np.float32), algorithm.stats),
        "beta": lambda k: 1.0 if k == 0 else 0.5,
    }
    algorithm = MultitaskDAgger(
        tasks=TASKS,
        settings=config.dagger,
        seed=0,
        trainer=trainer,
        use_point_clouds=False,
        **{**defaults, **parts},
    )
    return algorithm


def test_the_collector_gets_the_schedulers_allocation_and_the_last_published_student():
    old = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (10 * i, 10 * i + 1)]
    algorithm = _algorithm(
        scheduler=RecordingScheduler({"task-0": 1, "task-1": 3}),
        train=old[::2],
        heldout=old[1::2],
        beta=lambda k: [1.0, 0.5, 1.0][k],
    )
    round_0, round_1, _ = (algorithm.run_round(k) for k in range(3))
    calls = algorithm.collector.calls
    # Round 0: the expert alone (no student yet), the preset's demonstrations for every task.
    assert calls[0] == (0, {"task-0": 3, "task-1": 3}, 1.0, None)
    # Round 1: exactly what the scheduler allocated, rolled out with round 0's student.
    assert calls[1] == (1, {"task-0": 1, "task-1": 3}, 0.5, "student-0")
    assert calls[2][2:] == (1.0, None)  # β = 1: the expert alone, no student to build
    assert (round_0.expert_episodes, round_1.expert_episodes) == (6, 4)
    assert algorithm.publisher.published == [(0, 0.125), (1, 0.125), (2, 0.125)]
    assert algorithm.success_signal.students == ["student-0", "student-1", "student-2"]  # each new one


def test_round_zero_gives_a_task_its_own_demonstration_count_and_refuses_an_unknown_task():
    """dagger.initial_episodes_by_task changes round 0 for the named task only, and the scheduler
    still splits the later rounds' budget."""
    old = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (10 * i, 10 * i + 1)]
    scheduler = RecordingScheduler({"task-0": 1, "task-1": 3})
    algorithm = _algorithm(by_task={"task-1": 7}, scheduler=scheduler, train=old[::2], heldout=old[1::2])
    algorithm.run_round(0)
    algorithm.run_round(1)
    assert algorithm.collector.calls[0] == (0, {"task-0": 3, "task-1": 7}, 1.0, None)
    assert algorithm.collector.calls[1][1] == {"task-0": 1, "task-1": 3}
    with pytest.raises(ValueError, match=r"initial_episodes_by_task: 'task-9' is not a task of this run"):
        _algorithm(by_task={"task-9": 7})


def test_scheduler_receives_the_beta0_evaluation_not_the_expert_assisted_rollouts():
    old = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (10 * i, 10 * i + 1)]
    collected = {t: [_episode(i, 100 + j, 1.0, success=True) for j in range(2)] for i, t in enumerate(TASKS)}
    algorithm = _algorithm(
        collected=collected, success={"task-0": 0.25, "task-1": 0.75}, train=old[::2], heldout=old[1::2]
    )
    algorithm.stats = NormalizationStats.from_episodes(old)
    algorithm.model = RawConstant(np.zeros(4, np.float32), algorithm.stats)
    result = algorithm.run_round(1)
    (feedback,) = algorithm.scheduler.feedback
    # β=0 success of the new student on 4 evaluation episodes, although every β-mixed rollout succeeded.
    assert (feedback["task-0"].rollouts, feedback["task-0"].successes) == (4, 1)
    assert (feedback["task-1"].rollouts, feedback["task-1"].successes) == (4, 3)
    assert result.eval_success == {"task-0": 0.25, "task-1": 0.75}
    assert result.collection_success == {"task-0": 1.0, "task-1": 1.0}  # still logged


def test_the_measured_heldout_losses_before_and_after_reach_the_scheduler():
    train = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (1, 2, 3)]
    heldout = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (4, 5)]
    algorithm = _algorithm(train=train, heldout=heldout)
    algorithm.stats = NormalizationStats.from_episodes(train)
    far = np.full(4, 5.0, np.float32)  # raw action 5: far from every label
    algorithm.model = RawConstant(far, algorithm.stats)

    def fit(model, dataset, desc=""):  # "learning": predict the mean label (0 when normalised)
        model.out.zero_()
        return FitResult([0.5], 1)

    algorithm.trainer.fit = fit
    result = algorithm.run_round(1)
    (feedback,) = algorithm.scheduler.feedback
    for task_index, task in enumerate(TASKS):
        before, after = result.heldout_loss_before[task_index], result.heldout_loss_after[task_index]
        assert after < before / 4
        assert (feedback[task].loss_before, feedback[task].loss_after) == (before, after)
    assert result.train_loss == 0.5 and result.refitted


def test_round_zero_has_no_loss_before_and_the_scheduler_gets_none():
    train = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (1, 2)]
    heldout = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (3,)]
    algorithm = _algorithm(train=train, heldout=heldout)
    result = algorithm.run_round(0)
    (feedback,) = algorithm.scheduler.feedback
    assert result.heldout_loss_before == {} and set(result.heldout_loss_after) == {0, 1}
    assert all(f.loss_before is None and f.loss_after is None and f.rollouts == 0 for f in feedback.values())


def test_a_round_whose_student_was_already_published_reloads_it_instead_of_refitting():
    train = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (1, 2)]
    stats = NormalizationStats.from_episodes(train)
    saved = PublishedStudent(RawConstant(np.ones(4, np.float32), stats), stats, 0.75, "student-1")
    algorithm = _algorithm(train=train, publisher=RecordingPublisher({1: saved}))
    algorithm.resume(PublishedStudent(RawConstant(np.zeros(4, np.float32), stats), stats, 0.5, "student-0"))

    def fit(model, dataset, desc=""):
        raise AssertionError("a published round must not be refitted")

    algorithm.trainer.fit = fit
    result = algorithm.run_round(1)
    assert algorithm.collector.calls[0][3] == "student-0"
    assert algorithm.model is saved.model and algorithm.student_factory == "student-1"
    assert algorithm.publisher.published == []  # nothing rewritten
    assert (result.train_loss, result.refitted) == (0.75, False)


def test_losses_before_and_after_a_scratch_retrain_are_in_the_same_units():
    """A student whose raw predictions do not change must show no loss change, although the
    scratch retrain recomputes the statistics from data with 10x larger actions."""
    old_train = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (1, 2)]
    heldout = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (3, 4)]
    new_train = old_train + [_episode(i, s, 10.0, False) for i in (0, 1) for s in (5, 6, 7)]
    raw = np.array([0.3, -0.2, 0.1, 0.5], np.float32)
    algorithm = _algorithm(
        retrain="scratch",
        train=new_train,
        heldout=heldout,
        new_model=lambda: RawConstant(raw, algorithm.stats),  # built after the stats are recomputed
    )
    algorithm.stats = NormalizationStats.from_episodes(old_train)
    algorithm.model = RawConstant(raw, algorithm.stats)
    algorithm.run_round(1)
    old_std = NormalizationStats.from_episodes(old_train).std["action"]
    assert not np.allclose(algorithm.stats.std["action"], old_std)
    (feedback,) = algorithm.scheduler.feedback
    for task in TASKS:
        assert feedback[task].loss_before == pytest.approx(feedback[task].loss_after, rel=1e-5)
        assert feedback[task].loss_before > 0.01


def test_amf_receives_the_students_features_of_visited_and_training_states():
    from mtdagger.policy.networks import build_student
    from mtdagger.scheduling import make_scheduler, scheduler_config

    train = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (1, 2, 3)]
    visited = {t: [_episode(i, 200 + j, 1.0, False, steps=10) for j in range(3)] for i, t in enumerate(TASKS)}
    success = {"task-0": 0.5, "task-1": 0.25}
    algorithm = _algorithm(
        train=train,
        scheduler=make_scheduler(TASKS, scheduler_config("amf", samples_per_task=8)),
        success_signal=FixedSignal(SuccessMeasurement(success, {t: 4 for t in TASKS}, visited)),
    )
    algorithm.stats = NormalizationStats.from_episodes(train)
    algorithm.model = build_student(
        "state", {"num_tasks": 2, "privileged_dim": P, "task_embed_dim": 4, "hidden": [16, 12]}
    )
    algorithm.run_round(1)
    amf = algorithm.scheduler
    assert amf.sizes.tolist() == [8, 8]  # 30 visited states per task, subsampled to samples_per_task
    assert amf.steps.tolist() == [10.0, 10.0]
    assert amf.covariance.shape == (16, 16)
    assert np.all(np.linalg.eigvalsh(amf.covariance) > -1e-9)  # a covariance
    assert sum(amf.allocate(9).values()) == 9


def test_the_default_signal_rolls_the_student_out_alone_on_fresh_seeds_every_round(monkeypatch):
    asked = []

    def collect_episodes(jobs, backend_config, student, contract, workers, engine=None):
        asked.append(([(j.task, j.seed, j.beta) for j in jobs], student))
        for job in jobs:  # task-0 succeeds on its first seed only, task-1 never
            success = job.task == "task-0" and job.seed == jobs[0].seed
            yield _episode(job.task_index, job.seed % 1000, 1.0, success)

    monkeypatch.setattr(signal_module, "collect_episodes", collect_episodes)
    signal = BetaZeroEvaluation(
        tasks=tuple(TASKS),
        episodes_per_task=2,
        run_seed=7,
        backend_config=None,
        contract=None,
        student_reads_clouds=False,
        max_steps=10,
        workers=1,
    )
    assisted = {t: [_episode(i, 1, 1.0, True)] for i, t in enumerate(TASKS)}
    first = signal.measure("student-1", assisted, keep_visited=False, round_index=0)
    signal.measure("student-2", {}, keep_visited=False, round_index=1)
    signal.measure("student-2", {}, keep_visited=False, round_index=1)  # a resumed round: the same
    (jobs_1, student_1), (jobs_2, student_2), (jobs_2_again, _) = asked
    assert (student_1, student_2) == ("student-1", "student-2")
    assert {beta for _, _, beta in jobs_1 + jobs_2} == {0.0}
    # Fresh seeds each round (the Kalman filter's independent measurements), the same on resume,
    # and none of them a training seed (collection.episode_seed of any round below MAX_ROUNDS).
    seeds_1, seeds_2 = ({seed for _, seed, _ in jobs} for jobs in (jobs_1, jobs_2))
    assert len(seeds_1) == len(seeds_2) == 4 and not seeds_1 & seeds_2 and jobs_2 == jobs_2_again
    training = {episode_seed(7, k, i, j) for k in range(MAX_ROUNDS) for i in range(2) for j in range(50)}
    assert not (seeds_1 | seeds_2) & training and all(seed >= EVAL_SEED_OFFSET for seed in seeds_1)
    with pytest.raises(ValueError, match="disjoint"):
        signal.measure("student-3", {}, keep_visited=False, round_index=MAX_ROUNDS)
    assert first.success == {"task-0": 0.5, "task-1": 0.0}  # not the assisted rollouts' 1.0
    assert first.rollouts == {"task-0": 2, "task-1": 2} and dict(first.visited) == {}
