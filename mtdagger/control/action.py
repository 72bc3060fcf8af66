"""The action convention (DESIGN.md §4), shared by every simulator adapter and the real arm.

An action is a float32 vector of 4: the end-effector displacement for one control step in the
robot base frame (metres, dx dy dz) and a gripper command in [-1, 1] (-1 open, +1 closed).
The control period travels with it, because a displacement means nothing without a time step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ACTION_DIM = 4
CONVENTION_NAME = "ee_delta_position_base+gripper"


@dataclass(frozen=True)
class ActionConvention:
    control_period_s: float
    # Largest displacement per step on each axis that the producing system could command (m).
    max_step_m: float
    name: str = CONVENTION_NAME
    frame: str = "base"
    dim: int = ACTION_DIM
    # Where steps become joint trajectories: their time_from_start during training (0: one control
    # period, or not a joint-trajectory robot). With 2 periods the arm covers about half of each
    # step before the next replaces it: another dynamics, so a robot with another value refuses
    # the checkpoint (mtdagger.policy.robot_acceptance).
    trajectory_time_s: float = 0.0

    def __post_init__(self) -> None:
        if self.control_period_s <= 0 or self.max_step_m <= 0:
            raise ValueError("control_period_s and max_step_m must be positive")
        if not self.trajectory_time_s >= 0:
            raise ValueError(f"trajectory_time_s must be >= 0, got {self.trajectory_time_s!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActionConvention:
        """Unknown keys are refused: a field this code does not read (a newer writer, a typo)
        would otherwise be dropped, and the convention checked without it."""
        unknown = sorted(str(k) for k in data if k not in cls.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"action_convention has unknown key(s) {unknown}; known: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
