"""Joint limits on the executed trajectory (mtdagger.control.joint_limits): property tests that
drive random and adversarial command sequences through the limiter (alone, and inside the arm
controller's core with the FR3's IK) and the trajectory-execution model at 1 kHz, and count the
trajectories that go beyond a limit: there must be none."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtdagger.control.joint_limits import (
    REASON_HOLD,
    JointLimits,
    limit_target,
    peaks,
    violations,
)
from mtdagger.control.robot_config import load_robot_config
from mtdagger.control.trajectory_execution import TrajectoryExecution, command_points

ROBOT = load_robot_config("franka_fr3")
LIMITS = ROBOT.joint_limits
NAMES = list(ROBOT.joint_names)
LAW = ROBOT.execution_law()
COUNTS = {"commands": 0, "scaled": 0, "holds": 0, "trajectories_beyond_a_limit": 0}


class Controller:
    """The robot's trajectory controller (the same model), and what it executed, at 1 kHz."""

    def __init__(self, start) -> None:
        self.execution = TrajectoryExecution(LAW, start)
        self.previous_acceleration = np.zeros(len(start))

    def run(self, duration_s: float) -> list[str]:
        samples = self.execution.advance(duration_s)
        peak = peaks(samples, self.previous_acceleration, LAW.update_period_s)
        found = violations(peak, LIMITS, NAMES, 1e-6)
        self.previous_acceleration = samples.accelerations[-1].copy()
        return found


def drive(start, targets, period: float = 0.05) -> list[str]:
    """Each target through the limiter, then one control period of execution (the last to rest)."""
    controller = Controller(np.asarray(start, dtype=float))
    found = []
    for target in targets:
        verdict = limit_target(controller.execution, target, LIMITS, NAMES)
        COUNTS["commands"] += 1
        COUNTS["scaled"] += verdict.reason == "joint_limit_scaled"
        COUNTS["holds"] += verdict.reason == REASON_HOLD
        if verdict.positions is not None:
            assert controller.execution.receive(command_points(verdict.positions, LAW)) is None
        problems = controller.run(period)
        COUNTS["trajectories_beyond_a_limit"] += bool(problems)
        found += problems
    found += controller.run(LAW.trajectory_time_s + 0.05)
    return found


HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
lower, upper = LIMITS.array("lower"), LIMITS.array("upper")
step = st.lists(st.floats(-1.5, 1.5), min_size=7, max_size=7)
special = st.sampled_from(["nan", "reverse", "jump", "limit", "none"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(step, special), min_size=2, max_size=12))
def test_no_random_or_adversarial_command_sequence_leaves_beyond_a_limit(sequence):
    targets, q = [], HOME.copy()
    for delta, kind in sequence:
        delta = np.asarray(delta) * 0.05
        if kind == "nan":
            targets.append(np.full(7, math.nan))
            continue
        if kind == "none":
            targets.append(None)  # a hold
            continue
        if kind == "jump":
            delta = delta * 40  # up to 3 rad in one step
        if kind == "limit":
            q = np.where(delta > 0, upper + 0.1, lower - 0.1)  # beyond the hard limits
        elif kind == "reverse" and targets and targets[-1] is not None:
            q = q - 2 * delta
        else:
            q = q + delta
        targets.append(q.copy())
    assert drive(HOME, targets) == []


def test_reversals_every_step_at_full_step_size_stay_within_limits():
    rng = np.random.default_rng(7)
    for _ in range(5):
        amplitude = rng.uniform(0.01, 0.4, 7)
        targets = [HOME + amplitude * (-1) ** k for k in range(40)]
        assert drive(HOME, targets) == []


def test_a_step_within_limits_is_sent_as_it_is_and_a_too_fast_one_is_scaled():
    execution = TrajectoryExecution(LAW, HOME)
    small = limit_target(execution, HOME + 0.01, LIMITS, NAMES)
    assert small.reason is None and small.fraction == 1.0
    np.testing.assert_allclose(small.positions, HOME + 0.01)
    large = limit_target(execution, HOME + 1.0, LIMITS, NAMES)  # 1 rad in 0.2 s: over 10 rad/s^2
    assert large.reason == "joint_limit_scaled" and 0 < large.fraction < 0.2
    assert limit_target(execution, np.full(7, math.nan), LIMITS, NAMES).positions is None


def test_the_limits_are_the_fr3_datasheet_values_and_bad_ones_are_refused():
    assert LIMITS.array("velocity").tolist() == [2.62, 2.62, 2.62, 2.62, 5.26, 4.18, 5.26]
    assert set(LIMITS.array("acceleration")) == {10.0} and set(LIMITS.array("jerk")) == {5000.0}
    entry = {"lower": -1, "upper": 1, "velocity": 1, "acceleration": 1, "jerk": 1}
    with pytest.raises(ValueError, match=r"joint_limits\.a: velocity must be > 0"):
        JointLimits.from_dict({"a": {**entry, "velocity": 0}}, ["a"])
    with pytest.raises(ValueError, match="needs exactly the keys"):
        JointLimits.from_dict({"a": {**entry, "snap": 1}}, ["a"])
    with pytest.raises(ValueError, match="missing"):
        JointLimits.from_dict({}, ["a"])


def test_the_arm_controller_core_never_sends_a_trajectory_beyond_a_limit():
    """Random and adversarial EE actions through the FR3's arm controller core (safety filter, IK
    near the workspace corners, holds, NaN actions) executed by the controller model, perfect
    tracking: every trajectory the core sends is within the limits at 1 kHz."""
    from scipy.spatial.transform import Rotation

    from mtdagger.control.arm_command import ArmControlCore, ArmControlSettings
    from mtdagger.control.kinematics import ArmKinematics
    from sim_bridge.fr3.model import BASE_LINK, TCP_LINK, fr3_urdf

    kinematics = ArmKinematics(fr3_urdf(), BASE_LINK, TCP_LINK)
    rng = np.random.default_rng(20)
    core = ArmControlCore(ROBOT, ArmControlSettings("joint_trajectory", 1.0))
    core.set_kinematics(kinematics)
    controller = Controller(HOME)
    found, sent = [], 0
    for k in range(240):
        now = 0.05 * k
        q = controller.execution.desired[0]
        T = kinematics.forward(q)
        core.on_ee_pose(T[:3, 3], now, Rotation.from_matrix(T[:3, :3]).as_quat())
        core.on_joint_state(NAMES, q)
        action = rng.uniform(-1, 1, 4) * (1 if k % 40 < 20 else 5)  # beyond the convention too
        if k % 2:
            action[:3] *= -1  # reversal every step
        if k % 37 == 0:
            action[0] = math.nan
        command = core.on_action(action, now, now)
        if command is not None and command.joint_positions is not None:
            assert controller.execution.receive(core.trajectory_points(command.joint_positions)) is None
            sent += 1
        problems = controller.run(0.05)
        COUNTS["commands"] += 1
        COUNTS["trajectories_beyond_a_limit"] += bool(problems)
        found += problems
    found += controller.run(0.3)
    print(f"\narm controller core: {sent} trajectories sent of 240 actions; beyond a limit: {len(found)}")
    assert sent > 100 and found == []


def test_zz_report_counts():
    print(f"\njoint-limit property tests: {COUNTS}")
    assert COUNTS["commands"] > 0 and COUNTS["trajectories_beyond_a_limit"] == 0
