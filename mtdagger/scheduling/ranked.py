"""Schedulers that score tasks and turn the scores into weights by rank + temperature softmax.

    w = softmax(rank_normalise(s) / τ)          (allocation.py has the formulas)

A subclass only says what a task's score s is (higher = give it more episodes).
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from mtdagger.scheduling.allocation import rank_normalise, softmax_weights
from mtdagger.scheduling.base import TaskScheduler


class RankedScheduler(TaskScheduler):
    @abstractmethod
    def scores(self) -> np.ndarray:
        """Priority score per task, in task order; only its ordering matters."""

    def normalised_scores(self) -> np.ndarray:
        """r ∈ [0, 1] per task: rank-normalised scores (ties averaged)."""
        return rank_normalise(self.scores())

    def _weights(self) -> np.ndarray:
        return softmax_weights(self.normalised_scores(), self.config.temperature)

    def _diagnostic_columns(self) -> dict[str, np.ndarray]:
        return {"score": self.scores(), "rank": self.normalised_scores()}
