"""What a ros2_controllers (Jazzy) joint_trajectory_controller does with the arm controller's
JointTrajectory messages, ROS-free: the ONE model of trajectory execution.

Used by the FR3 training backend, `deploy --sim fr3`, the FR3 rehearsal cell, the joint-limit
check before a trajectory leaves (`mtdagger.control.joint_limits`) and the reflex check of bags
(`mtdagger.recording.reflex_check`), so that what the student learns, what is rehearsed and what is
checked is one law. Transcribed from joint_trajectory_controller's `trajectory.cpp` and
`joint_trajectory_controller.cpp` (branch jazzy):

- interpolation by the fields the points carry (`interpolate_between_points`): positions only ->
  linear (velocity = slope, acceleration 0); positions + velocities -> cubic; + accelerations ->
  quintic. Past the last point the output is that point (missing derivatives 0);
- a trajectory with header stamp 0 starts at the controller update that first samples it, and
  replaces the active one there (`update()` swaps `current_trajectory_`);
- the segment before the first point starts from the state before the trajectory
  (`set_point_before_trajectory_msg`): the measured state (default), or with
  `interpolate_from_desired_state` the last command, which is the previous update's look-ahead
  sample (`command_next_`, one update period ahead) stamped with the previous update's time. So a
  replacement from the desired state advances the reference by one update period (1 ms at 1 kHz)
  while velocity and acceleration stay continuous; the model does the same. A start state lacking
  velocities/accelerations that the first point has gets zeros;
- the desired state of an update at time t is the trajectory sampled at t (what the PID of an
  effort interface tracks); `TrajectorySamples` are these, one per update period.

What the arm controller sends is `command_points`: one point at the robot config's trajectory
time with the target positions and, per the robot config's `trajectory_point_fields`, zero
velocities (Jazzy rejects a non-zero end velocity unless allow_nonzero_velocity_at_trajectory_end)
and zero accelerations. For the FR3 that is a quintic from the desired state (position, velocity,
acceleration) to rest at the target: a replacement every control period keeps the reference C2,
so its 1 kHz jerk stays bounded, where a cubic would jump in acceleration at every replacement
and a linear one in velocity.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass

import numpy as np

POINT_FIELDS = ("positions", "positions_velocities", "positions_velocities_accelerations")
START_STATES = ("measured", "desired")
UPDATE_RATE_HZ = 1000.0  # franka_ros2's controller_manager update_rate


@dataclass(frozen=True)
class ExecutionLaw:
    """How the robot's trajectory controller executes what the arm controller sends."""

    trajectory_time_s: float  # time_from_start of the one point the arm controller sends
    point_fields: str = "positions_velocities_accelerations"
    start_state: str = "desired"
    update_period_s: float = 1.0 / UPDATE_RATE_HZ

    def __post_init__(self) -> None:
        if self.point_fields not in POINT_FIELDS:
            raise ValueError(f"trajectory_point_fields: one of {POINT_FIELDS}, got {self.point_fields!r}")
        if self.start_state not in START_STATES:
            raise ValueError(f"trajectory_start_state: one of {START_STATES}, got {self.start_state!r}")
        for name in ("trajectory_time_s", "update_period_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


@dataclass(frozen=True)
class TrajectoryPoint:
    """A trajectory_msgs/JointTrajectoryPoint: None for a field the message leaves empty."""

    positions: np.ndarray
    time_from_start_s: float
    velocities: np.ndarray | None = None
    accelerations: np.ndarray | None = None


@dataclass(frozen=True)
class TrajectorySamples:
    """The desired state at each controller update: (n,) times and (n, dof) arrays."""

    times_s: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    accelerations: np.ndarray


def command_points(target_positions, law: ExecutionLaw) -> tuple[TrajectoryPoint, ...]:
    """The JointTrajectory points the arm controller sends for one joint target (robot order).
    The arm controller's message builder and every emulation use this one definition."""
    positions = np.asarray(target_positions, dtype=np.float64).copy()
    zeros = np.zeros_like(positions)
    with_velocities = law.point_fields != "positions"
    with_accelerations = law.point_fields == "positions_velocities_accelerations"
    return (
        TrajectoryPoint(
            positions,
            float(law.trajectory_time_s),
            zeros.copy() if with_velocities else None,
            zeros.copy() if with_accelerations else None,
        ),
    )


def check_points(points, dof: int) -> str | None:
    """Why the controller would reject these points (None: accepted), as the JTC validates."""
    if not points:
        return "a trajectory without points"
    previous = -math.inf
    for point in points:
        time_s = point.time_from_start_s
        if not (math.isfinite(time_s) and time_s > previous and time_s >= 0):
            return "point times must be finite and strictly increasing"
        previous = time_s
        for name in ("positions", "velocities", "accelerations"):
            values = getattr(point, name)
            if values is None:
                continue
            array = np.asarray(values, dtype=np.float64)
            if array.shape != (dof,) or not np.all(np.isfinite(array)):
                return f"a point with missing or non-finite {name}"
    last = points[-1].velocities
    if last is not None and np.any(np.abs(np.asarray(last)) > np.finfo(np.float32).eps):
        return "the last point's velocities are not zero (allow_nonzero_velocity_at_trajectory_end)"
    return None


def interpolate(t0, start, t1, end, t):
    """JTC `interpolate_between_points`: (position, velocity, acceleration) arrays at time t of the
    segment from state `start` at t0 to point `end` at t1; each state is (p, v|None, a|None)."""
    p0, v0, a0 = start
    p1, v1, a1 = end
    duration = t1 - t0
    elapsed = t - t0
    has_velocity = v0 is not None and v1 is not None
    has_accel = a0 is not None and a1 is not None
    if elapsed < 0.0:
        elapsed, has_velocity, has_accel = 0.0, False, False
    if elapsed > duration:
        elapsed, has_velocity, has_accel = duration, False, False
    zeros = np.zeros_like(p0)
    if not has_velocity and not has_accel:
        slope = (p1 - p0) / duration if duration != 0.0 else zeros
        return p0 + slope * elapsed, slope.copy(), zeros
    if has_velocity and not has_accel:
        c = [p0, v0, zeros, zeros]
        if duration != 0.0:
            c[2] = (-3.0 * p0 + 3.0 * p1 - 2.0 * v0 * duration - v1 * duration) / duration**2
            c[3] = (2.0 * p0 - 2.0 * p1 + v0 * duration + v1 * duration) / duration**3
    else:
        c = [p0, v0, 0.5 * a0, zeros, zeros, zeros]
        if duration != 0.0:
            T = duration
            c[3] = (20 * (p1 - p0) - (8 * v1 + 12 * v0) * T - (3 * a0 - a1) * T**2) / (2 * T**3)
            c[4] = (30 * (p0 - p1) + (14 * v1 + 16 * v0) * T + (3 * a0 - 2 * a1) * T**2) / (2 * T**4)
            c[5] = (12 * (p1 - p0) - 6 * (v1 + v0) * T - (a0 - a1) * T**2) / (2 * T**5)
    position = sum(ci * elapsed**i for i, ci in enumerate(c))
    velocity = sum(i * ci * elapsed ** (i - 1) for i, ci in enumerate(c) if i >= 1)
    acceleration = sum(i * (i - 1) * ci * elapsed ** (i - 2) for i, ci in enumerate(c) if i >= 2)
    if not has_velocity:  # has_accel without velocity does not occur for our points
        velocity = zeros
    return position, velocity, acceleration


def _state(point: TrajectoryPoint):
    return (
        np.asarray(point.positions, dtype=np.float64),
        None if point.velocities is None else np.asarray(point.velocities, dtype=np.float64),
        None if point.accelerations is None else np.asarray(point.accelerations, dtype=np.float64),
    )


class _Active:
    """One received trajectory once sampled: the state before it and its points, absolute times."""

    def __init__(self, before_time: float, before, start_time: float, points) -> None:
        first = points[0]
        p, v, a = before
        if v is None and first.velocities is not None:
            v = np.zeros_like(p)
        if a is None and first.accelerations is not None:
            a = np.zeros_like(p)
        self.knots = [(before_time, (p, v, a))]
        self.knots += [(start_time + point.time_from_start_s, _state(point)) for point in points]

    def sample(self, t: float):
        knots = self.knots
        for (t0, start), (t1, end) in itertools.pairwise(knots):
            if t < t1:
                return interpolate(t0, start, t1, end, t)
        p, v, a = knots[-1][1]
        zeros = np.zeros_like(p)
        return p.copy(), zeros if v is None else v.copy(), zeros if a is None else a.copy()


class TrajectoryExecution:
    """A joint_trajectory_controller at its update rate, fed JointTrajectory points (see module)."""

    def __init__(self, law: ExecutionLaw, positions) -> None:
        self.law = law
        start = np.asarray(positions, dtype=np.float64).copy()
        self.dof = start.shape[0]
        zeros = np.zeros_like(start)
        self._tick = 0  # index of the next update; its time is tick * update_period_s
        self._active: _Active | None = None
        self._pending = None
        self._desired = (start, zeros.copy(), zeros.copy())
        self._last_command = (start.copy(), zeros.copy(), zeros.copy())
        self._last_command_time = 0.0
        self._measured = (start.copy(), zeros.copy())

    @property
    def now_s(self) -> float:
        return self._tick * self.law.update_period_s

    @property
    def desired(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(positions, velocities, accelerations) of the last update's desired state."""
        return tuple(x.copy() for x in self._desired)

    def measure(self, positions, velocities) -> None:
        """The measured joint state (start state of a trajectory when start_state is 'measured')."""
        self._measured = (np.asarray(positions, float).copy(), np.asarray(velocities, float).copy())

    def receive(self, points) -> str | None:
        """A new trajectory; it replaces the active one at the next update. None, or why rejected."""
        points = tuple(points)
        error = check_points(points, self.dof)
        if error is None:
            self._pending = points
        return error

    def advance(self, duration_s: float) -> TrajectorySamples:
        """Run the controller's updates for `duration_s` (rounded to whole updates)."""
        count = max(0, round(duration_s / self.law.update_period_s))
        times = np.empty(count)
        out = np.empty((3, count, self.dof))
        for i in range(count):
            times[i] = self.now_s
            out[:, i] = self._update()
        return TrajectorySamples(times, out[0], out[1], out[2])

    def preview(self, points, duration_s: float) -> TrajectorySamples:
        """What `receive(points)` then `advance(duration_s)` would execute, leaving self unchanged."""
        trial = copy.deepcopy(self)
        error = trial.receive(points)
        if error is not None:
            raise ValueError(error)
        return trial.advance(duration_s)

    def _update(self):
        dt = self.law.update_period_s
        now = self.now_s
        if self._pending is not None:
            if self.law.start_state == "desired":
                before_time, before = self._last_command_time, self._last_command
            else:
                before_time, (p, v) = now, self._measured
                before = (p, v, None)
            self._active = _Active(before_time, before, now, self._pending)
            self._pending = None
        if self._active is not None:
            self._desired = self._active.sample(now)
            self._last_command = self._active.sample(now + dt)
        else:
            self._last_command = self._desired
        self._last_command_time = now
        self._tick += 1
        return self._desired
