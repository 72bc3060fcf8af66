"""The episode side of a DAgger round: collect into the episode store, read the aggregate back.

`StoreCollector` is the algorithm's collector: it rolls out a round's allocation with β-mixing
and adds every episode to the store the moment it finishes, so a killed run loses no finished
episode. Episode seeds are a pure function of (run seed, round, task, index), so re-running a
round after a kill skips the episodes already stored and collects exactly the missing ones.

`StoreAggregate` is the algorithm's dataset: every stored episode, split per task into training
and held-out once and for all (split_by_task: an episode never moves between the two as the
data grows, DESIGN.md §5 step 4).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from rich.console import Console

from mtdagger.data.dataset import split_by_task
from mtdagger.data.episode import Episode
from mtdagger.data.store import EpisodeStore
from mtdagger.perception.contract import PointCloudContract
from mtdagger.policy.checkpoint import checkpoint_id, read_checkpoint_meta
from mtdagger.policy.student import CheckpointStudentFactory
from mtdagger.testing_hooks import pause_point
from mtdagger.training.rollout import RolloutEngine, RolloutJob, collect_episodes

# Episode seeds: disjoint ranges per round and per task (success_signal.py adds a further
# offset for evaluation episodes).
_ROUND_STRIDE = 100_000
_TASK_STRIDE = 1_000


def episode_seed(base_seed: int, round_index: int, task_index: int, j: int) -> int:
    return base_seed * 1_000_000_000 + round_index * _ROUND_STRIDE + task_index * _TASK_STRIDE + j


@dataclasses.dataclass
class StoreCollector:
    """Rolls out a round's episodes into the store, skipping those already there (resume)."""

    tasks: list[str]
    store: EpisodeStore
    run_seed: int
    backend_config: Any
    contract: PointCloudContract | None
    record_clouds: bool  # the student reads point clouds, so the data must hold them
    max_steps: int
    workers: int
    console: Console
    engine: RolloutEngine | None = None  # None: the local pool; else e.g. Ray actors (same episodes)

    def collect(
        self,
        round_index: int,
        allocation: Mapping[str, int],
        beta: float,
        student: CheckpointStudentFactory | None,
    ) -> dict[str, list[Episode]]:
        """allocation[task] episodes per task; the student acts with probability 1 - β."""
        k = round_index
        self.console.rule(f"round {k}  β={beta:.2f}  expert episodes={sum(allocation.values())}")
        jobs, collected = self._pending(k, allocation, beta)
        if collected:
            self.console.print(
                f"resume: {sum(map(len, collected.values()))} episodes of round {k} already stored"
            )
        # Provenance: which student acted (DESIGN.md §6), recorded on every episode it touched.
        student_id = None if student is None else checkpoint_id(read_checkpoint_meta(student.checkpoint_dir))
        for episode in collect_episodes(
            jobs,
            self.backend_config,
            student,
            self.contract,
            workers=self.workers,
            progress=True,
            engine=self.engine,
        ):
            if student_id is not None:
                episode = dataclasses.replace(episode, student_checkpoint_id=student_id)
            self.store.add(episode, round=k)
            collected[episode.task_name].append(episode)
            pause_point(f"rollouts:{k}:{sum(map(len, collected.values()))}")
        return collected

    def _pending(
        self, k: int, allocation: Mapping[str, int], beta: float
    ) -> tuple[list[RolloutJob], dict[str, list[Episode]]]:
        """The jobs still to run, and the episodes of this round already stored (by task)."""
        jobs, collected = [], defaultdict(list)
        for task_index, task in enumerate(self.tasks):
            for j in range(allocation.get(task, 0)):
                seed = episode_seed(self.run_seed, k, task_index, j)
                if self.store.has(k, task, seed):
                    collected[task].append(self.store.load(self.store.get(k, task, seed)))
                    continue
                jobs.append(
                    RolloutJob(
                        task=task,
                        task_index=task_index,
                        seed=seed,
                        beta=beta,
                        record_clouds=self.record_clouds,
                        max_steps=self.max_steps,
                    )
                )
        return jobs, collected


class StoreAggregate:
    """Every stored episode, split per task into training and held-out (each read from disk once)."""

    def __init__(self, store: EpisodeStore, *, holdout_fraction: float, seed: int) -> None:
        self.store = store
        self.holdout_fraction = holdout_fraction
        self.seed = seed
        self._episodes: dict[str, Episode] = {}  # episode_id -> loaded episode

    def split(self) -> tuple[list[Episode], list[Episode]]:
        records = self.store.records()
        for record in records:
            if record.episode_id not in self._episodes:
                self._episodes[record.episode_id] = self.store.load(record)
        train_records, heldout_records = split_by_task(
            records, holdout_fraction=self.holdout_fraction, seed=self.seed
        )
        return (
            [self._episodes[r.episode_id] for r in train_records],
            [self._episodes[r.episode_id] for r in heldout_records],
        )
