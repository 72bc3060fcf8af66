"""Uniform allocation: the baseline every benchmark compares against (same seeds, same budget).

    n_i = f + largest_remainder(1/N, B - N·f)

so every task gets ⌊B/N⌋ or ⌈B/N⌉ episodes. The extras go to tasks in list order rotated by the
round number (base.py's tie rule), so over N rounds each task receives them equally often.
"""

from __future__ import annotations

import numpy as np

from mtdagger.scheduling.base import FeedbackBatch, TaskScheduler


class UniformScheduler(TaskScheduler):
    name = "uniform"

    def _weights(self) -> np.ndarray:
        return np.full(len(self.tasks), 1.0 / len(self.tasks))

    def _observe(self, batch: FeedbackBatch) -> None:
        """Uniform learns nothing from outcomes; only the round counter (the tie rotation) moves."""

    def _diagnostic_columns(self) -> dict[str, np.ndarray]:
        n = len(self.tasks)
        return {"score": np.zeros(n), "rank": np.full(n, 0.5)}
