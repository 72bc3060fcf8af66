"""Uniform allocation: the baseline every benchmark compares against (same seeds, same budget).

    n_i = f + largest_remainder(1/N, B - N·f)

so every task gets ⌊B/N⌋ or ⌈B/N⌉ episodes. The extras go to tasks in list order rotated by the
round number (base.py's tie rule), so over N rounds each task receives them equally often.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mtdagger.scheduling.base import FeedbackBatch, SchedulerConfig, TaskScheduler


@dataclass(frozen=True)
class UniformConfig(SchedulerConfig):
    """Uniform has no knob of its own: only the per-task floor `min_per_task` (SchedulerConfig)."""

    name: ClassVar[str] = "uniform"


class UniformScheduler(TaskScheduler):
    config_class = UniformConfig
    name = UniformConfig.name

    def _weights(self) -> np.ndarray:
        return np.full(len(self.tasks), 1.0 / len(self.tasks))

    def _observe(self, batch: FeedbackBatch) -> None:
        """Uniform learns nothing from outcomes; only the round counter (the tie rotation) moves."""

    def _diagnostic_columns(self) -> dict[str, np.ndarray]:
        n = len(self.tasks)
        return {"score": np.zeros(n), "rank": np.full(n, 0.5)}
