"""Schedulers that score tasks and turn the scores into weights by rank + temperature softmax.

    w = softmax(rank_normalise(s) / τ)          (allocation.py has the formulas)

A subclass only says what a task's score s is (higher = give it more episodes).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field

import numpy as np

from mtdagger.config_validation import bounds
from mtdagger.scheduling.allocation import rank_normalise, softmax_weights
from mtdagger.scheduling.base import SchedulerConfig, TaskScheduler


@dataclass(frozen=True)
class RankedConfig(SchedulerConfig):
    """The knobs every rank + softmax scheduler has (not a scheduler of its own: no `name`).

    temperature: τ of the softmax over rank-normalised scores, > 0. Small τ sends the steered
      episodes to the top-ranked task; large τ approaches uniform. 0.5 puts e^2 ≈ 7.4x the weight
      on the top task as on the bottom one.
    """

    temperature: float = field(default=0.5, metadata=bounds(gt=0))


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
