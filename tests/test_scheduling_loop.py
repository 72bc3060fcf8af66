"""What the DAgger loop hands the scheduler, checked on one round with the simulator stubbed out.

The round runs the real `DaggerLoop._run_round` (split, normalisation, held-out losses, feedback)
with collection, evaluation, checkpoints and training replaced by stand-ins, so no MuJoCo is
needed and the numbers the scheduler receives are known exactly.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from rich.console import Console
from torch import nn

from mtdagger.data.episode import Episode
from mtdagger.data.normalization import NormalizationStats
from mtdagger.training import dagger as dagger_module
from mtdagger.training.bc import BCTrainer, FitResult
from mtdagger.training.config import config_from_dict
from mtdagger.training.dagger import DaggerLoop

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
    """Predicts one fixed action in RAW units, whatever normalisation it was built under."""

    def __init__(self, raw: np.ndarray, stats: NormalizationStats) -> None:
        super().__init__()
        self.register_buffer("out", torch.as_tensor(stats.normalize("action", raw[None]))[0])

    def forward(self, privileged: torch.Tensor, task_index: torch.Tensor) -> torch.Tensor:
        return self.out.expand(len(privileged), -1)


class RecordingScheduler:
    wants_embeddings = False

    def __init__(self) -> None:
        self.feedback = []

    def allocate(self, budget: int) -> dict[str, int]:
        return {t: budget // len(TASKS) for t in TASKS}

    def update(self, feedback) -> None:
        self.feedback.append(feedback)

    def diagnostics(self) -> dict:
        return {}

    def state_dict(self) -> dict:
        return {}


def _loop(tmp_path, monkeypatch, *, retrain: str, collected, eval_success, train_eps, heldout_eps):
    config = config_from_dict(
        {
            "student": {"architecture": "state"},
            "dagger": {"retrain": retrain, "eval_episodes_per_task": 4, "budget_per_round": 4},
        }
    )
    loop = DaggerLoop.__new__(DaggerLoop)
    loop.config, loop.tasks, loop.run_id = config, TASKS, "test"
    loop.beta = lambda k: 0.5
    loop.scheduler = RecordingScheduler()
    loop.trainer = BCTrainer(config.bc, "state")
    loop.trainer.fit = lambda model, dataset, desc="": FitResult([0.0], 0)  # the model stays as built
    loop.metrics = []
    loop.console = Console(quiet=True)
    loop.run = SimpleNamespace(
        checkpoint_dir=lambda k: tmp_path / f"round-{k}",
        root=tmp_path,
        save_metrics=lambda metrics: None,
        save_state=lambda state: None,
        plots_dir=tmp_path / "plots",
    )
    loop._collect = lambda k, allocation, beta: collected
    loop._split = lambda: (train_eps, heldout_eps)
    loop._evaluate = lambda k, checkpoint: eval_success
    loop._save_checkpoint = lambda directory, k, **kwargs: None
    loop._log_round = lambda entry: None
    monkeypatch.setattr(dagger_module, "write_training_plots", lambda *a, **kw: None)
    return loop


def test_scheduler_receives_the_beta0_evaluation_not_the_expert_assisted_rollouts(tmp_path, monkeypatch):
    old = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (10 * i, 10 * i + 1)]
    collected = {t: [_episode(i, 100 + j, 1.0, success=True) for j in range(2)] for i, t in enumerate(TASKS)}
    loop = _loop(
        tmp_path,
        monkeypatch,
        retrain="finetune",
        collected=collected,
        eval_success={"task-0": 0.25, "task-1": 0.75},
        train_eps=old[::2],
        heldout_eps=old[1::2],
    )
    loop.stats = NormalizationStats.from_episodes(old)
    loop.model = RawConstant(np.zeros(4, np.float32), loop.stats)
    loop._run_round(1)
    (feedback,) = loop.scheduler.feedback
    # β=0 success of the new student on 4 evaluation episodes, although every β-mixed rollout succeeded.
    assert (feedback["task-0"].rollouts, feedback["task-0"].successes) == (4, 1)
    assert (feedback["task-1"].rollouts, feedback["task-1"].successes) == (4, 3)
    assert loop.metrics[-1]["collection_success"] == {"task-0": 1.0, "task-1": 1.0}  # still logged


def test_losses_before_and_after_a_scratch_retrain_are_in_the_same_units(tmp_path, monkeypatch):
    """A student whose raw predictions do not change must show no loss change, although the
    scratch retrain recomputes the statistics from data with 10x larger actions."""
    old_train = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (1, 2)]
    heldout = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (3, 4)]
    new_train = old_train + [_episode(i, s, 10.0, False) for i in (0, 1) for s in (5, 6, 7)]
    raw = np.array([0.3, -0.2, 0.1, 0.5], np.float32)
    loop = _loop(
        tmp_path,
        monkeypatch,
        retrain="scratch",
        collected={},
        eval_success={},
        train_eps=new_train,
        heldout_eps=heldout,
    )
    loop.stats = NormalizationStats.from_episodes(old_train)
    loop.model = RawConstant(raw, loop.stats)
    loop._new_model = lambda: RawConstant(raw, loop.stats)  # built after the stats are recomputed
    loop._run_round(1)
    old_std = NormalizationStats.from_episodes(old_train).std["action"]
    assert not np.allclose(loop.stats.std["action"], old_std)
    (feedback,) = loop.scheduler.feedback
    for task in TASKS:
        assert feedback[task].loss_before == pytest.approx(feedback[task].loss_after, rel=1e-5)
        assert feedback[task].loss_before > 0.01


def test_amf_receives_the_students_features_of_visited_and_training_states(tmp_path, monkeypatch):
    from mtdagger.policy.networks import build_student
    from mtdagger.scheduling import SchedulerConfig, make_scheduler

    train = [_episode(i, s, 1.0, False) for i in (0, 1) for s in (1, 2, 3)]
    visited = {t: [_episode(i, 200 + j, 1.0, False, steps=10) for j in range(3)] for i, t in enumerate(TASKS)}
    loop = _loop(
        tmp_path,
        monkeypatch,
        retrain="finetune",
        collected={},
        eval_success={"task-0": 0.5, "task-1": 0.25},
        train_eps=train,
        heldout_eps=[],
    )
    loop.scheduler = make_scheduler(TASKS, SchedulerConfig(name="amf", amf_samples=8))
    loop.stats = NormalizationStats.from_episodes(train)
    loop.model = build_student(
        "state", {"num_tasks": 2, "privileged_dim": P, "task_embed_dim": 4, "hidden": [16, 12]}
    )

    def evaluate(k, checkpoint):
        loop._eval_episodes = visited
        return {"task-0": 0.5, "task-1": 0.25}

    loop._evaluate = evaluate
    loop._run_round(1)
    amf = loop.scheduler
    assert amf.sizes.tolist() == [8, 8]  # 30 visited states per task, subsampled to amf_samples
    assert amf.steps.tolist() == [10.0, 10.0]
    assert amf.covariance.shape == (16, 16)
    assert np.all(np.linalg.eigvalsh(amf.covariance) > -1e-9)  # a covariance
    assert sum(amf.allocate(9).values()) == 9
