"""The arm controller's decisions (mtdagger/control/arm_command.py), without ROS."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mtdagger.control.arm_command import ArmControlCore, ArmControlSettings
from mtdagger.control.kinematics import ArmKinematics, IkSettings
from mtdagger.control.robot_config import ControllerTopics, GripperConfig, load_robot_config
from mtdagger.control.safety import SafetyLimits

PERIOD = 0.05
START = np.array([0.4, 0.0, 0.3])
IDENTITY_XYZW = np.array([0.0, 0.0, 0.0, 1.0])


def _robot(**changes):
    """A robot config with every controller topic, a roomy workspace and a Franka-like gripper."""
    base = load_robot_config("franka_fr3")
    limits = SafetyLimits(
        workspace_min=(-1.0, -1.0, 0.0),
        workspace_max=(1.0, 1.0, 1.0),
        max_speed_m_s=1.0,
        max_accel_m_s2=100.0,
        max_observation_age_s=0.2,
        max_action_age_s=0.1,
        control_period_s=PERIOD,
    )
    topics = ControllerTopics(
        joint_trajectory_topic="/arm/joint_trajectory",
        cartesian_pose_topic="/impedance/equilibrium_pose",
        servo_twist_topic="/servo_node/delta_twist_cmds",
        gripper_action="/gripper/gripper_action",
    )
    robot = dataclasses.replace(
        base,
        base_frame="base",
        ee_frame="tip",
        joint_names=("yaw", "shoulder", "elbow"),
        joint_limits=None,  # the FR3's dynamics limits: tests/test_joint_limits.py
        safety=limits,
        controllers=topics,
        gripper=GripperConfig(open_position_m=0.04, closed_position_m=0.0, max_effort_n=20.0),
    )
    return dataclasses.replace(robot, **changes)


def _core(interface="twist", threshold=0.5, robot=None, now=10.0) -> ArmControlCore:
    core = ArmControlCore(
        robot or _robot(), ArmControlSettings(interface, gripper_change_threshold=threshold)
    )
    core.on_ee_pose(START, now, IDENTITY_XYZW)
    return core


def _joint(name, parent, child, xyz, axis, lower=-2.8, upper=2.8, kind="revolute"):
    limit = f'<limit lower="{lower}" upper="{upper}" effort="1" velocity="1"/>' if kind != "fixed" else ""
    axis_xml = f'<axis xyz="{axis}"/>' if kind != "fixed" else ""
    return (
        f'<joint name="{name}" type="{kind}"><parent link="{parent}"/><child link="{child}"/>'
        f'<origin xyz="{xyz}"/>{axis_xml}{limit}</joint>'
    )


def _three_dof_urdf(yaw_limit=2.8):
    links = "".join(f'<link name="{n}"/>' for n in ("base", "a", "b", "c", "tip"))
    joints = (
        _joint("yaw", "base", "a", "0 0 0.2", "0 0 1", -yaw_limit, yaw_limit)
        + _joint("shoulder", "a", "b", "0 0 0", "0 1 0")
        + _joint("elbow", "b", "c", "0 0 0.4", "0 1 0")
        + _joint("tip_joint", "c", "tip", "0 0 0.3", "", kind="fixed")
    )
    return f"<robot name='arm'>{links}{joints}</robot>"


def _arm_core(yaw_limit=2.8, now=10.0):
    kinematics = ArmKinematics(_three_dof_urdf(yaw_limit), "base", "tip", IkSettings(hold_orientation=False))
    seed = np.array([0.0, 0.6, 1.0])
    core = ArmControlCore(_robot(), ArmControlSettings("joint_trajectory"))
    core.set_kinematics(kinematics)
    core.on_joint_state(["finger", "elbow", "shoulder", "yaw"], [0.02, 1.0, 0.6, 0.0])
    core.on_ee_pose(kinematics.forward(seed)[:3, 3], now)
    return core, kinematics, seed


# ----------------------------------------------------------------------------- twist


def test_an_action_becomes_a_twist_of_displacement_over_period():
    core = _core()
    command = core.on_action([0.01, -0.005, 0.0, -1.0], observation_stamp_s=9.99, now_s=10.0)
    assert command.applied.status == "ok"
    np.testing.assert_allclose(command.linear_velocity_m_s, [0.2, -0.1, 0.0], rtol=1e-6)
    np.testing.assert_allclose(command.target_position, START + np.array([0.01, -0.005, 0.0]), atol=1e-7)
    assert command.gripper_position_m == pytest.approx(0.04)  # -1 = open, first goal always goes


def test_nothing_is_sent_before_the_end_effector_pose_is_known():
    core = ArmControlCore(_robot(), ArmControlSettings("twist"))
    assert core.on_action([0.01, 0.0, 0.0, -1.0], observation_stamp_s=1.0, now_s=1.0) is None
    assert core.on_tick(5.0) is None


def test_an_action_is_executed_once_not_repeated_by_the_timer():
    core = _core()
    core.on_action([0.01, 0.0, 0.0, -1.0], observation_stamp_s=10.0, now_s=10.0)
    assert core.on_tick(10.05) is None  # still fresh: no second execution, no hold


def test_a_stale_action_produces_exactly_one_hold():
    core = _core()
    core.on_action([0.01, 0.0, 0.0, -1.0], observation_stamp_s=10.0, now_s=10.0)
    hold = core.on_tick(10.2)  # 0.2 s after arrival > max_action_age_s 0.1
    assert hold is not None and hold.is_hold
    assert "stale_action" in hold.applied.reasons
    np.testing.assert_array_equal(hold.linear_velocity_m_s, np.zeros(3))
    assert core.on_tick(10.25) is None and core.on_tick(11.0) is None  # held already: silent


def test_a_stale_end_effector_pose_makes_the_observation_stale():
    core = _core(now=9.0)  # the pose stream stopped 1 s ago; the cloud is fresh
    command = core.on_action([0.01, 0.0, 0.0, -1.0], observation_stamp_s=10.0, now_s=10.0)
    assert command.is_hold and "stale_observation" in command.applied.reasons


def test_non_finite_action_is_held():
    core = _core()
    command = core.on_action([np.nan, 0.0, 0.0, -1.0], observation_stamp_s=10.0, now_s=10.0)
    assert command.is_hold and "non_finite_action" in command.applied.reasons
    np.testing.assert_array_equal(command.linear_velocity_m_s, np.zeros(3))


def test_gripper_goals_only_on_real_changes():
    core = _core(threshold=0.5)
    goals = []
    for step, gripper in enumerate([-1.0, -0.8, -0.6, 0.2, 0.3, 1.0]):
        now = 10.0 + step * PERIOD
        core.on_ee_pose(START, now, IDENTITY_XYZW)
        goals.append(
            core.on_action([0.0, 0.0, 0.0, gripper], observation_stamp_s=now, now_s=now).gripper_position_m
        )
    assert goals[0] == pytest.approx(0.04)
    assert goals[1] is None and goals[2] is None  # within 0.5 of the last goal (-1)
    assert goals[3] == pytest.approx(0.04 * (1 - 0.2) / 2)  # 0.2 -> 40% open
    assert goals[4] is None
    assert goals[5] == pytest.approx(0.0)  # +1 = closed


def test_the_gripper_goal_in_force_is_the_last_one_sent_not_the_latest_command():
    """What a lockstep simulator must execute (the arm controller's 'topic' gripper): a gripper
    server holds its last goal, so a command within the threshold changes nothing (issue 8: the
    rehearsal closed the hand on every small change while training kept it still)."""
    core = _core(threshold=1.0)
    assert core.gripper_goal_m is None
    in_force = []
    for step, gripper in enumerate([-0.1, 0.6, 0.85, -0.5, 1.0]):
        now = 10.0 + step * PERIOD
        core.on_ee_pose(START, now, IDENTITY_XYZW)
        core.on_action([0.0, 0.0, 0.0, gripper], observation_stamp_s=now, now_s=now)
        in_force.append(core.gripper_goal_m)
    open_at_minus_0_1 = 0.04 * (1 + 0.1) / 2
    assert in_force[:3] == pytest.approx([open_at_minus_0_1] * 3)  # 0.6, 0.85: within 1.0 of -0.1
    assert in_force[3] == pytest.approx(open_at_minus_0_1)
    assert in_force[4] == pytest.approx(0.0)  # 1.0 is 1.1 from -0.1: a new goal, closed


def test_an_undelivered_gripper_goal_is_sent_again():
    core = _core(threshold=0.5)
    assert (
        core.on_action([0.0, 0.0, 0.0, -1.0], observation_stamp_s=10.0, now_s=10.0).gripper_position_m
        is not None
    )
    core.forget_gripper_goal()
    again = core.on_action([0.0, 0.0, 0.0, -1.0], observation_stamp_s=10.05, now_s=10.05)
    assert again.gripper_position_m == pytest.approx(0.04)


def test_stop_latches_until_reset():
    core = _core()
    core.on_action([0.01, 0.0, 0.0, -1.0], observation_stamp_s=10.0, now_s=10.0)
    stop = core.stop(now_s=10.01)
    assert stop.applied.status == "stopped"
    later = core.on_action([0.01, 0.0, 0.0, -1.0], observation_stamp_s=10.05, now_s=10.05)
    assert later.applied.status == "stopped" and later.is_hold
    assert core.reset()
    moving = core.on_action([0.01, 0.0, 0.0, -1.0], observation_stamp_s=10.1, now_s=10.1)
    assert moving.applied.moved


def test_episode_start_forgets_the_velocity():
    core = _core()
    core.on_action([0.04, 0.0, 0.0, -1.0], observation_stamp_s=10.0, now_s=10.0)
    assert core.safety.last_velocity[0] > 0
    core.start_episode()
    np.testing.assert_array_equal(core.safety.last_velocity, np.zeros(3))


# ----------------------------------------------------------------------------- cartesian pose


def test_cartesian_pose_holds_the_episode_orientation():
    core = ArmControlCore(_robot(), ArmControlSettings("cartesian_pose"))
    quarter_turn = np.array([0.0, 0.0, np.sqrt(0.5), np.sqrt(0.5)])
    core.on_ee_pose(START, 10.0, quarter_turn)
    command = core.on_action([0.0, 0.01, 0.0, -1.0], observation_stamp_s=10.0, now_s=10.0)
    core.on_ee_pose(START + np.array([0.0, 0.01, 0.0]), 10.05, IDENTITY_XYZW)  # the arm twisted: not followed
    second = core.on_action([0.0, 0.01, 0.0, -1.0], observation_stamp_s=10.05, now_s=10.05)
    np.testing.assert_allclose(command.orientation_xyzw, quarter_turn)
    np.testing.assert_allclose(second.orientation_xyzw, quarter_turn)
    np.testing.assert_allclose(second.target_position, START + np.array([0.0, 0.02, 0.0]), atol=1e-6)


def test_cartesian_pose_without_an_orientation_holds():
    core = ArmControlCore(_robot(), ArmControlSettings("cartesian_pose"))
    core.on_ee_pose(START, 10.0)  # position only
    command = core.on_action([0.0, 0.01, 0.0, -1.0], observation_stamp_s=10.0, now_s=10.0)
    assert command.is_hold and "no_ee_orientation" in command.applied.reasons
    np.testing.assert_allclose(command.target_position, START)


# ----------------------------------------------------------------------------- joint trajectory


def test_joint_trajectory_point_reaches_the_filtered_target():
    core, kinematics, seed = _arm_core()
    command = core.on_action([0.01, 0.01, -0.01, -1.0], observation_stamp_s=10.0, now_s=10.0)
    assert command.applied.moved and command.joint_positions is not None
    reached = kinematics.forward(command.joint_positions)[:3, 3]
    np.testing.assert_allclose(reached, command.target_position, atol=1e-3)
    np.testing.assert_allclose(
        command.target_position, kinematics.forward(seed)[:3, 3] + 0.01 * np.array([1, 1, -1])
    )


def test_unreachable_joint_target_holds_at_the_measured_joints():
    core, _kinematics, seed = _arm_core(yaw_limit=0.01)
    # +y needs yaw; the joint limit forbids it.
    command = core.on_action([0.0, 0.04, 0.0, 1.0], observation_stamp_s=10.0, now_s=10.0)
    assert command.is_hold and "ik_unreachable" in command.applied.reasons
    np.testing.assert_allclose(command.joint_positions, seed)
    np.testing.assert_array_equal(command.linear_velocity_m_s, np.zeros(3))
    assert command.gripper_position_m == pytest.approx(0.0)  # the gripper still follows (+1 = closed)
    np.testing.assert_array_equal(core.safety.last_velocity, np.zeros(3))


def test_joint_trajectory_without_a_robot_description_holds():
    core = ArmControlCore(_robot(), ArmControlSettings("joint_trajectory"))
    core.on_ee_pose(START, 10.0)
    command = core.on_action([0.01, 0.0, 0.0, -1.0], observation_stamp_s=10.0, now_s=10.0)
    assert command.is_hold and "no_robot_description" in command.applied.reasons
    assert command.joint_positions is None


def test_ik_chain_with_joints_the_robot_does_not_list_is_refused():
    core = ArmControlCore(_robot(joint_names=("j1", "j2", "j3")), ArmControlSettings("joint_trajectory"))
    kinematics = ArmKinematics(_three_dof_urdf(), "base", "tip")
    with pytest.raises(ValueError, match="yaw"):
        core.set_kinematics(kinematics)


# ----------------------------------------------------------------------------- configuration


def test_unknown_command_interface_is_refused_by_name():
    with pytest.raises(ValueError, match="'velocity' is not one of"):
        ArmControlSettings("velocity")


@pytest.mark.parametrize(
    ("interface", "missing"),
    [
        ("joint_trajectory", "joint_trajectory_topic"),
        ("cartesian_pose", "cartesian_pose_topic"),
        ("twist", "servo_twist_topic"),
    ],
)
def test_interface_without_a_controller_topic_is_refused(interface, missing):
    robot = _robot(controllers=dataclasses.replace(_robot().controllers, **{missing: None}))
    with pytest.raises(ValueError, match=missing):
        ArmControlCore(robot, ArmControlSettings(interface))


# ----------------------------------------------------------------------------- joint-limit margins
# Issue 11 defect 5: no joint-limit margin existed; the twist and Cartesian interfaces checked no joints.


def _margined_core(interface):
    """Yaw limit ±0.3 with a 0.25 margin: only |yaw| <= 0.05 is allowed (0.04 m of +y is ~0.076 rad)."""
    robot = _robot()
    robot = dataclasses.replace(
        robot, safety=dataclasses.replace(robot.safety, joint_limit_margin_rad={"yaw": 0.25})
    )
    kinematics = ArmKinematics(_three_dof_urdf(0.3), "base", "tip", IkSettings(hold_orientation=False))
    core = ArmControlCore(robot, ArmControlSettings(interface))
    core.set_kinematics(kinematics)
    core.on_joint_state(["yaw", "shoulder", "elbow"], [0.0, 0.6, 1.0])
    core.on_ee_pose(kinematics.forward([0.0, 0.6, 1.0])[:3, 3], 10.0, IDENTITY_XYZW)
    return core


@pytest.mark.parametrize("interface", ["joint_trajectory", "twist", "cartesian_pose"])
def test_every_interface_holds_before_a_joint_enters_its_margin(interface):
    core = _margined_core(interface)
    small = core.on_action([0.0, 0.02, 0.0, -1.0], observation_stamp_s=10.0, now_s=10.0)
    assert small.applied.moved, small.applied.reasons
    core = _margined_core(interface)
    into = core.on_action([0.0, 0.04, 0.0, -1.0], observation_stamp_s=10.0, now_s=10.0)
    assert into.is_hold and "joint_limit_margin" in into.applied.reasons
    np.testing.assert_array_equal(into.linear_velocity_m_s, np.zeros(3))
    if interface == "joint_trajectory":
        np.testing.assert_allclose(into.joint_positions, [0.0, 0.6, 1.0])


def test_margins_naming_a_joint_the_robot_lacks_are_refused():
    robot = _robot()
    with pytest.raises(ValueError, match="joint_limit_margin_rad names joint"):
        safety = dataclasses.replace(robot.safety, joint_limit_margin_rad={"wrist": 0.1})
        dataclasses.replace(robot, safety=safety)


def test_an_observation_stamped_in_the_future_is_not_hidden_by_a_fresh_pose():
    # Found by `mtdagger bench safety`: min(camera stamp, pose stamp) hid a camera clock 0.5 s ahead.
    core = _core()
    command = core.on_action([0.01, 0.0, 0.0, -1.0], observation_stamp_s=10.5, now_s=10.0)
    assert command.is_hold and "observation_stamp_in_future" in command.applied.reasons
    assert core.on_action([0.01, 0.0, 0.0, -1.0], observation_stamp_s=10.005, now_s=10.0).applied.moved
