"""β schedules: the probability that the expert (not the student) acts at a step, per round.

Small callables, as in `imitation` (BetaSchedule(round) -> float). Round 0 is always the
expert's (β = 1): there is no student to act yet. Each schedule is also its own typed config:

    dagger: {beta: {schedule: linear, rampdown_rounds: 3}}

`schedule` picks the class from BETA_SCHEDULES and the other keys are its fields (an unknown one
is refused naming it and the valid ones); `to_dict` writes the same mapping back.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mtdagger.config_choice import build_choice, check_fields
from mtdagger.config_validation import bounds


@dataclass(frozen=True)
class BetaSchedule(ABC):
    """A β schedule: round index -> β in [0, 1]; `schedule` is its name in BETA_SCHEDULES."""

    schedule: ClassVar[str] = ""

    def __post_init__(self) -> None:
        check_fields(self, "dagger.beta")

    @abstractmethod
    def __call__(self, round_index: int) -> float:
        """β for round `round_index` (1.0 at round 0)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data, `schedule` first: `beta_schedule_from_dict` rebuilds an equal schedule."""
        return {"schedule": self.schedule, **self.params}

    @property
    def params(self) -> dict[str, Any]:
        """The schedule's fields as a mapping (what `make_beta_schedule(schedule, **params)` takes)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ConstantBeta(BetaSchedule):
    """β = `value` in [0, 1] from round 1 on."""

    schedule: ClassVar[str] = "constant"
    value: float = field(default=0.0, metadata=bounds(ge=0, le=1))

    def __call__(self, round_index: int) -> float:
        return 1.0 if round_index == 0 else self.value


@dataclass(frozen=True)
class LinearBeta(BetaSchedule):
    """β falls linearly from 1 at round 0 to 0 at `rampdown_rounds` (>= 0; 0: the student acts
    alone from round 1). imitation's default is 15; DAgger rounds here are few, so ours is 3."""

    schedule: ClassVar[str] = "linear"
    rampdown_rounds: int = field(default=3, metadata=bounds(ge=0))

    def __call__(self, round_index: int) -> float:
        if self.rampdown_rounds <= 0:
            return 1.0 if round_index == 0 else 0.0
        return min(1.0, max(0.0, 1.0 - round_index / self.rampdown_rounds))


@dataclass(frozen=True)
class ExponentialBeta(BetaSchedule):
    """β = decay ** round, with `decay` in [0, 1]."""

    schedule: ClassVar[str] = "exponential"
    decay: float = field(default=0.5, metadata=bounds(ge=0, le=1))

    def __call__(self, round_index: int) -> float:
        return self.decay**round_index


BETA_SCHEDULES: dict[str, type[BetaSchedule]] = {
    cls.schedule: cls for cls in (ConstantBeta, LinearBeta, ExponentialBeta)
}
# The schedule of a `dagger.beta:` section that names none (and of DaggerConfig's default).
DEFAULT_BETA_SCHEDULE = "linear"


def beta_schedule_from_dict(data: Any, where: str = "dagger.beta") -> BetaSchedule:
    """The schedule `data["schedule"]` names (default linear), built from the rest of `data`."""
    return build_choice(BETA_SCHEDULES, data, "schedule", DEFAULT_BETA_SCHEDULE, where)


def make_beta_schedule(name: str, **kwargs: Any) -> BetaSchedule:
    """e.g. make_beta_schedule("linear", rampdown_rounds=4)."""
    return beta_schedule_from_dict({"schedule": name, **kwargs})
