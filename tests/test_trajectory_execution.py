"""mtdagger.control.trajectory_execution against an independent transcription of the Jazzy
joint_trajectory_controller's law (tests/jtc_reference.py), and the law's properties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtdagger.control.trajectory_execution import (
    POINT_FIELDS,
    ExecutionLaw,
    TrajectoryExecution,
    TrajectoryPoint,
    command_points,
)
from tests import jtc_reference

DT = 0.001


def _run_model(law, initial, targets, updates_per_command):
    execution = TrajectoryExecution(law, initial)
    positions, velocities = [], []
    for target in targets:
        desired = execution.desired
        execution.measure(desired[0], desired[1])  # perfect tracking, as the reference assumes
        execution.receive(command_points(target, law))
        samples = execution.advance(updates_per_command * DT)
        positions.append(samples.positions)
        velocities.append(samples.velocities)
    return np.concatenate(positions), np.concatenate(velocities)


def _run_reference(law, initial, targets, updates_per_command):
    messages = {}
    for k, target in enumerate(targets):
        (point,) = command_points(target, law)
        messages[k * updates_per_command] = [(point.time_from_start_s, point.positions, point.velocities,
                                              point.accelerations)]  # fmt: skip
    positions, velocities = jtc_reference.run(
        initial, messages, len(targets) * updates_per_command, DT, law.start_state == "desired"
    )
    return np.asarray(positions), np.asarray(velocities)


def command_sequence(seed: int, count: int = 30, dof: int = 3) -> tuple[np.ndarray, list[np.ndarray]]:
    """Random walks with reversals and a jump: what a policy's IK targets can look like."""
    rng = np.random.default_rng(seed)
    initial = rng.uniform(-1, 1, dof)
    steps = rng.normal(0, 0.02, (count, dof)) * np.where(np.arange(count) % 2, -1, 1)[:, None]
    steps[count // 2] += 0.3
    return initial, list(initial + np.cumsum(steps, axis=0))


@pytest.mark.parametrize("fields", POINT_FIELDS)
@pytest.mark.parametrize("start_state", ["desired", "measured"])
def test_the_model_executes_what_the_reference_transcription_of_the_jtc_does(fields, start_state):
    law = ExecutionLaw(0.1, fields, start_state)
    initial, targets = command_sequence(seed=len(fields))
    model = _run_model(law, initial, targets, 50)
    reference = _run_reference(law, initial, targets, 50)
    np.testing.assert_allclose(model[0], reference[0], atol=1e-12)
    np.testing.assert_allclose(model[1], reference[1], atol=1e-9)


def test_interpolation_follows_the_fields_of_the_points():
    one = np.zeros(1)
    linear = TrajectoryExecution(ExecutionLaw(0.1, "positions"), one)
    linear.receive([TrajectoryPoint(np.ones(1), 0.1)])
    samples = linear.advance(0.05)
    np.testing.assert_allclose(samples.velocities, 10.0)  # slope, constant
    np.testing.assert_allclose(samples.accelerations, 0.0)
    cubic = TrajectoryExecution(ExecutionLaw(0.1, "positions_velocities"), one)
    cubic.receive(command_points(np.ones(1), cubic.law))
    samples = cubic.advance(0.2)
    assert samples.accelerations[0, 0] == pytest.approx(600.0)  # 6 / T^2 from rest
    assert samples.positions[-1, 0] == pytest.approx(1.0) and samples.velocities[-1, 0] == 0.0
    quintic = TrajectoryExecution(ExecutionLaw(0.1), one)
    quintic.receive(command_points(np.ones(1), quintic.law))
    samples = quintic.advance(0.2)
    assert samples.accelerations[0, 0] == pytest.approx(0.0)  # starts at rest, C2
    assert samples.positions[50, 0] == pytest.approx(0.5)  # symmetric rest-to-rest quintic


def _replacement_jumps(fields):
    """Velocity and acceleration change over a replacement, relative to the largest change between
    two updates of the new trajectory itself (O(1): continuous; large: a jump)."""
    law = ExecutionLaw(0.1, fields)
    execution = TrajectoryExecution(law, np.zeros(2))
    execution.receive(command_points([0.3, -0.2], law))
    first = execution.advance(0.05)
    execution.receive(command_points([0.0, 0.4], law))
    second = execution.advance(0.05)
    ratios = []
    for key in ("velocities", "accelerations"):
        a, b = getattr(first, key), getattr(second, key)
        jump = np.abs(b[0] - a[-1]).max()
        ratios.append(jump / (np.abs(np.diff(b, axis=0)).max() + 1e-12))
    return ratios


def test_a_new_trajectory_replaces_the_active_one_continuously_from_the_desired_state():
    velocity, acceleration = _replacement_jumps("positions_velocities_accelerations")
    assert velocity < 2.5 and acceleration < 2.5  # the one-update look-ahead: at most ~2 updates
    _, cubic_acceleration = _replacement_jumps("positions_velocities")
    assert cubic_acceleration > 10  # a cubic restarts its acceleration: the check can tell


def test_without_a_new_trajectory_the_arm_ends_at_rest_on_the_point():
    law = ExecutionLaw(0.1)
    execution = TrajectoryExecution(law, np.zeros(1))
    execution.receive(command_points([0.2], law))
    samples = execution.advance(0.3)
    assert samples.positions[-1, 0] == 0.2 and samples.velocities[-1, 0] == 0.0


def test_points_a_jtc_rejects_are_rejected_and_leave_the_active_trajectory():
    law = ExecutionLaw(0.1)
    execution = TrajectoryExecution(law, np.zeros(2))
    assert "without points" in execution.receive([])
    assert "non-finite" in execution.receive([TrajectoryPoint(np.array([math.nan, 0.0]), 0.1)])
    assert "non-finite" in execution.receive([TrajectoryPoint(np.zeros(3), 0.1)])
    assert "not zero" in execution.receive([TrajectoryPoint(np.zeros(2), 0.1, np.ones(2))])
    assert "increasing" in execution.receive([TrajectoryPoint(np.zeros(2), math.inf)])
    samples = execution.advance(0.01)
    np.testing.assert_array_equal(samples.positions, 0.0)
    with pytest.raises(ValueError, match="trajectory_point_fields"):
        ExecutionLaw(0.1, "positions_accelerations")
    with pytest.raises(ValueError, match="trajectory_time_s"):
        ExecutionLaw(math.nan)
