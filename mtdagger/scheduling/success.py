"""Per-task success estimates shared by task-need, hybrid and DRATS.

Keeps both views of a task's success so the Kalman ablation is a switch, not a second code path:
- the Kalman estimate (kalman.py), filtered over rounds;
- the last measured rate s/n, carried over unchanged through rounds in which the task had no
  rollouts (the prior mean until the task is first measured).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mtdagger.scheduling.base import FeedbackBatch, vector_from_state
from mtdagger.scheduling.kalman import SuccessKalmanFilter


class SuccessTracker:
    """Both success views per task; the filter's parameters are kalman.py's (same defaults)."""

    def __init__(
        self,
        num_tasks: int,
        prior_mean: float = 0.5,
        prior_var: float = 0.25,
        process_noise: float = 0.01,
        measurement_eps: float = 1e-3,
    ) -> None:
        self.filter = SuccessKalmanFilter(num_tasks, prior_mean, prior_var, process_noise, measurement_eps)
        self.last_rate = np.full(num_tasks, float(prior_mean))
        self.rollouts_total = np.zeros(num_tasks, dtype=np.int64)
        self.successes_total = np.zeros(num_tasks, dtype=np.int64)

    def observe(self, batch: FeedbackBatch) -> None:
        self.filter.step(batch.successes, batch.rollouts)
        measured = batch.rollouts > 0
        self.last_rate = np.where(measured, batch.successes / np.maximum(batch.rollouts, 1), self.last_rate)
        self.rollouts_total = self.rollouts_total + batch.rollouts
        self.successes_total = self.successes_total + batch.successes

    def estimate(self, filtered: bool) -> np.ndarray:
        """p̂ per task: the Kalman mean if `filtered`, else the last measured rate."""
        return self.filter.mean.copy() if filtered else self.last_rate.copy()

    def columns(self, filtered: bool) -> dict[str, np.ndarray]:
        """`estimate` is the p̂ the score used; `variance` is the filter's (tracked even when unused)."""
        return {
            "estimate": self.estimate(filtered),
            "variance": self.filter.variance.copy(),
            "kalman_mean": self.filter.mean.copy(),
            "last_rate": self.last_rate.copy(),
            "rollouts_total": self.rollouts_total.astype(np.float64),
            "successes_total": self.successes_total.astype(np.float64),
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "kalman": self.filter.state_dict(),
            "last_rate": self.last_rate.tolist(),
            "rollouts_total": self.rollouts_total.tolist(),
            "successes_total": self.successes_total.tolist(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        n = self.last_rate.size
        if "kalman" not in state:
            raise ValueError("success state is missing 'kalman'")
        last_rate = vector_from_state(state, "last_rate", n)
        rollouts = vector_from_state(state, "rollouts_total", n)
        successes = vector_from_state(state, "successes_total", n)
        if np.any((last_rate < 0) | (last_rate > 1)):
            raise ValueError(f"success state 'last_rate' must lie in [0, 1], got {last_rate.tolist()}")
        if np.any(rollouts != np.round(rollouts)) or np.any((successes < 0) | (successes > rollouts)):
            raise ValueError("success state totals must be integers with 0 <= successes <= rollouts")
        self.filter.load_state_dict(state["kalman"])
        self.last_rate = last_rate
        self.rollouts_total = rollouts.astype(np.int64)
        self.successes_total = successes.astype(np.int64)
