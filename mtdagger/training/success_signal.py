"""What the scheduler measures each round: one pluggable object, `SuccessSignal`.

The scheduler steers by per-task success, so WHICH success it receives (of which policy, on
which episodes) decides what it can see. That choice lives here and nowhere else:
`MultitaskDAgger` (algorithm.py) calls `measure` once per round, right after the new student has
been fitted and published, and hands the result to the scheduler; the metrics report the same
numbers (`eval_success`), so what is plotted is what was steered by.

The default, `BetaZeroEvaluation`, rolls the new student out alone (β = 0) on evaluation seeds
that are never stored (DESIGN.md §5, step 5), fresh every round (its class doc says why).
The paper's summaries describe measuring success during the β-mixed collection instead; a
signal can do that from `collected`, but the expert acts on part of those steps, which inflates
every task and hides the differences the scheduler must see (method-notes §1.6), so they are
only logged (`collection_success`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mtdagger.data.episode import Episode
from mtdagger.perception.contract import PointCloudContract
from mtdagger.training.collection import episode_seed
from mtdagger.training.rollout import RolloutEngine, RolloutJob, StudentFactory, collect_episodes

# Evaluation seeds lie far above every training round's (collection.episode_seed), so an
# evaluation episode is never a stored training episode: round k's evaluation seeds are
# EVAL_SEED_OFFSET + episode_seed(run seed, k, task, j), above training's for k < MAX_ROUNDS.
EVAL_SEED_OFFSET = 50_000_000
MAX_ROUNDS = EVAL_SEED_OFFSET // 100_000  # training round 500 would reach evaluation's seeds


@dataclass(frozen=True)
class SuccessMeasurement:
    """One round's success per task, as the scheduler receives it."""

    success: dict[str, float]  # task -> success rate; a task that was not measured is absent
    rollouts: dict[str, int]  # task -> episodes behind success[task] (the Kalman filter's n)
    # task -> the measured student's own episodes, kept only when asked (embedding schedulers
    # such as AMF read the states the student visits).
    visited: dict[str, list[Episode]] = field(default_factory=dict)


class SuccessSignal(Protocol):
    def measure(
        self,
        student: StudentFactory,
        collected: Mapping[str, Sequence[Episode]],
        *,
        keep_visited: bool,
        round_index: int,
    ) -> SuccessMeasurement:
        """Success of round `round_index`'s new `student` (a recipe rollout workers build it from).

        `collected`: this round's β-mixed collection episodes by task (expert-assisted).
        `keep_visited`: return the student's episodes in `visited` (the scheduler wants them)."""
        ...


@dataclass(frozen=True)
class BetaZeroEvaluation:
    """The default signal: `episodes_per_task` student-only episodes per task, on fresh seeds
    every round (a pure function of the run seed, round, task and index, so a resumed run
    measures the same), disjoint from every training seed. With `episodes_per_task: 0` nothing
    is measured and success-based schedulers keep their prior.

    Why fresh seeds (issue 23): the Kalman filter (scheduling/kalman.py) treats each round's
    measurement as independent binomial noise around the task's success, R = p(1 - p)/n. With
    the same seeds every round, the rounds share the same initial states: a task that fails on
    seed 3 because of where seed 3 puts the object fails there again, so successive measurements
    are correlated and the filter, averaging them as independent, grows overconfident in the
    seed set's own quirks. Fresh seeds make the errors independent, which is what R assumes;
    modelling the reuse instead would need the correlation between rounds, which depends on the
    student and is unknown. The cost: round-to-round differences now hold seed noise as well as
    the student's change; paired comparisons between schedulers stay paired (same run seed,
    same evaluation seeds per round for every scheduler).
    """

    tasks: tuple[str, ...]
    episodes_per_task: int
    run_seed: int
    backend_config: Any
    contract: PointCloudContract | None
    student_reads_clouds: bool  # record clouds in `visited` (what such a student's features need)
    max_steps: int
    workers: int
    engine: RolloutEngine | None = None  # None: the local pool (collection.StoreCollector)

    def measure(
        self,
        student: StudentFactory,
        collected: Mapping[str, Sequence[Episode]],
        *,
        keep_visited: bool,
        round_index: int,
    ) -> SuccessMeasurement:
        del collected  # expert-assisted: biased (module doc)
        if not 0 <= round_index < MAX_ROUNDS:
            raise ValueError(
                f"round {round_index}: evaluation seeds are disjoint from training's below round {MAX_ROUNDS}"
            )
        visited: dict[str, list[Episode]] = defaultdict(list)
        if self.episodes_per_task <= 0:
            return SuccessMeasurement({}, {}, visited)
        jobs = [
            RolloutJob(
                task=task,
                task_index=i,
                seed=EVAL_SEED_OFFSET + episode_seed(self.run_seed, round_index, i, j),
                beta=0.0,
                record_clouds=keep_visited and self.student_reads_clouds,
                max_steps=self.max_steps,
            )
            for i, task in enumerate(self.tasks)
            for j in range(self.episodes_per_task)
        ]
        successes: dict[str, list[bool]] = defaultdict(list)
        for episode in collect_episodes(
            jobs, self.backend_config, student, self.contract, workers=self.workers, engine=self.engine
        ):
            successes[episode.task_name].append(episode.success)
            if keep_visited:
                visited[episode.task_name].append(episode)
        measured = [t for t in self.tasks if successes[t]]
        return SuccessMeasurement(
            success={t: float(np.mean(successes[t])) for t in measured},
            rollouts={t: len(successes[t]) for t in measured},
            visited=visited,
        )
