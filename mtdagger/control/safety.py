"""The safety filter between a policy's action and the robot (DESIGN.md §7).

One class, used twice: by the in-process deployment loop (`mtdagger.runtime`) and by the ROS
`arm_controller` node, so what is tested here is what runs on the robot. It mirrors the checks of
MoveIt Servo (reference ros2-conventions.md §6): reject non-finite commands, halt on stale input
(Servo's `incoming_command_timeout`, 0.1 s by default), bound speed and acceleration, stay in a
workspace, and obey an explicit stop.

Commands are in the action convention (`mtdagger.control.action`): a float32[4] of end-effector
displacement for one control step in the robot base frame (m) plus a gripper command. The filter
reasons in velocities, v = displacement / control_period_s.

Rules, in the order they are applied (each produces a reason code in `AppliedCommand.reasons`):

1. Explicit stop (`stop()`): every command is a hold with status 'stopped' and the stop's reason
   (e.g. 'explicit_stop', 'estop') until `clear_stop()`. `reset()` does not clear it: a stop is a
   human decision and only a human (or the node's reset service) undoes it.
2. Bad input => hold (status 'held'). A hold is zero displacement with the gripper kept at its last
   applied value; all reasons found are listed:
   'bad_action_shape' (not 4 numbers), 'non_finite_action' (any NaN/inf, gripper included),
   'bad_ee_position_shape', 'non_finite_ee_position', 'non_finite_stamp',
   'stale_observation' / 'stale_action' (age = now - stamp above its limit),
   'observation_stamp_in_future' / 'action_stamp_in_future' (stamp ahead of `now` by more than
   `future_stamp_tolerance_s`: a clock problem, and a stamp we cannot trust is a stale stamp).
   A hold stops at once: it is exempt from the acceleration bound, because with untrustworthy
   input there is no command worth decelerating along (as Servo halts on a stale command; the
   robot's own controller brings it to rest). A hold counts as zero velocity for what follows,
   so a hold-then-go obeys the acceleration bound.
3. Speed: if |v| > max_speed_m_s the vector is scaled down, direction kept ('speed').
4. Workspace with braking: the target ee_position + v*T must stay in the box, and so must the
   whole braking path the filter could still follow from there, so that the acceleration bound
   never has to be broken to stop at a wall. Per axis, the speed toward a wall at distance s is
   limited to the largest u whose braking distance D(u) = T * sum_k max(0, u - k*c) fits in s,
   where c = max_accel_m_s2 * T / sqrt(3) is the velocity change per step that each axis may use
   while all three brake together (the Euclidean change is then at most max_accel * T).
   D is convex and increasing, so the allowed velocities form a box containing 0; clipping the
   (speed-limited) command to it gives 'workspace_<axis>_<min|max>'.
   Outside the box (after a perturbation, or the arm lagging its command), the wall on that side
   is moved out to the current position: motion that does not go further out, including motion
   back in, is allowed; motion further out is not.
5. Acceleration: |v - v_last| <= max_accel_m_s2 * T, v_last the last applied velocity (0 after a
   hold, a stop or `reset()`). The command is moved from the anchor a = clip(v_last, box of rule 4)
   toward the workspace-clipped command, as far as the bound allows ('accel'). Every point of that
   segment is in the velocity box and within the speed limit (both sets are convex and contain
   both ends; clipping to a box containing 0 only shrinks a vector), so the applied command meets
   speed, acceleration and workspace at once.
   Why the anchor is always within reach when the arm follows its commands: if the last command
   v_last was in the braking box, braking from it (each axis slowed by c) is in the new box, and
   it is within max_accel * T of v_last; `a` is the point of the new box nearest to v_last, so it
   is at least as near. When the measured position jumped (perturbation), no command may satisfy
   both the workspace and the acceleration bound; the workspace wins, the filter applies the anchor
   (the smallest acceleration that keeps the workspace rule) and says 'accel_overridden_by_workspace'.
6. Gripper: clipped to [gripper_min, gripper_max] ('gripper_min' / 'gripper_max').
7. Last, a finite check of what would leave the filter: anything non-finite in the applied command
   or its target is turned into a hold ('non_finite_command'). Rules 3-5 already scale a huge
   finite request (1e308 / T overflows to inf) along its direction, but nothing downstream
   re-checks, so the last word is a check that cannot be bypassed by arithmetic.

The limits themselves (`SafetyLimits`, with their validation) are in `mtdagger.control.safety_limits`
and re-exported here.

Joint-limit margins (`joint_limit_margin_rad`, one number for every joint or a mapping joint name
-> margin) are data of the limits but are enforced where joints are known: by the arm controller
(`mtdagger.control.arm_command`) and the IK (`mtdagger.control.kinematics`).

The applied displacement is rounded to float32 toward zero, so rounding never pushes it out of the
workspace or over the speed bound (both contain the zero command); the acceleration bound then holds
to float32 resolution (about 1e-7 of the speed). The velocity memory and the target use the rounded
values, i.e. what was really applied. An action that needed no clipping is applied bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtdagger.control.action import ACTION_DIM
from mtdagger.control.safety_limits import SafetyLimits

STATUS_OK = "ok"
STATUS_CLIPPED = "clipped"
STATUS_HELD = "held"
STATUS_STOPPED = "stopped"

AXES = ("x", "y", "z")
# Relative slack when deciding whether the anchor is reachable: float rounding only, never policy.
_REACH_RTOL = 1e-9

__all__ = [
    "AXES",
    "STATUS_CLIPPED",
    "STATUS_HELD",
    "STATUS_OK",
    "STATUS_STOPPED",
    "AppliedCommand",
    "SafetyFilter",
    "SafetyLimits",  # defined in mtdagger.control.safety_limits, re-exported for the filter's users
    "braking_speed_limit",
]


@dataclass(frozen=True)
class AppliedCommand:
    """What the filter let through, and why it differs from what was asked."""

    action: np.ndarray  # float32[4] actually applied: displacement (m, base frame) + gripper
    target_position: np.ndarray  # float64[3]: EE position this command leads to
    status: str  # 'ok' | 'clipped' | 'held' | 'stopped'
    reasons: tuple[str, ...]

    @property
    def moved(self) -> bool:
        return self.status in (STATUS_OK, STATUS_CLIPPED)


def braking_speed_limit(distance_m: np.ndarray, period_s: float, delta_v_per_step: float) -> np.ndarray:
    """Largest speed toward a wall `distance_m` away from which braking by `delta_v_per_step` per step
    (starting with this step's full displacement) still stops at or before the wall.

    Braking distance D(u) = T * sum_{k>=0} max(0, u - k c) is the maximum over m of the linear pieces
    L_m(u) = T ((m+1) u - c m (m+1) / 2); hence D(u) <= s iff u <= f(m) = (s/T + c m(m+1)/2) / (m+1)
    for every m. f is convex in m with its continuous minimum at m+1 = sqrt(2 s / (T c)), so the
    minimum over integers is among the few integers around it. Vectorised; 0 for distance 0.
    """
    distance = np.maximum(np.asarray(distance_m, dtype=np.float64), 0.0)
    a = distance / period_s
    c = delta_v_per_step
    m0 = np.floor(np.sqrt(2.0 * a / c) - 1.0)
    candidates = np.maximum(m0[..., None] + np.arange(-1.0, 3.0), 0.0)
    limits = (a[..., None] + c * candidates * (candidates + 1.0) / 2.0) / (candidates + 1.0)
    return limits.min(axis=-1)


def _round_toward_zero_f32(values: np.ndarray) -> np.ndarray:
    rounded = values.astype(np.float32)
    grew = np.abs(rounded.astype(np.float64)) > np.abs(values)
    if np.any(grew):
        rounded[grew] = np.nextafter(rounded[grew], np.float32(0.0))
    return rounded


def _gripper_f32(value: float, low: float, high: float) -> np.float32:
    """Round to float32 without leaving [low, high] (bounds need not be representable)."""
    rounded = np.float32(value)
    if float(rounded) > high:
        rounded = np.nextafter(rounded, np.float32(-np.inf))
    if float(rounded) < low:
        rounded = np.nextafter(rounded, np.float32(np.inf))
    return rounded


def _age_reasons(age_s: float, max_age_s: float, tolerance_s: float, name: str) -> list[str]:
    if age_s > max_age_s:
        return [f"stale_{name}"]
    if age_s < -tolerance_s:
        return [f"{name}_stamp_in_future"]
    return []


class SafetyFilter:
    """Turns a requested action into the command that is safe to apply now (rules in the module doc).

    Stateful: it remembers the last applied velocity (acceleration bound), the last applied gripper
    value (held on a hold), the last trustworthy EE position, and the stop latch. Call `reset()` at
    the start of every episode, before the first `filter()`.
    """

    def __init__(self, limits: SafetyLimits) -> None:
        self.limits = limits
        self._lo = np.asarray(limits.workspace_min, dtype=np.float64)
        self._hi = np.asarray(limits.workspace_max, dtype=np.float64)
        self._period = limits.control_period_s
        self._delta_v = limits.max_delta_v_m_s
        # Per-axis deceleration per step while braking on all axes at once (see rule 4).
        self._brake_delta_v = self._delta_v / math.sqrt(3.0)
        # Before the first applied command the gripper is held open (-1), within the configured bounds.
        self._gripper = self._clip_gripper(-1.0)
        self._velocity = np.zeros(3)
        self._position: np.ndarray | None = None
        self._stop_reason: str | None = None

    def _clip_gripper(self, value: float) -> np.float32:
        low, high = self.limits.gripper_min, self.limits.gripper_max
        return _gripper_f32(min(max(float(value), low), high), low, high)

    # ----------------------------------------------------------------- state control
    def reset(self, ee_position: Sequence[float] | np.ndarray, gripper: float | None = None) -> None:
        """Start an episode at `ee_position`: forget the velocity (the arm is at rest).

        `gripper` sets the value held until the first command (default: keep the last applied value,
        open before any). Does not clear an explicit stop.
        """
        position = np.asarray(ee_position, dtype=np.float64)
        if position.shape != (3,) or not np.all(np.isfinite(position)):
            raise ValueError(f"reset needs a finite 3-D end-effector position, got {ee_position!r}")
        if gripper is not None:
            if not math.isfinite(gripper):
                raise ValueError(f"reset gripper must be finite, got {gripper!r}")
            self._gripper = self._clip_gripper(gripper)
        self._position = position.copy()
        self._velocity = np.zeros(3)

    def stop(self, reason: str = "explicit_stop") -> None:
        """Latch a stop: every command is a hold until `clear_stop()`."""
        self._stop_reason = str(reason) or "explicit_stop"
        self._velocity = np.zeros(3)

    def clear_stop(self) -> None:
        self._stop_reason = None

    @property
    def stopped(self) -> bool:
        return self._stop_reason is not None

    @property
    def last_velocity(self) -> np.ndarray:
        """Velocity of the last applied command (m/s, base frame); zero after a hold."""
        return self._velocity.copy()

    @property
    def last_gripper(self) -> float:
        return float(self._gripper)

    # ----------------------------------------------------------------- the filter
    def filter(
        self,
        action: Any,
        *,
        ee_position: Any,
        now_s: float,
        observation_stamp_s: float,
        action_stamp_s: float,
    ) -> AppliedCommand:
        """Return the command to apply for `action`, given the measured EE position and stamps (s)."""
        if self._position is None:
            raise RuntimeError("SafetyFilter.filter() called before reset(ee_position): "
                               "reset at the start of every episode")

        position, position_reasons = self._parse_position(ee_position)
        if position is not None:
            self._position = position
        if self._stop_reason is not None:
            return self._hold(STATUS_STOPPED, (self._stop_reason,))

        requested, action_reasons = self._parse_action(action)
        reasons = action_reasons + position_reasons + self._stamp_reasons(
            now_s, observation_stamp_s, action_stamp_s)
        if reasons:
            return self._hold(STATUS_HELD, tuple(reasons))
        assert requested is not None and position is not None
        return self._move(requested, position)

    def _parse_action(self, action: Any) -> tuple[np.ndarray | None, list[str]]:
        try:
            requested = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            return None, ["bad_action_shape"]
        if requested.shape != (ACTION_DIM,):
            return None, ["bad_action_shape"]
        if not np.all(np.isfinite(requested)):
            return None, ["non_finite_action"]
        return requested, []

    @staticmethod
    def _parse_position(ee_position: Any) -> tuple[np.ndarray | None, list[str]]:
        try:
            position = np.asarray(ee_position, dtype=np.float64)
        except (TypeError, ValueError):
            return None, ["bad_ee_position_shape"]
        if position.shape != (3,):
            return None, ["bad_ee_position_shape"]
        if not np.all(np.isfinite(position)):
            return None, ["non_finite_ee_position"]
        return position, []

    def _stamp_reasons(self, now_s: float, observation_stamp_s: float, action_stamp_s: float) -> list[str]:
        try:
            stamps = [float(now_s), float(observation_stamp_s), float(action_stamp_s)]
        except (TypeError, ValueError):
            return ["non_finite_stamp"]
        if not all(math.isfinite(s) for s in stamps):
            return ["non_finite_stamp"]
        now, observation, commanded = stamps
        tolerance = self.limits.future_stamp_tolerance_s
        return (_age_reasons(now - observation, self.limits.max_observation_age_s, tolerance, "observation")
                + _age_reasons(now - commanded, self.limits.max_action_age_s, tolerance, "action"))

    def _hold(self, status: str, reasons: tuple[str, ...]) -> AppliedCommand:
        self._velocity = np.zeros(3)
        assert self._position is not None
        action = np.zeros(ACTION_DIM, dtype=np.float32)
        action[3] = self._gripper
        return AppliedCommand(action, self._position.copy(), status, reasons)

    def _velocity_box(self, position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Allowed velocity interval per axis (rule 4): [-lower, upper], both >= 0."""
        room_up = np.maximum(self._hi, position) - position
        room_down = position - np.minimum(self._lo, position)
        limits = braking_speed_limit(np.stack([room_down, room_up]), self._period, self._brake_delta_v)
        return limits[0], limits[1]

    def _move(self, requested: np.ndarray, position: np.ndarray) -> AppliedCommand:
        """Rules 3-7 for a request that passed the input checks: speed, workspace, acceleration,
        gripper, then the final finite check."""
        velocity, reasons = self._speed_limited(requested)
        lower, upper = self._velocity_box(position)
        boxed = np.clip(velocity, -lower, upper)
        for axis, name in enumerate(AXES):
            if velocity[axis] > upper[axis]:
                reasons.append(f"workspace_{name}_max")
            elif velocity[axis] < -lower[axis]:
                reasons.append(f"workspace_{name}_min")
        velocity = self._accel_limited(boxed, lower, upper, reasons)

        # Nothing changed: apply the request bit for bit rather than (request / T) * T.
        displacement = requested[:3] if not reasons else velocity * self._period
        displacement = _round_toward_zero_f32(displacement)
        gripper = float(requested[3])
        if gripper > self.limits.gripper_max:
            reasons.append("gripper_max")
        elif gripper < self.limits.gripper_min:
            reasons.append("gripper_min")
        self._gripper = self._clip_gripper(gripper)

        applied = np.empty(ACTION_DIM, dtype=np.float32)
        applied[:3] = displacement
        applied[3] = self._gripper
        applied_displacement = displacement.astype(np.float64)
        target = position + applied_displacement
        # Rule 7, the last word: nothing non-finite leaves the filter, whatever the arithmetic did.
        if not (np.all(np.isfinite(applied)) and np.all(np.isfinite(target))):
            return self._hold(STATUS_HELD, (*reasons, "non_finite_command"))
        self._velocity = applied_displacement / self._period
        status = STATUS_CLIPPED if reasons else STATUS_OK
        return AppliedCommand(applied, target, status, tuple(reasons))

    def _speed_limited(self, requested: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Rule 3: the requested velocity scaled down to the speed limit, direction kept.

        Its own step because a huge finite request needs care first: dividing by T can overflow
        to inf, and only the direction of such a request is meaningful.
        """
        reasons: list[str] = []
        with np.errstate(over="ignore"):
            velocity = requested[:3] / self._period
        if not np.all(np.isfinite(velocity)):
            # A finite request near 1e308 overflows when divided by T: keep its direction only.
            direction = requested[:3] / np.max(np.abs(requested[:3]))
            velocity = direction * (self.limits.max_speed_m_s / math.hypot(*direction))
            reasons.append("speed")
        speed = math.hypot(*velocity)  # hypot: no overflow for huge requests
        if speed > self.limits.max_speed_m_s:
            velocity = velocity * (self.limits.max_speed_m_s / speed)
            if "speed" not in reasons:
                reasons.append("speed")
        return velocity, reasons

    def _accel_limited(
        self, boxed: np.ndarray, lower: np.ndarray, upper: np.ndarray, reasons: list[str]
    ) -> np.ndarray:
        """Rule 5: move from the anchor (last velocity clipped to the box) toward `boxed` as far as
        the acceleration bound allows; appends 'accel' or 'accel_overridden_by_workspace' to
        `reasons`. Kept apart because its geometry (a segment cut by a sphere) is its own argument,
        written out in the module doc."""
        anchor = np.clip(self._velocity, -lower, upper)
        offset = anchor - self._velocity
        if math.hypot(*offset) > self._delta_v * (1.0 + _REACH_RTOL):
            reasons.append("accel_overridden_by_workspace")
            return anchor
        direction = boxed - anchor
        a = float(direction @ direction)
        b = float(offset @ direction)
        c = float(offset @ offset) - self._delta_v**2
        fraction = (-b + math.sqrt(max(b * b - a * c, 0.0))) / a if a > 0.0 else 1.0
        if fraction < 1.0:
            reasons.append("accel")
            return anchor + max(fraction, 0.0) * direction
        return boxed
