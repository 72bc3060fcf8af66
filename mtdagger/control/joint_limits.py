"""Joint position, velocity, acceleration and jerk limits, enforced on the trajectory AS THE ROBOT'S
CONTROLLER EXECUTES IT, before any trajectory leaves the arm controller.

Why on the executed trajectory: a one-point JointTrajectory is not the motion; the controller
interpolates a spline from its current state (`mtdagger.control.trajectory_execution`), so the
peaks depend on that state as much as on the target. The check previews exactly that: the new
trajectory from the controller's current state, sampled at its 1 kHz update rate until the point
is reached and the arm is at rest (it must be safe even if no further trajectory comes). Velocity
and acceleration are the spline's own; jerk is the 1 kHz difference of accelerations, starting
from the acceleration the arm has now (a jump at the replacement counts as jerk, as libfranka's
finite-difference checks see it); positions must stay inside the hard limits (overshoot included).

The remedy is step scaling, then a hold:
- the sent target is `base + alpha * (target - base)` with the largest alpha in [0, 1] for which
  the preview is within every limit; `base` is the controller's natural stopping point (where a
  quintic from the current state has no cubic term: p + 0.6 v T + 0.15 a T^2). The spline is
  linear in its end position, so each 1 kHz sample is affine in alpha and the feasible alphas are
  an exact interval, found without search. A scaled step is reason 'joint_limit_scaled';
- if no alpha is feasible, nothing is sent ('joint_dynamics_hold'): the active trajectory, checked
  when it was sent, plays on to rest at its point. A hold is the same computation with target =
  base (the arm stops where it can stop within the limits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from mtdagger.control.trajectory_execution import TrajectoryExecution, TrajectorySamples, command_points

LIMIT_KEYS = ("lower", "upper", "velocity", "acceleration", "jerk")
REASON_SCALED = "joint_limit_scaled"
REASON_HOLD = "joint_dynamics_hold"
_SETTLE_UPDATES = 3  # updates past the point: the end-of-trajectory jerk is checked too


@dataclass(frozen=True)
class JointLimit:
    """One joint's limits: rad, rad/s, rad/s^2, rad/s^3."""

    lower: float
    upper: float
    velocity: float
    acceleration: float
    jerk: float

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value!r}")
            object.__setattr__(self, f.name, float(value))
        if not self.lower < self.upper:
            raise ValueError(f"lower ({self.lower}) must be below upper ({self.upper})")
        for name in ("velocity", "acceleration", "jerk"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class JointLimits:
    """Per-joint limits (robot config `joint_limits`), in the order of the robot's joint_names."""

    joints: tuple[tuple[str, JointLimit], ...]

    @classmethod
    def from_dict(cls, data: Any, joint_names) -> JointLimits:
        if not isinstance(data, dict):
            raise ValueError(f"joint_limits: expected a mapping joint -> limits, got {type(data).__name__}")
        unknown = sorted(set(data) - set(joint_names))
        missing = [name for name in joint_names if name not in data]
        if unknown or missing:
            raise ValueError(f"joint_limits: names {unknown} not in joint_names, joints {missing} missing")
        joints = []
        for name in joint_names:
            entry = data[name]
            if not isinstance(entry, dict) or sorted(entry) != sorted(LIMIT_KEYS):
                raise ValueError(f"joint_limits.{name}: needs exactly the keys {list(LIMIT_KEYS)}")
            try:
                joints.append((name, JointLimit(**entry)))
            except ValueError as error:
                raise ValueError(f"joint_limits.{name}: {error}") from None
        return cls(tuple(joints))

    def array(self, key: str, names=None) -> np.ndarray:
        table = dict(self.joints)
        return np.array([getattr(table[name], key) for name in (names or [n for n, _ in self.joints])])


@dataclass(frozen=True)
class LimitedTarget:
    """What to send: `positions` (None: send nothing), the fraction of the step kept, a reason."""

    positions: np.ndarray | None
    fraction: float
    reason: str | None


def stopping_point(execution: TrajectoryExecution) -> np.ndarray:
    """Where a quintic from the controller's state has no cubic term: its gentlest stop."""
    p, v, a = execution.desired
    T = execution.law.trajectory_time_s
    return p + 0.6 * v * T + 0.15 * a * T * T


def _derivatives(samples: TrajectorySamples, previous_acceleration, dt: float):
    """(positions, velocities, accelerations, jerks) arrays as checked (jerk by 1 kHz difference)."""
    accelerations = np.vstack([np.asarray(previous_acceleration)[None, :], samples.accelerations])
    return samples.positions, samples.velocities, samples.accelerations, np.diff(accelerations, axis=0) / dt


def _bounds(limits: JointLimits, names) -> list[tuple[np.ndarray, np.ndarray]]:
    lower, upper = limits.array("lower", names), limits.array("upper", names)
    return [(lower, upper)] + [(-limits.array(k, names), limits.array(k, names))
                               for k in ("velocity", "acceleration", "jerk")]  # fmt: skip


def _feasible_interval(quantities0, quantities1, bounds) -> tuple[float, float]:
    """The alphas in [0, 1] with lo <= q0 + alpha (q1 - q0) <= hi for every sample and joint."""
    low, high = 0.0, 1.0
    for q0, q1, (lo, hi) in zip(quantities0, quantities1, bounds):
        slope = q1 - q0
        flat = np.abs(slope) < 1e-15
        if np.any(flat & ((q0 < lo) | (q0 > hi))):
            return 1.0, 0.0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            to_lo, to_hi = (lo - q0) / slope, (hi - q0) / slope
        rising, falling = (slope > 0) & ~flat, (slope < 0) & ~flat
        if np.any(rising):
            high = min(high, float(np.min(to_hi[rising])))
            low = max(low, float(np.max(to_lo[rising])))
        if np.any(falling):
            high = min(high, float(np.min(to_lo[falling])))
            low = max(low, float(np.max(to_hi[falling])))
    return low, high


def limit_target(execution: TrajectoryExecution, target, limits: JointLimits, names=None) -> LimitedTarget:
    """The target to send for `target` (None: a hold) under `limits`; see the module doc."""
    law, dt = execution.law, execution.law.update_period_s
    horizon = law.trajectory_time_s + _SETTLE_UPDATES * dt
    previous_acceleration = execution.desired[2]
    base = stopping_point(execution)
    goal = base if target is None else np.asarray(target, dtype=np.float64)
    if goal.shape != base.shape or not np.all(np.isfinite(goal)):
        return LimitedTarget(None, 0.0, REASON_HOLD)
    bounds = _bounds(limits, names)
    q0 = _derivatives(execution.preview(command_points(base, law), horizon), previous_acceleration, dt)
    q1 = _derivatives(execution.preview(command_points(goal, law), horizon), previous_acceleration, dt)
    low, high = _feasible_interval(q0, q1, bounds)
    if low > high:
        return LimitedTarget(None, 0.0, REASON_HOLD)
    if high >= 1.0:
        return LimitedTarget(goal, 1.0, None)
    alpha = max(low, high * (1.0 - 1e-9))
    return LimitedTarget(base + alpha * (goal - base), alpha, REASON_SCALED)


def peaks(samples: TrajectorySamples, previous_acceleration, dt: float) -> dict[str, np.ndarray]:
    """Per-joint peak |velocity|, |acceleration|, |jerk| and min/max position of executed samples."""
    positions, velocities, accelerations, jerks = _derivatives(samples, previous_acceleration, dt)
    return {
        "position_min": positions.min(axis=0), "position_max": positions.max(axis=0),
        "velocity": np.abs(velocities).max(axis=0), "acceleration": np.abs(accelerations).max(axis=0),
        "jerk": np.abs(jerks).max(axis=0),
    }  # fmt: skip


def violations(peak: dict[str, np.ndarray], limits: JointLimits, names=None, tolerance=1e-9) -> list[str]:
    """'joint: quantity value > limit' for each limit the peaks exceed."""
    names = list(names or [n for n, _ in limits.joints])
    out = []
    for i, name in enumerate(names):
        if peak["position_min"][i] < limits.array("lower", [name])[0] - tolerance:
            out.append(f"{name}: position {peak['position_min'][i]:.4f} < lower limit")
        if peak["position_max"][i] > limits.array("upper", [name])[0] + tolerance:
            out.append(f"{name}: position {peak['position_max'][i]:.4f} > upper limit")
        for key in ("velocity", "acceleration", "jerk"):
            limit = limits.array(key, [name])[0]
            if peak[key][i] > limit * (1 + tolerance):
                out.append(f"{name}: {key} {peak[key][i]:.4g} > {limit:g}")
    return out
