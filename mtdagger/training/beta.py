"""β schedules: the probability that the expert (not the student) acts at a step, per round.

Small callables, as in `imitation` (BetaSchedule(round) -> float). Round 0 is always the
expert's (β = 1): there is no student to act yet.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConstantBeta:
    value: float = 0.0

    def __call__(self, round_index: int) -> float:
        return 1.0 if round_index == 0 else self.value


@dataclass(frozen=True)
class LinearBeta:
    """β falls linearly from 1 at round 0 to 0 at `rampdown_rounds` (imitation's default: 15)."""

    rampdown_rounds: int = 4

    def __call__(self, round_index: int) -> float:
        if self.rampdown_rounds <= 0:
            return 1.0 if round_index == 0 else 0.0
        return min(1.0, max(0.0, 1.0 - round_index / self.rampdown_rounds))


@dataclass(frozen=True)
class ExponentialBeta:
    """β = decay ** round."""

    decay: float = 0.5

    def __call__(self, round_index: int) -> float:
        return self.decay**round_index


BETA_SCHEDULES = {"constant": ConstantBeta, "linear": LinearBeta, "exponential": ExponentialBeta}


def make_beta_schedule(name: str, **kwargs: float):
    if name not in BETA_SCHEDULES:
        raise ValueError(f"unknown beta schedule {name!r}; valid: {', '.join(BETA_SCHEDULES)}")
    return BETA_SCHEDULES[name](**kwargs)
