"""The scheduler interface the DAgger loop calls, its config, and the per-round feedback it gets.

A round of MT-DAgger (DESIGN.md §5) asks the scheduler how to split the expert budget B
(`allocate`), rolls the tasks out, then tells it what happened (`update`). Everything a scheduler
learns is in `state_dict()`, as plain JSON, so a resumed run allocates exactly as the uninterrupted
one would have. `diagnostics()` exposes the per-task numbers behind the decision for logs and plots.

Subclasses implement three small hooks: `_weights()` (a probability per task), `_observe()` (learn
from one round) and `_diagnostic_columns()` / `_state()` / `_load_state()`. The budget arithmetic
(floor + largest remainder, allocation.py) and the input checks are shared here.

Tie rule for the rounding: when two tasks have equal claims to a left-over episode, the one that
comes first in the task list *rotated by the number of completed rounds* wins. It is
deterministic, and over N rounds every task is first once, so equal tasks share the extras.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from mtdagger.config_choice import check_fields
from mtdagger.config_validation import bounds
from mtdagger.scheduling.allocation import allocate_counts


@dataclass(frozen=True)
class TaskFeedback:
    """What one round taught us about one task.

    rollouts/successes: episodes rolled out for this task this round and how many succeeded.
    loss_before/loss_after: the task's held-out BC loss before and after this round's update
    (both or neither; perf-gain reads them, the others ignore them).
    """

    rollouts: int
    successes: int
    loss_before: float | None = None
    loss_after: float | None = None

    def __post_init__(self) -> None:
        for name in ("rollouts", "successes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"TaskFeedback.{name} must be an integer, got {value!r}")
        if self.rollouts < 0:
            raise ValueError(f"TaskFeedback.rollouts must be >= 0, got {self.rollouts}")
        if not 0 <= self.successes <= self.rollouts:
            raise ValueError(
                f"TaskFeedback.successes={self.successes} must lie in [0, rollouts={self.rollouts}]"
            )
        if (self.loss_before is None) != (self.loss_after is None):
            raise ValueError(
                "TaskFeedback needs both loss_before and loss_after or neither, got "
                f"loss_before={self.loss_before!r}, loss_after={self.loss_after!r}"
            )
        for name in ("loss_before", "loss_after"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"TaskFeedback.{name} must be finite, got {value!r}")

    @property
    def has_losses(self) -> bool:
        return self.loss_before is not None


@dataclass(frozen=True)
class SchedulerConfig:
    """What every scheduler's config has; each scheduler declares a subclass next to itself.

    `name` is a class constant, the scheduling registry's key: the YAML section
    `scheduler: {name: task_need, temperature: 0.5}` picks the class by it and the other keys are
    that class's fields (registry.scheduler_config). Fields are checked from their annotation and
    `bounds(...)` metadata however the config is built (YAML or code); a subclass adds cross-field
    rules in `_check`. Every error is one line naming the field.

    min_per_task: the per-task floor f, episodes every task gets each round before the rest is
      shared out (prevents "cascading neglect"); lowered to B // N when B < f·N (allocation.py).
    """

    name: ClassVar[str] = ""
    min_per_task: int = field(default=1, metadata=bounds(ge=0))

    def __post_init__(self) -> None:
        check_fields(self, "scheduler")
        self._check()

    def _check(self) -> None:
        """Rules between fields (each field's own type and range are already checked)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data, `name` first: `registry.scheduler_config_from_dict` rebuilds an equal config."""
        return {"name": self.name, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class FeedbackBatch:
    """One round's feedback as aligned vectors over the scheduler's tasks (missing tasks: 0 rollouts).

    loss_before/loss_after are NaN where the task reported no losses.
    """

    rollouts: np.ndarray
    successes: np.ndarray
    loss_before: np.ndarray
    loss_after: np.ndarray

    @property
    def has_losses(self) -> np.ndarray:
        return np.isfinite(self.loss_before) & np.isfinite(self.loss_after)


@dataclass(frozen=True)
class StudentEmbeddings:
    """The student's view of the data, for schedulers that model the expert in feature space (AMF).

    The loop builds this once per round, after the update, only for a scheduler whose
    `wants_embeddings` is true, and passes it through `observe_embeddings` before `update`.
    visited: task -> (n, d) features of states the new student visits in its β = 0 evaluation
      rollouts of that task (all of them; the scheduler subsamples);
    episode_steps: task -> mean length of that task's episodes;
    train_gram: (d, d) Σ φφᵀ over every training state (what the data already covers).
    """

    visited: Mapping[str, np.ndarray]
    episode_steps: Mapping[str, float]
    train_gram: np.ndarray

    def check(self, tasks: Sequence[str]) -> None:
        gram = np.asarray(self.train_gram)
        if gram.ndim != 2 or gram.shape[0] != gram.shape[1] or not np.all(np.isfinite(gram)):
            raise ValueError(f"train_gram must be a finite square matrix, got shape {gram.shape}")
        unknown = sorted((set(self.visited) | set(self.episode_steps)) - set(tasks))
        if unknown:
            raise ValueError(f"embeddings for unknown task(s) {unknown}; scheduler tasks: {list(tasks)}")
        for task, rows in self.visited.items():
            rows = np.asarray(rows)
            if rows.ndim != 2 or rows.shape[1] != gram.shape[0] or not np.all(np.isfinite(rows)):
                raise ValueError(
                    f"visited[{task!r}] must be finite (n, {gram.shape[0]}) features, got shape {rows.shape}"
                )
        for task, steps in self.episode_steps.items():
            if not (math.isfinite(steps) and steps > 0):
                raise ValueError(f"episode_steps[{task!r}] must be > 0, got {steps!r}")


class TaskScheduler(ABC):
    """Splits each round's expert budget across tasks and learns from the round's outcome.

    A subclass names its config class (`config_class`, a SchedulerConfig subclass) and takes its
    registry name from it, so the YAML `name` and the scheduler cannot disagree."""

    name: ClassVar[str]
    config_class: ClassVar[type[SchedulerConfig]]
    wants_embeddings: ClassVar[bool] = False  # True: the loop calls observe_embeddings each round

    def __init__(self, tasks: Sequence[str], config: SchedulerConfig) -> None:
        if isinstance(tasks, str):
            raise ValueError(f"tasks must be a sequence of task names, got the single string {tasks!r}")
        tasks = tuple(tasks)
        if not tasks:
            raise ValueError("a scheduler needs at least one task")
        bad = [t for t in tasks if not isinstance(t, str) or not t]
        if bad:
            raise ValueError(f"task names must be non-empty strings, got {bad}")
        duplicates = sorted(t for t, count in Counter(tasks).items() if count > 1)  # O(N), not O(N²)
        if duplicates:
            raise ValueError(f"duplicate task names {duplicates}")
        if type(config) is not self.config_class:
            raise ValueError(
                f"the {self.name} scheduler needs a {self.config_class.__name__}, got {type(config).__name__}"
            )
        self.tasks: tuple[str, ...] = tasks
        self.config = config
        self.rounds = 0  # completed update() calls
        self._index = {task: i for i, task in enumerate(tasks)}

    # ---- the loop's API -------------------------------------------------------------------------

    def allocate(self, budget: int) -> dict[str, int]:
        """Episodes per task for this round: sums to `budget`; each >= min_per_task when
        budget >= min_per_task·N, otherwise the floor is lowered to budget // N (allocation.py).
        Pure: calling it twice without an update returns the same counts."""
        return dict(zip(self.tasks, self.allocate_array(budget).tolist()))

    def update(self, feedback: Mapping[str, TaskFeedback]) -> None:
        """Learn from one round. Tasks missing from `feedback` had no rollouts (and no losses).
        The whole mapping is checked before anything changes, so a bad entry leaves no half-update."""
        batch = self._batch(feedback)
        self._observe(batch)
        self.rounds += 1

    # ---- the same API on arrays in task order (for many tasks: no per-task Python objects) -------

    def allocate_array(self, budget: int) -> np.ndarray:
        """`allocate` as an int64 vector in task order (same counts)."""
        return allocate_counts(self._weights(), budget, self.config.min_per_task, self._tie_priority())

    def update_arrays(
        self,
        rollouts: np.ndarray,
        successes: np.ndarray,
        loss_before: np.ndarray | None = None,
        loss_after: np.ndarray | None = None,
    ) -> None:
        """`update` from vectors in task order; NaN losses mean "not reported" (both or neither).
        Checked as a whole before anything changes, like `update`."""
        n = len(self.tasks)
        rollouts, successes = np.asarray(rollouts), np.asarray(successes)
        for name, values in (("rollouts", rollouts), ("successes", successes)):
            if values.shape != (n,) or not np.issubdtype(values.dtype, np.integer):
                raise ValueError(f"{name} must be {n} integers, got {values.dtype} of shape {values.shape}")
        if np.any(rollouts < 0) or np.any(successes < 0) or np.any(successes > rollouts):
            raise ValueError("need 0 <= successes <= rollouts for every task")
        before = np.full(n, np.nan) if loss_before is None else np.asarray(loss_before, dtype=np.float64)
        after = np.full(n, np.nan) if loss_after is None else np.asarray(loss_after, dtype=np.float64)
        if before.shape != (n,) or after.shape != (n,):
            raise ValueError(f"loss_before/loss_after need {n} entries, got {before.shape}, {after.shape}")
        if np.any(np.isnan(before) != np.isnan(after)) or np.any(np.isinf(before) | np.isinf(after)):
            raise ValueError("each task needs both losses finite or both NaN (not reported)")
        self._observe(FeedbackBatch(rollouts.astype(np.int64), successes.astype(np.int64), before, after))
        self.rounds += 1

    def diagnostics(self) -> dict[str, dict[str, float]]:
        """Per task: at least `score`, `rank` (normalised, in [0, 1]) and `weight` (sums to 1)."""
        columns = {"weight": self._weights(), **self._diagnostic_columns()}
        return {
            task: {key: float(values[i]) for key, values in columns.items()}
            for i, task in enumerate(self.tasks)
        }

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state. Hyperparameters are not part of it: they come from the run's
        resolved config when the scheduler is rebuilt, as they did the first time."""
        return {"scheduler": self.name, "tasks": list(self.tasks), "rounds": self.rounds, **self._state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("scheduler") != self.name:
            raise ValueError(f"state is for scheduler {state.get('scheduler')!r}, this is {self.name!r}")
        if list(state.get("tasks") or []) != list(self.tasks):
            raise ValueError(
                f"state is for tasks {state.get('tasks')!r}, this scheduler has {list(self.tasks)}"
            )
        rounds = state.get("rounds")
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
            raise ValueError(f"state 'rounds' must be an integer >= 0, got {rounds!r}")
        self._load_state(state)
        self.rounds = rounds

    def observe_embeddings(self, embeddings: StudentEmbeddings) -> None:
        """Student features for this round (see StudentEmbeddings); ignored unless wants_embeddings."""
        embeddings.check(self.tasks)

    # ---- hooks for subclasses --------------------------------------------------------------------

    @abstractmethod
    def _weights(self) -> np.ndarray:
        """A probability per task (non-negative, sums to 1), in task order."""

    @abstractmethod
    def _observe(self, batch: FeedbackBatch) -> None:
        """Learn from one round's feedback."""

    def _diagnostic_columns(self) -> dict[str, np.ndarray]:
        return {}

    def _state(self) -> dict[str, Any]:
        return {}

    def _load_state(self, state: Mapping[str, Any]) -> None:  # noqa: B027 (stateless schedulers keep it)
        """Restore what `_state` saved (validated)."""

    # ---- shared helpers --------------------------------------------------------------------------

    def _tie_priority(self) -> np.ndarray:
        n = len(self.tasks)
        return (np.arange(n) - self.rounds) % n

    def _batch(self, feedback: Mapping[str, TaskFeedback]) -> FeedbackBatch:
        if not isinstance(feedback, Mapping):
            raise ValueError(
                f"feedback must be a mapping task -> TaskFeedback, got {type(feedback).__name__}"
            )
        unknown = sorted(set(feedback) - set(self._index))
        if unknown:
            raise ValueError(f"feedback for unknown task(s) {unknown}; scheduler tasks: {list(self.tasks)}")
        n = len(self.tasks)
        rollouts = np.zeros(n, dtype=np.int64)
        successes = np.zeros(n, dtype=np.int64)
        before = np.full(n, np.nan)
        after = np.full(n, np.nan)
        for task, item in feedback.items():
            if not isinstance(item, TaskFeedback):
                raise ValueError(f"feedback[{task!r}] must be a TaskFeedback, got {type(item).__name__}")
            i = self._index[task]
            rollouts[i], successes[i] = item.rollouts, item.successes
            if item.has_losses:
                before[i], after[i] = item.loss_before, item.loss_after
        return FeedbackBatch(rollouts, successes, before, after)


def vector_from_state(state: Mapping[str, Any], key: str, size: int) -> np.ndarray:
    """A finite float vector of length `size` from a state dict, or a ValueError naming `key`."""
    if key not in state:
        raise ValueError(f"scheduler state is missing {key!r}")
    values = np.asarray(state[key], dtype=np.float64)
    if values.shape != (size,) or not np.all(np.isfinite(values)):
        raise ValueError(f"scheduler state {key!r} must be {size} finite numbers, got {state[key]!r}")
    return values
