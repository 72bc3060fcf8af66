"""Multitask DAgger, the algorithm (DESIGN.md §5), readable top to bottom in `run_round`.

Round 0: the expert acts (β = 1) for `initial_episodes_per_task` episodes per task (or a task's
own count from `initial_episodes_by_task`); BC.
Round k ≥ 1:
  1. allocate: the scheduler splits this round's budget B of expert-labelled episodes across tasks;
  2. collect: each task is rolled out with β-mixing (β = schedule(k)); the task's expert labels
     every visited state, and which policy acted is recorded per step;
  3. aggregate and fit: the episodes join the aggregate, and the student is fine-tuned (or
     retrained from scratch) on every training episode so far;
  4. measure the update: each task's held-out BC loss before and after it, both in the action
     units of the statistics in force before the update, so that the two are comparable with
     `retrain: scratch` too (which recomputes the statistics); the held-out set is fixed per
     episode;
  5. measure success: the success signal (success_signal.py; by default the new student alone,
     β = 0, on evaluation seeds fresh each round) is what the scheduler receives and what metrics report;
  6. update the scheduler with that success and the losses of step 4.

This module holds only the algorithm. Everything that touches the world comes in through four
small interfaces, implemented by the runner (runner.py) and collection.py: the `Collector`
(rollouts, stored as they finish), the `EpisodeAggregate` (the dataset), the `StudentPublisher`
(checkpoints rollout workers load) and the `SuccessSignal`. It writes no files, prints nothing
and logs nothing: each round returns a `RoundResult` for the runner to record.

Determinism: each round reseeds torch (model init and batch order) from (seed, round), and a
round whose student was already published (a resumed run) reloads it instead of refitting, so a
resumed run is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from mtdagger.data.dataset import TransitionDataset
from mtdagger.data.episode import Episode
from mtdagger.data.normalization import NormalizationStats
from mtdagger.scheduling import TaskFeedback, TaskScheduler
from mtdagger.testing_hooks import pause_point
from mtdagger.training.bc import BCTrainer
from mtdagger.training.config import DaggerConfig
from mtdagger.training.embeddings import student_embeddings
from mtdagger.training.rollout import StudentFactory
from mtdagger.training.success_signal import SuccessMeasurement, SuccessSignal


class Collector(Protocol):
    """Step 2. It stores each episode the moment it finishes (a kill loses none) and skips
    those already stored, so it also does the aggregation that step 3 reads back."""

    def collect(
        self, round_index: int, allocation: Mapping[str, int], beta: float, student: StudentFactory | None
    ) -> dict[str, list[Episode]]:
        """Roll out allocation[task] episodes per task, the student acting with probability
        1 - β (None when β = 1), add each to the aggregate as it finishes; return them by task."""
        ...


class EpisodeAggregate(Protocol):
    """Step 3: the dataset, i.e. every episode collected so far, in every round."""

    def split(self) -> tuple[list[Episode], list[Episode]]:
        """Every episode so far as (training, held-out), the split fixed per episode."""
        ...


@dataclass(frozen=True)
class PublishedStudent:
    """A fitted student as the publisher gives it back on resume."""

    model: nn.Module
    stats: NormalizationStats  # the statistics the model was trained with
    train_loss: float
    factory: StudentFactory  # the recipe rollout workers build this student from


class StudentPublisher(Protocol):
    """Rollouts run in worker processes that build the student themselves (from a checkpoint),
    so each round's student is published before it is measured or collects the next round."""

    def publish(
        self, round_index: int, model: nn.Module, stats: NormalizationStats, train_loss: float
    ) -> StudentFactory:
        """Make the round's student available to rollouts; return the recipe to build it."""
        ...

    def restore(self, round_index: int) -> PublishedStudent | None:
        """The student an earlier (killed) run already published for this round, else None."""
        ...


@dataclass(frozen=True)
class RoundResult:
    """What one round did and measured; the runner turns it into a metrics entry."""

    round: int
    beta: float
    allocation: dict[str, int]
    collection_success: dict[str, float]  # β-mixed rollouts (expert-assisted): logged only
    eval_success: dict[str, float]  # the success signal's measurement: what the scheduler got
    heldout_loss_before: dict[int, float]  # task index -> loss; empty at round 0
    heldout_loss_after: dict[int, float]
    train_loss: float
    train_transitions: int
    heldout_transitions: int
    rollout_seconds: float
    train_seconds: float
    scheduler: dict[str, Any]  # the scheduler's diagnostics after its update
    refitted: bool  # False: a resumed round reloaded its already published student

    @property
    def expert_episodes(self) -> int:
        return sum(self.allocation.values())


@dataclass(frozen=True)
class _Update:
    """Steps 3-4 of a round: the fitted student's data and losses."""

    train: TransitionDataset
    heldout: TransitionDataset
    loss_before: dict[int, float]
    loss_after: dict[int, float]
    train_loss: float
    train_seconds: float
    refitted: bool


def round_seed(seed: int, round_index: int) -> int:
    """The torch seed of one round's model init and batch order (a pure function, for resume)."""
    return (seed * 1_000_003 + round_index) % 2**63


class MultitaskDAgger:
    """One object per run; `run_round(k)` for k = 0, 1, ... (after `resume` when continuing)."""

    def __init__(
        self,
        *,
        tasks: list[str],
        settings: DaggerConfig,
        seed: int,
        scheduler: TaskScheduler,
        beta: Callable[[int], float],
        trainer: BCTrainer,
        new_model: Callable[[], nn.Module],
        use_point_clouds: bool,
        collector: Collector,
        aggregate: EpisodeAggregate,
        publisher: StudentPublisher,
        success_signal: SuccessSignal,
    ) -> None:
        self.tasks, self.settings, self.seed = tasks, settings, seed
        self.round_zero = settings.round_zero_episodes(tasks)  # refuses unknown task names now
        self.scheduler, self.beta, self.trainer = scheduler, beta, trainer
        self.new_model, self.use_point_clouds = new_model, use_point_clouds
        self.collector, self.aggregate = collector, aggregate
        self.publisher, self.success_signal = publisher, success_signal
        self.model: nn.Module | None = None  # the current student
        self.stats: NormalizationStats | None = None  # the statistics self.model was trained with
        self.student_factory: StudentFactory | None = None  # how rollout workers build self.model
        torch.manual_seed(seed)

    def resume(self, student: PublishedStudent) -> None:
        """Continue after the round that published `student` (the scheduler's state is restored
        by whoever built the scheduler)."""
        self.model, self.stats, self.student_factory = student.model, student.stats, student.factory

    def run_round(self, k: int) -> RoundResult:
        """Round k, steps 1-6 of the module doc in order."""
        beta = self.beta(k)
        allocation = self._allocate(k)  # 1. allocate
        t0 = time.perf_counter()
        acting = None if beta >= 1.0 else self.student_factory  # the previous round's student
        collected = self.collector.collect(k, allocation, beta, acting)  # 2. collect (β-mixing)
        rollout_seconds = time.perf_counter() - t0
        train_episodes, heldout_episodes = self.aggregate.split()  # 3. aggregate
        update = self._fit(k, train_episodes, heldout_episodes)  # 3. fit, 4. losses before/after
        measured = self.success_signal.measure(  # 5. measure the new student's success
            self.student_factory, collected, keep_visited=self.scheduler.wants_embeddings, round_index=k
        )
        self._update_scheduler(measured, update)  # 6. update the scheduler
        return RoundResult(
            round=k,
            beta=beta,
            allocation=allocation,
            collection_success=_success_rates(collected),
            eval_success=measured.success,
            heldout_loss_before=update.loss_before,
            heldout_loss_after=update.loss_after,
            train_loss=update.train_loss,
            train_transitions=len(update.train),
            heldout_transitions=len(update.heldout),
            rollout_seconds=rollout_seconds,
            train_seconds=update.train_seconds,
            scheduler=self.scheduler.diagnostics(),
            refitted=update.refitted,
        )

    # ------------------------------------------------------------------ the steps

    def _allocate(self, k: int) -> dict[str, int]:
        if k == 0:  # no student yet: expert demonstrations only
            return dict(self.round_zero)
        return self.scheduler.allocate(self.settings.budget_per_round)

    def _fit(self, k: int, train_episodes: list[Episode], heldout_episodes: list[Episode]) -> _Update:
        """Fit the student on the aggregate and measure the held-out loss before and after; then
        publish it for rollouts. A round whose student an earlier (killed) run already published
        reloads it instead of refitting.

        Fine-tuning keeps the statistics fixed: changing them would shift the inputs and outputs
        of a model trained on the old ones (and inflate loss_before, hence the performance gain).
        """
        loss_stats = self.stats  # both losses in the action units of these (module doc, step 4)
        loss_before = {}
        if self.model is not None:
            loss_before = self._heldout_losses(self.model, self._dataset(heldout_episodes))
        # Per-round seeds: a resumed round draws the same init and batches as an uninterrupted one.
        torch.manual_seed(round_seed(self.seed, k))
        self.trainer.generator.manual_seed(round_seed(self.seed, k))
        published = self.publisher.restore(k)
        if published is not None:
            self.model, self.stats = published.model, published.stats
        elif self.model is None or self.settings.retrain == "scratch":
            self.stats = NormalizationStats.from_episodes(train_episodes)
            self.model = self.new_model()
        train, heldout = self._dataset(train_episodes), self._dataset(heldout_episodes)
        t0 = time.perf_counter()
        if published is None:
            pause_point(f"bc:{k}")  # kill tests stop here (testing_hooks.py); a no-op otherwise
            train_loss = self.trainer.fit(self.model, train, desc=f"BC round {k}").epoch_losses[-1]
        else:
            train_loss = published.train_loss
        train_seconds = time.perf_counter() - t0
        loss_after = self._heldout_losses(self.model, heldout, loss_stats)
        if published is None:
            self.student_factory = self.publisher.publish(k, self.model, self.stats, train_loss)
        else:
            self.student_factory = published.factory
        return _Update(train, heldout, loss_before, loss_after, train_loss, train_seconds, published is None)

    def _update_scheduler(self, measured: SuccessMeasurement, update: _Update) -> None:
        if self.scheduler.wants_embeddings:  # AMF: the student's features of visited and training states
            self.scheduler.observe_embeddings(
                student_embeddings(
                    self.model, self.trainer.forward, update.train, measured.visited, self._dataset
                )
            )
        self.scheduler.update(self._feedback(measured, update.loss_before, update.loss_after))

    def _feedback(
        self, measured: SuccessMeasurement, loss_before: dict[int, float], loss_after: dict[int, float]
    ) -> dict[str, TaskFeedback]:
        return task_feedback(self.tasks, measured.success, measured.rollouts, loss_before, loss_after)

    # ------------------------------------------------------------------ helpers

    def _dataset(self, episodes: list[Episode]) -> TransitionDataset:
        """Episodes as samples, normalised with the current student's statistics."""
        return TransitionDataset(episodes, use_point_clouds=self.use_point_clouds, stats=self.stats)

    def _heldout_losses(
        self, model: nn.Module, dataset: TransitionDataset, loss_stats: NormalizationStats | None = None
    ) -> dict[int, float]:
        """Per-task MSE; in the action units of `loss_stats` when given (else the dataset's own)."""
        if len(dataset) == 0:
            return {}
        scale = None
        if loss_stats is not None:  # error in model units × std_model / std_ref = error in ref units
            scale = dataset.stats.std["action"] / loss_stats.std["action"]
        return self.trainer.per_task_loss(model, dataset, len(self.tasks), action_scale=scale)


def task_feedback(
    tasks: list[str],
    success: Mapping[str, float],
    rollouts: Mapping[str, int],
    loss_before: Mapping[int, float],
    loss_after: Mapping[int, float],
) -> dict[str, TaskFeedback]:
    """What the scheduler receives, per task: the success signal's rollouts and successes (none:
    the filter only predicts) and the held-out loss before and after (none at round 0 or without
    held-out data). A function of the round's recorded numbers, so a round can be replayed into
    a scheduler (bench schedulers shares round 0 between schedulers this way)."""
    feedback = {}
    for task_index, task in enumerate(tasks):
        n = rollouts.get(task, 0)
        successes = round(success.get(task, 0.0) * n)
        before, after = loss_before.get(task_index), loss_after.get(task_index)
        if before is None or after is None:
            before = after = None
        feedback[task] = TaskFeedback(n, successes, loss_before=before, loss_after=after)
    return feedback


def _success_rates(episodes: Mapping[str, list[Episode]]) -> dict[str, float]:
    return {t: sum(e.success for e in eps) / len(eps) for t, eps in episodes.items() if eps}
