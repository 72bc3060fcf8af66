"""EePoseFromJoints (mtdagger/control/ee_pose.py), what the `ee_state` node computes: one EE pose
per joint state, stamped with it (issue 21: the TF-sampling node missed a /tf published once and
gave poses older than the observation, which the arm controller held as stale)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mtdagger.control.arm_command import ArmControlCore, ArmControlSettings
from mtdagger.control.ee_pose import EePoseFromJoints
from mtdagger.control.kinematics import ArmKinematics, KinematicsError
from mtdagger.control.robot_config import load_robot_config
from sim_bridge.fr3.model import ARM_JOINTS, fr3_urdf

NAMES = [*ARM_JOINTS, "fr3_finger_joint1", "fr3_finger_joint2"]
Q = np.array([0.1, -0.4, 0.05, -2.2, 0.02, 1.9, 0.8])
PERIOD_NS = 50_000_000


@pytest.fixture(scope="module")
def urdf() -> str:
    return fr3_urdf()


def core(urdf: str, min_interval_s: float = 0.0) -> EePoseFromJoints:
    poses = EePoseFromJoints("fr3_link0", "fr3_hand_tcp", min_interval_s)
    poses.set_robot_description(urdf)
    return poses


def test_the_pose_is_the_urdf_forward_kinematics_stamped_with_the_joint_state(urdf):
    pose = core(urdf).pose(NAMES, [*Q, 0.04, 0.04], 1_050_000_000)
    T = ArmKinematics(urdf, "fr3_link0", "fr3_hand_tcp").forward(Q)
    assert pose.stamp_ns == 1_050_000_000
    np.testing.assert_allclose(pose.position, T[:3, 3], atol=1e-12)
    R = Rotation.from_quat(pose.orientation_xyzw).as_matrix()
    np.testing.assert_allclose(R, T[:3, :3], atol=1e-9)
    # joint order is the message's own
    shuffled = core(urdf).pose(list(reversed(NAMES)), list(reversed([*Q, 0.04, 0.04])), 1)
    np.testing.assert_allclose(shuffled.position, pose.position, atol=1e-12)


def test_no_pose_without_a_description_or_for_an_incomplete_state_and_the_reason_is_kept(urdf):
    poses = EePoseFromJoints("fr3_link0", "fr3_hand_tcp")
    assert poses.pose(NAMES, [*Q, 0.0, 0.0], 1) is None and "robot description" in poses.problem
    poses.set_robot_description(urdf)
    assert poses.pose(NAMES[:6], list(Q[:6]), 2) is None and "fr3_joint7" in poses.problem
    assert poses.pose(NAMES, [math.nan, *Q[1:], 0.0, 0.0], 3) is None and "non-finite" in poses.problem
    with pytest.raises(KinematicsError):
        EePoseFromJoints("fr3_link0", "no_such_link").set_robot_description(urdf)


def test_a_republished_state_gives_its_pose_again_for_a_late_subscriber(urdf):
    poses = core(urdf)
    first = poses.pose(NAMES, [*Q, 0.0, 0.0], 1_000_000_000)
    again = poses.pose(NAMES, [*Q, 0.0, 0.0], 1_000_000_000)  # the lockstep cell, still waiting
    assert again is not None and again.stamp_ns == first.stamp_ns
    np.testing.assert_array_equal(again.position, first.position)


def test_the_rate_cap_counts_on_stamps_and_never_drops_a_state_a_period_newer(urdf):
    poses = core(urdf, min_interval_s=0.05)
    stamps = [1_000_000_000 + k * 1_000_000 for k in range(0, 101)]  # a 1 kHz joint-state stream
    published = [s for s in stamps if poses.pose(NAMES, [*Q, 0.0, 0.0], s) is not None]
    assert published == [1_000_000_000, 1_050_000_000, 1_100_000_000]
    assert poses.problem == ""  # a capped state is not a problem worth a warning
    with pytest.raises(ValueError, match="min_interval_s"):
        EePoseFromJoints("a", "b", -1.0)


def test_in_lockstep_the_arm_controller_sees_the_cameras_age_not_a_sampling_delay(urdf):
    """Poses stamped by their joint state: after every step the watchdog's observation age is one
    period, so it never holds. A pose sampled late (the old TF timer: its stamp several periods
    behind the camera when the simulation runs faster than the sampling) is a stale observation:
    the hold the issue saw only under rehearse.launch.py."""
    robot = load_robot_config("franka_fr3")
    poses = core(urdf)

    def run(lag_periods: int) -> set[str]:
        arm = ArmControlCore(robot, ArmControlSettings("twist"))
        reasons: set[str] = set()
        for k in range(1, 12):
            stamp = 1_000_000_000 + k * PERIOD_NS
            pose = poses.pose(NAMES, [*Q, 0.04, 0.04], stamp - lag_periods * PERIOD_NS)
            arm.on_ee_pose(pose.position, pose.stamp_ns / 1e9, pose.orientation_xyzw)
            command = arm.on_action([0.001, 0.0, 0.0, -1.0], stamp / 1e9, stamp / 1e9)
            reasons |= set(command.applied.reasons)
            tick = arm.on_tick((stamp + PERIOD_NS) / 1e9)  # /clock moves on with the step
            reasons |= set(tick.applied.reasons) if tick is not None else set()
        return reasons

    assert not {r for r in run(0) if r.startswith("stale")}
    assert "stale_observation" in run(5)
