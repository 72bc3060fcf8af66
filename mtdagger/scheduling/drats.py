"""DRATS-style task weights: mirror ascent toward the tasks furthest from their success target.

Adapted from DRATS (Corrado et al., arXiv 2605.14350; update as in the authors' code,
`mirror_ascent_kl_update` + `kl_project_with_floor`), with success rates in place of returns:

    g_i = (target_i - p̂_i) / target_i                       normalised gap (target 1: g = 1 - p̂)
    log q'_i = (1 - α) log q_i + α log p0_i + s · g_i       α = s / η, p0 uniform
    q' ← q' / Σ q'
    q ← KL projection of q' onto {q_i >= ε, Σ q = 1}       clamp below-floor tasks to ε, rescale the
                                                            rest proportionally, repeat until none
    counts: n = floor + largest_remainder(q, ...)           (allocation.py)

One mirror step per `update()`. q starts at p0. The fixed point for a constant gap is
q ∝ p0 · exp(η g): η sets how sharply the worst task is preferred, s how fast q gets there.
p̂_i is the raw last-measured rate (carried through rounds without rollouts; the prior mean before
the first), as DRATS uses recent rollout statistics and smooths through the α-averaging of q
rather than a filter (so DratsConfig has no Kalman settings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from mtdagger.config_validation import Bounds, ConfigError, bounds
from mtdagger.scheduling.allocation import rank_normalise
from mtdagger.scheduling.base import FeedbackBatch, SchedulerConfig, TaskScheduler, vector_from_state
from mtdagger.scheduling.success import SuccessTracker


@dataclass(frozen=True)
class DratsConfig(SchedulerConfig):
    """DRATS's knobs; the defaults are the MT10 settings of the DRATS code (η = 8, step 0.5, ε 0.025).

    eta: η > 0, how sharply the fixed point prefers the task with the largest gap.
    step: s in (0, η], the mirror step (α = s/η: how far q moves toward its fixed point per round).
    min_prob: ε in [0, 1), the floor on every task's probability; ε·N must be <= 1 (the DRATS
      code's MT50 runs used 0.005).
    target: the success target in (0, 1] of every task not named in `targets`.
    targets: task -> its own target in (0, 1] (the tasks must be the run's).
    prior_mean: the success assumed for a task until it is first measured, in [0, 1].
    """

    name: ClassVar[str] = "drats"
    eta: float = field(default=8.0, metadata=bounds(gt=0))
    step: float = field(default=0.5, metadata=bounds(gt=0))
    min_prob: float = field(default=0.025, metadata=bounds(ge=0, lt=1))
    target: float = field(default=1.0, metadata=bounds(gt=0, le=1))
    targets: dict[str, float] = field(default_factory=dict)
    prior_mean: float = field(default=0.5, metadata=bounds(ge=0, le=1))

    def _check(self) -> None:
        if self.step > self.eta:
            raise ConfigError(f"scheduler.step must be in (0, eta={self.eta}], got {self.step!r}")
        for task, target in self.targets.items():
            Bounds(gt=0, le=1).check(target, f"scheduler.targets[{task!r}]")


def kl_project_with_floor(weights: np.ndarray, floor: float) -> np.ndarray:
    """argmin_q KL(q || weights) s.t. q_i >= floor, Σ q = 1 (iterative clamp, as in the DRATS code)."""
    z = np.asarray(weights, dtype=np.float64)
    if z.ndim != 1 or z.size == 0 or not np.all(np.isfinite(z)) or np.any(z < 0) or z.sum() <= 0:
        raise ValueError(f"weights must be a non-empty non-negative vector with a positive sum, got {z}")
    if floor < 0 or floor * z.size > 1.0 + 1e-12:
        raise ValueError(f"floor {floor} is infeasible for {z.size} tasks (need 0 <= floor·N <= 1)")
    z = z / z.sum()
    free = np.ones(z.size, dtype=bool)
    while True:  # at most N passes: each one clamps at least one more task or stops
        q = np.full(z.size, floor)
        mass_free = 1.0 - floor * np.count_nonzero(~free)
        free_sum = z[free].sum()
        q[free] = mass_free * (z[free] / free_sum if free_sum > 0 else 1.0 / np.count_nonzero(free))
        violated = free & (q < floor - 1e-12)
        if not violated.any():
            return q / q.sum()
        free &= ~violated


def mirror_ascent_step(
    q: np.ndarray, gaps: np.ndarray, prior: np.ndarray, eta: float, step: float, floor: float
) -> np.ndarray:
    """One DRATS update (module doc), ending with the floor projection."""
    alpha = step / eta
    tiny = np.finfo(np.float64).tiny  # log(0) would give -inf·0 = NaN when α = 1
    log_q = (
        (1.0 - alpha) * np.log(np.maximum(q, tiny)) + alpha * np.log(np.maximum(prior, tiny)) + step * gaps
    )
    unnormalised = np.exp(log_q - log_q.max())
    return kl_project_with_floor(unnormalised / unnormalised.sum(), floor)


class DratsScheduler(TaskScheduler):
    config_class = DratsConfig
    name = DratsConfig.name

    def __init__(self, tasks: Sequence[str], config: DratsConfig) -> None:
        super().__init__(tasks, config)
        unknown = sorted(set(config.targets) - set(self.tasks))
        if unknown:
            raise ValueError(f"scheduler.targets names unknown task(s) {unknown}; tasks: {list(self.tasks)}")
        n = len(self.tasks)
        if config.min_prob * n > 1.0 + 1e-12:
            raise ValueError(
                f"scheduler.min_prob={config.min_prob} × {n} tasks > 1 is infeasible; "
                f"use at most {1.0 / n:.4g} "
                "(the DRATS code used 0.025 for MT10 and 0.005 for MT50)"
            )
        self.targets = np.array([config.targets.get(t, config.target) for t in self.tasks])
        self.prior = np.full(n, 1.0 / n)
        self.q = self.prior.copy()
        self.success = SuccessTracker(n, prior_mean=config.prior_mean)

    def gaps(self) -> np.ndarray:
        return (self.targets - self.success.estimate(filtered=False)) / self.targets

    def _weights(self) -> np.ndarray:
        return self.q.copy()

    def _observe(self, batch: FeedbackBatch) -> None:
        self.success.observe(batch)
        cfg = self.config
        self.q = mirror_ascent_step(self.q, self.gaps(), self.prior, cfg.eta, cfg.step, cfg.min_prob)

    def _diagnostic_columns(self) -> dict[str, np.ndarray]:
        gaps = self.gaps()
        return {
            "score": gaps,
            "rank": rank_normalise(gaps),
            "target": self.targets.copy(),
            **self.success.columns(filtered=False),
        }

    def _state(self) -> dict[str, Any]:
        return {"q": self.q.tolist(), "success": self.success.state_dict()}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        q = vector_from_state(state, "q", len(self.tasks))
        if abs(q.sum() - 1.0) > 1e-9 or np.any(q < self.config.min_prob - 1e-9):
            raise ValueError(
                f"drats state 'q' must be a distribution with every entry >= {self.config.min_prob}, "
                f"got {q.tolist()}"
            )
        if "success" not in state:
            raise ValueError("drats state is missing 'success'")
        self.success.load_state_dict(state["success"])
        self.q = q
