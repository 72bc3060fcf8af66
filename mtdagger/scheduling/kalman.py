"""Scalar Kalman filter on each task's success probability (vectorised over tasks).

Why a filter: a round gives a task a handful of rollouts, so its raw success rate jumps around;
the scheduler would chase that noise. The filter averages over rounds, trusting a measurement in
proportion to how many rollouts it rests on, and forgets slowly because the student changes.

Model (a random walk; DESIGN.md §5, method-notes §1.3 "Recon"), per task and round:

    predict:  p⁻ = p̂ ;  P⁻ = P + Q                          (every round, measured or not)
    measure:  p̄ = s / n                                      (s successes in n >= 1 rollouts)
              p̃ = (s + 1) / (n + 2)                          (Laplace-smoothed rate, for the noise only)
              R = p̃ (1 - p̃) / n + ε
    gain:     K = P⁻ / (P⁻ + R)
    update:   p̂ = clip(p⁻ + K (p̄ - p⁻), 0, 1) ;  P = (1 - K) P⁻

A task with n = 0 only predicts: its estimate stays, its variance grows by Q.

Independence: the update treats each round's measurement as a fresh binomial draw, so the
measurements of successive rounds must not share their episodes' initial states. The default
success signal draws fresh evaluation seeds every round for this reason (issue 23;
training/success_signal.py, BetaZeroEvaluation); before, the same seeds were reused every round,
their errors were correlated and the filter's variance P understated the real uncertainty.

Deviation from the issue's R = p̄(1 - p̄)/n + ε, on purpose: with the raw p̄ an all-success or
all-failure measurement has zero binomial variance whatever n is, so one lucky rollout (p̄ = 1,
R = ε) would be trusted as much as fifty. Evaluating the variance at the smoothed p̃ keeps R
shrinking like 1/n at every rate; the innovation still uses the raw p̄.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class SuccessKalmanFilter:
    """One independent scalar filter per task; `mean` and `variance` are float64 vectors."""

    def __init__(
        self,
        num_tasks: int,
        prior_mean: float = 0.5,
        prior_var: float = 0.25,
        process_noise: float = 0.01,
        measurement_eps: float = 1e-3,
    ) -> None:
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        if not 0.0 <= prior_mean <= 1.0:
            raise ValueError(f"prior_mean must lie in [0, 1], got {prior_mean}")
        if not (np.isfinite(prior_var) and prior_var >= 0):
            raise ValueError(f"prior_var must be finite and >= 0, got {prior_var}")
        if not (np.isfinite(process_noise) and process_noise >= 0):
            raise ValueError(f"process_noise (Q) must be finite and >= 0, got {process_noise}")
        if not (np.isfinite(measurement_eps) and measurement_eps >= 0):
            raise ValueError(f"measurement_eps (ε) must be finite and >= 0, got {measurement_eps}")
        self.process_noise = float(process_noise)
        self.measurement_eps = float(measurement_eps)
        self.mean = np.full(num_tasks, float(prior_mean))
        self.variance = np.full(num_tasks, float(prior_var))

    def measurement_noise(self, successes: np.ndarray, rollouts: np.ndarray) -> np.ndarray:
        """R = p̃(1 - p̃)/n + ε with p̃ = (s+1)/(n+2); only meaningful where n >= 1."""
        s = np.asarray(successes, dtype=np.float64)
        n = np.asarray(rollouts, dtype=np.float64)
        smoothed = (s + 1.0) / (n + 2.0)
        return smoothed * (1.0 - smoothed) / np.maximum(n, 1.0) + self.measurement_eps

    def step(self, successes: np.ndarray, rollouts: np.ndarray) -> None:
        """Advance one round: predict every task, then correct those with rollouts > 0."""
        s = np.asarray(successes, dtype=np.int64)
        n = np.asarray(rollouts, dtype=np.int64)
        if s.shape != self.mean.shape or n.shape != self.mean.shape:
            raise ValueError(f"expected {self.mean.size} tasks, got successes {s.shape}, rollouts {n.shape}")
        if np.any(n < 0) or np.any(s < 0) or np.any(s > n):
            raise ValueError(
                f"need 0 <= successes <= rollouts, got successes={s.tolist()} rollouts={n.tolist()}"
            )
        prior_var = self.variance + self.process_noise
        measured = n > 0
        rate = s / np.maximum(n, 1)
        noise = self.measurement_noise(s, n)
        gain = np.where(measured, prior_var / (prior_var + noise), 0.0)
        self.mean = np.clip(self.mean + gain * (rate - self.mean), 0.0, 1.0)
        self.variance = (1.0 - gain) * prior_var

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "variance": self.variance.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mean = np.asarray(state["mean"], dtype=np.float64)
        variance = np.asarray(state["variance"], dtype=np.float64)
        if mean.shape != self.mean.shape or variance.shape != self.variance.shape:
            raise ValueError(
                f"Kalman state has {mean.size} means / {variance.size} variances, expected {self.mean.size}"
            )
        if np.any(~np.isfinite(mean)) or np.any((mean < 0) | (mean > 1)):
            raise ValueError(f"Kalman means must lie in [0, 1], got {mean.tolist()}")
        if np.any(~np.isfinite(variance)) or np.any(variance < 0):
            raise ValueError(f"Kalman variances must be finite and >= 0, got {variance.tolist()}")
        self.mean, self.variance = mean, variance
