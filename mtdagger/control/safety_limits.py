"""The numbers the safety filter enforces (`SafetyLimits`), validated where they are made.

Split from `mtdagger.control.safety` because the limits are data (loaded from
configs/robots/<robot>.yaml by `mtdagger.control.robot_config`) while the filter is the per-step
algorithm; the module doc of `mtdagger.control.safety` says what each number means to the rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

import numpy as np


def _vector3(value: Any, name: str) -> tuple[float, float, float]:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (3,) or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be 3 finite numbers, got {value!r}")
    return (float(array[0]), float(array[1]), float(array[2]))


@dataclass(frozen=True)
class SafetyLimits:
    """The numbers the safety filter enforces; loaded from configs/robots/<robot>.yaml."""

    # End-effector position box in the robot base frame (m).
    workspace_min: tuple[float, float, float]
    workspace_max: tuple[float, float, float]
    max_speed_m_s: float
    max_accel_m_s2: float
    # Input older than this is stale => hold (MoveIt Servo incoming_command_timeout: 0.1 s).
    max_observation_age_s: float
    max_action_age_s: float
    control_period_s: float
    gripper_min: float = -1.0
    gripper_max: float = 1.0
    # How far a stamp may lie ahead of `now` (clock skew between machines) before it is refused.
    future_stamp_tolerance_s: float = 0.01
    # Distance kept from every hard joint limit (rad or m): a number for all joints, or a mapping
    # joint name -> margin (stored as sorted (name, margin) pairs so the limits stay hashable).
    joint_limit_margin_rad: float | Mapping[str, float] | tuple[tuple[str, float], ...] = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "joint_limit_margin_rad", _margins(self.joint_limit_margin_rad))
        lo = _vector3(self.workspace_min, "workspace_min")
        hi = _vector3(self.workspace_max, "workspace_max")
        if not all(a < b for a, b in zip(lo, hi)):
            raise ValueError(f"workspace_min must be below workspace_max on every axis, got {lo} .. {hi}")
        object.__setattr__(self, "workspace_min", lo)
        object.__setattr__(self, "workspace_max", hi)
        for name in ("max_speed_m_s", "max_accel_m_s2", "max_observation_age_s", "max_action_age_s",
                     "control_period_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        tolerance = self.future_stamp_tolerance_s
        if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
            raise ValueError(f"future_stamp_tolerance_s must be a finite number >= 0, got {tolerance!r}")
        if not (math.isfinite(self.gripper_min) and math.isfinite(self.gripper_max)
                and self.gripper_min < self.gripper_max):
            raise ValueError(f"gripper bounds must be finite with min < max, got "
                             f"[{self.gripper_min}, {self.gripper_max}]")

    @property
    def max_delta_v_m_s(self) -> float:
        """Largest change of velocity between two consecutive applied commands."""
        return self.max_accel_m_s2 * self.control_period_s

    def margin_for(self, joint_name: str) -> float:
        """The joint-limit margin of `joint_name` (0 for a joint a per-joint mapping omits)."""
        margins = self.joint_limit_margin_rad
        if isinstance(margins, float):
            return margins
        return dict(margins).get(joint_name, 0.0)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        if isinstance(self.joint_limit_margin_rad, tuple):
            data["joint_limit_margin_rad"] = dict(self.joint_limit_margin_rad)
        return {name: list(value) if isinstance(value, tuple) else value for name, value in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SafetyLimits:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown safety limit(s) {unknown}; known: {sorted(known)}")
        missing = sorted(f.name for f in fields(cls)
                         if f.name not in data and f.default is MISSING and f.default_factory is MISSING)
        if missing:
            raise ValueError(f"missing safety limit(s) {missing}")
        return cls(**data)


def _margins(value: Any) -> float | tuple[tuple[str, float], ...]:
    def one(number: Any, name: str) -> float:
        if isinstance(number, bool) or not isinstance(number, (int, float)) \
                or not math.isfinite(number) or not 0 <= number < math.pi:
            raise ValueError(f"{name} must be a finite number in [0, pi), got {number!r}")
        return float(number)

    if isinstance(value, Mapping):
        return tuple(sorted((str(k), one(v, f"joint_limit_margin_rad[{k}]")) for k, v in value.items()))
    if isinstance(value, tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        return _margins(dict(value))
    return one(value, "joint_limit_margin_rad")
