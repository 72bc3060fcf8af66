"""Task need: give more expert episodes to the tasks the student still fails.

    s_i = 1 - p̂_i

p̂_i is the Kalman-filtered success (kalman.py) or, with `kalman: false` (the ablation), the last
measured rate s/n (kept through rounds without rollouts; the prior mean before the first one).
Before any feedback every task has the prior estimate, so all scores tie and the split is uniform.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mtdagger.scheduling.base import FeedbackBatch, SchedulerConfig
from mtdagger.scheduling.ranked import RankedScheduler
from mtdagger.scheduling.success import SuccessTracker


class TaskNeedScheduler(RankedScheduler):
    name = "task_need"

    def __init__(self, tasks: Sequence[str], config: SchedulerConfig) -> None:
        super().__init__(tasks, config)
        self.success = SuccessTracker(len(self.tasks), config)

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
