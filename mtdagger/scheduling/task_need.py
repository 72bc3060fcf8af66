"""Task need: give more expert episodes to the tasks the student still fails.

    s_i = 1 - p̂_i

p̂_i is the Kalman-filtered success (kalman.py) or, with `kalman: false` (the ablation), the last
measured rate s/n (kept through rounds without rollouts; the prior mean before the first one).
Before any feedback every task has the prior estimate, so all scores tie and the split is uniform.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from mtdagger.config_validation import bounds
from mtdagger.scheduling.base import FeedbackBatch
from mtdagger.scheduling.ranked import RankedConfig, RankedScheduler
from mtdagger.scheduling.success import SuccessTracker


@dataclass(frozen=True)
class TaskNeedConfig(RankedConfig):
    """Task need's knobs: the softmax temperature and floor (RankedConfig) and the success filter.

    kalman: score the Kalman-filtered success (true) or the raw last-round rate (false, the ablation).
    process_noise: Q, the variance the success may drift by per round (random walk), >= 0.
    measurement_eps: ε added to the measurement noise R = p̃(1 - p̃)/n + ε, >= 0 (kalman.py).
    prior_mean: p̂ before a task's first measurement, in [0, 1].
    prior_var: the variance of that prior, >= 0 (0.25 is the largest a rate in [0, 1] can have).
    """

    name: ClassVar[str] = "task_need"
    kalman: bool = True
    process_noise: float = field(default=0.01, metadata=bounds(ge=0))
    measurement_eps: float = field(default=1e-3, metadata=bounds(ge=0))
    prior_mean: float = field(default=0.5, metadata=bounds(ge=0, le=1))
    prior_var: float = field(default=0.25, metadata=bounds(ge=0))

    def success_tracker(self, num_tasks: int) -> SuccessTracker:
        """The per-task success estimates these settings describe."""
        return SuccessTracker(
            num_tasks, self.prior_mean, self.prior_var, self.process_noise, self.measurement_eps
        )


class TaskNeedScheduler(RankedScheduler):
    config_class = TaskNeedConfig
    name = TaskNeedConfig.name

    def __init__(self, tasks: Sequence[str], config: TaskNeedConfig) -> None:
        super().__init__(tasks, config)
        self.success = config.success_tracker(len(self.tasks))

    def scores(self) -> np.ndarray:
        return 1.0 - self.success.estimate(self.config.kalman)

    def _observe(self, batch: FeedbackBatch) -> None:
        self.success.observe(batch)

    def _diagnostic_columns(self) -> dict[str, np.ndarray]:
        return {**super()._diagnostic_columns(), **self.success.columns(self.config.kalman)}

    def _state(self) -> dict[str, Any]:
        return {"success": self.success.state_dict()}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        if "success" not in state:
            raise ValueError("task_need state is missing 'success'")
        self.success.load_state_dict(state["success"])
