"""Test-only reference of the Jazzy joint_trajectory_controller's documented law, written
independently of mtdagger.control.trajectory_execution (scalar, per joint, per update) to check it.

Transcribed from ros2_controllers (branch jazzy), joint_trajectory_controller:
- trajectory.cpp `interpolate_between_points`: linear / cubic / quintic by the fields present on
  both ends; clamped to the segment (then derivatives as in the linear branch);
- `set_point_before_trajectory_msg`: missing start velocities/accelerations become 0 when the
  first point has them;
- joint_trajectory_controller.cpp `update`: a new message is taken at the next update; its start
  time is that update (header stamp 0); with interpolate_from_desired_state the state before it is
  `last_commanded_state_` (the previous update's sample at t + period) at `last_commanded_time_`
  (the previous update's t), else the measured state at t; state_desired_ = sample(t).
"""

from __future__ import annotations


def _coefficients(p0, v0, a0, p1, v1, a1, T):
    """Polynomial coefficients (lowest first) of one joint's segment."""
    if v0 is None or v1 is None:
        return [p0, (p1 - p0) / T if T else 0.0], "linear"
    if a0 is None or a1 is None:
        c2 = (-3.0 * p0 + 3.0 * p1 - 2.0 * v0 * T - v1 * T) / (T * T) if T else 0.0
        c3 = (2.0 * p0 - 2.0 * p1 + v0 * T + v1 * T) / (T**3) if T else 0.0
        return [p0, v0, c2, c3], "cubic"
    if not T:
        return [p0, v0, 0.5 * a0, 0.0, 0.0, 0.0], "quintic"
    c3 = (-20.0 * p0 + 20.0 * p1 - 3.0 * a0 * T**2 + a1 * T**2 - 12.0 * v0 * T - 8.0 * v1 * T) / (2.0 * T**3)
    c4 = (30.0 * p0 - 30.0 * p1 + 3.0 * a0 * T**2 - 2.0 * a1 * T**2 + 16.0 * v0 * T + 14.0 * v1 * T) / (
        2.0 * T**4
    )
    c5 = (-12.0 * p0 + 12.0 * p1 - a0 * T**2 + a1 * T**2 - 6.0 * v0 * T - 6.0 * v1 * T) / (2.0 * T**5)
    return [p0, v0, 0.5 * a0, c3, c4, c5], "quintic"


def _evaluate(coefficients, kind, s):
    p = sum(c * s**i for i, c in enumerate(coefficients))
    if kind == "linear":
        return p, coefficients[1], 0.0
    v = sum(i * c * s ** (i - 1) for i, c in enumerate(coefficients) if i)
    a = sum(i * (i - 1) * c * s ** (i - 2) for i, c in enumerate(coefficients) if i > 1)
    return p, v, a


def sample(knots, t, joint):
    """(p, v, a) of one joint at time t; knots: [(time, p, v|None, a|None)] per joint arrays."""
    for k in range(len(knots) - 1):
        t0, p0, v0, a0 = knots[k]
        t1, p1, v1, a1 = knots[k + 1]
        if t < t1:
            get = lambda x: None if x is None else float(x[joint])  # noqa: E731
            coefficients, kind = _coefficients(
                float(p0[joint]), get(v0), get(a0), float(p1[joint]), get(v1), get(a1), t1 - t0
            )
            elapsed = t - t0
            if elapsed < 0:
                return _evaluate(coefficients, "linear", 0.0)
            return _evaluate(coefficients, kind, elapsed)
    _, p, v, a = knots[-1]
    return float(p[joint]), 0.0 if v is None else float(v[joint]), 0.0 if a is None else float(a[joint])


def run(initial, messages, total_updates, dt=0.001, from_desired=True):
    """Desired states of `total_updates` updates. `messages`: {update index: [(time_from_start,
    positions, velocities|None, accelerations|None)]}, each received just before that update.
    Returns lists of per-update position and velocity lists."""
    dof = len(initial)
    desired = [(float(x), 0.0, 0.0) for x in initial]
    last_command = list(desired)
    last_time = 0.0
    knots = None
    positions, velocities = [], []
    for n in range(total_updates):
        t = n * dt
        if n in messages:
            points = messages[n]
            first_v, first_a = points[0][2], points[0][3]
            if from_desired:
                before_t, state = last_time, last_command
            else:  # measured = the last desired state (perfect tracking); no acceleration interface
                before_t, state = t, [(p, v, 0.0) for p, v, _a in desired]
            p0 = [s[0] for s in state]
            v0 = None if first_v is None else [s[1] for s in state]
            a0 = None if first_a is None else [s[2] for s in state]
            knots = [(before_t, p0, v0, a0)] + [(t + tfs, p, v, a) for tfs, p, v, a in points]
        if knots is not None:
            desired = [sample(knots, t, j) for j in range(dof)]
            last_command = [sample(knots, t + dt, j) for j in range(dof)]
        else:
            last_command = desired
        last_time = t
        positions.append([s[0] for s in desired])
        velocities.append([s[1] for s in desired])
    return positions, velocities
