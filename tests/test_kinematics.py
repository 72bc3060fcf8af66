"""IK core used by the arm controller's joint_trajectory interface, on small synthetic URDFs."""

from __future__ import annotations

import numpy as np
import pytest

from mtdagger.control.kinematics import (
    ArmKinematics,
    IkSettings,
    JointLimitMarginError,
    KinematicsError,
    UnreachableTargetError,
    UrdfChainError,
)


def _joint(name, parent, child, xyz, axis="0 0 1", lower=-2.8, upper=2.8, kind="revolute"):
    limit = f'<limit lower="{lower}" upper="{upper}" effort="10" velocity="1"/>' if kind != "fixed" else ""
    axis_xml = f'<axis xyz="{axis}"/>' if kind != "fixed" else ""
    return (
        f'<joint name="{name}" type="{kind}"><parent link="{parent}"/><child link="{child}"/>'
        f'<origin xyz="{xyz}" rpy="0 0 0"/>{axis_xml}{limit}</joint>'
    )


def _robot(links, joints):
    link_xml = "".join(f'<link name="{n}"/>' for n in links)
    return f"<robot name='synthetic'>{link_xml}{''.join(joints)}</robot>"


# A 6-DoF arm with a fixed tool frame and a prismatic finger branching off the tool: the finger
# must not become part of the chain, and the fixed tool joint must not count as a joint.
SIX_DOF = _robot(
    ["base", "l1", "l2", "l3", "l4", "l5", "l6", "tool", "finger", "camera_mount"],
    [
        _joint("j1", "base", "l1", "0 0 0.1", "0 0 1"),
        _joint("camera_joint", "base", "camera_mount", "0.5 0 0.5", kind="fixed"),
        _joint("j2", "l1", "l2", "0 0 0.1", "0 1 0"),
        _joint("j3", "l2", "l3", "0 0 0.3", "0 1 0"),
        _joint("j4", "l3", "l4", "0.25 0 0", "1 0 0"),
        _joint("j5", "l4", "l5", "0.05 0 0", "0 1 0"),
        _joint("j6", "l5", "l6", "0.05 0 0", "1 0 0"),
        _joint("tool_joint", "l6", "tool", "0.1 0 0", kind="fixed"),
        _joint("finger_joint", "tool", "finger", "0 0.02 0", "0 1 0", 0.0, 0.04, "prismatic"),
    ],
)
SIX_DOF_SEED = np.array([0.1, 0.4, 0.8, 0.1, -0.6, 0.2])


def _three_dof(yaw_limit=2.8):
    """Yaw + two pitch joints, links 0.4 m and 0.3 m: reach is a 0.7 m sphere around the shoulder."""
    return _robot(
        ["base", "a", "b", "c", "tip"],
        [
            _joint("yaw", "base", "a", "0 0 0.2", "0 0 1", -yaw_limit, yaw_limit),
            _joint("shoulder", "a", "b", "0 0 0", "0 1 0"),
            _joint("elbow", "b", "c", "0 0 0.4", "0 1 0"),
            _joint("tip_joint", "c", "tip", "0 0 0.3", kind="fixed"),
        ],
    )


@pytest.fixture(scope="module")
def six_dof():
    return ArmKinematics(SIX_DOF, "base", "tool")


def test_chain_holds_only_the_movable_joints_between_base_and_tip(six_dof):
    assert six_dof.joint_names == ("j1", "j2", "j3", "j4", "j5", "j6")
    np.testing.assert_allclose(six_dof.joint_limits, [[-2.8, 2.8]] * 6)


def test_forward_kinematics_at_zero_is_the_sum_of_the_offsets(six_dof):
    # All joints at zero: offsets add up: x = 0.25 + 0.05 + 0.05 + 0.1, z = 0.1 + 0.1 + 0.3.
    pose = six_dof.forward(np.zeros(6))
    np.testing.assert_allclose(pose[:3, 3], [0.45, 0.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(pose[:3, :3], np.eye(3), atol=1e-12)


def test_forward_kinematics_follows_a_joint_rotation():
    arm = ArmKinematics(_three_dof(), "base", "tip")
    # Shoulder pitched +90 deg about y: the 0.7 m straight arm points along +x at shoulder height.
    pose = arm.forward([0.0, np.pi / 2, 0.0])
    np.testing.assert_allclose(pose[:3, 3], [0.7, 0.0, 0.2], atol=1e-9)


@pytest.mark.parametrize("delta", [(0.01, 0.0, 0.0), (0.0, 0.02, -0.01), (0.04, -0.03, 0.05)])
def test_fk_of_ik_reaches_the_target_and_holds_orientation(six_dof, delta):
    start = six_dof.forward(SIX_DOF_SEED)
    target = start[:3, 3] + np.asarray(delta)
    solution = six_dof.solve(target, SIX_DOF_SEED)
    reached = six_dof.forward(solution.joint_positions)
    np.testing.assert_allclose(reached[:3, 3], target, atol=1e-3)
    np.testing.assert_allclose(reached[:3, :3], start[:3, :3], atol=2e-2)
    np.testing.assert_allclose(solution.reached_position, reached[:3, 3])
    assert solution.position_error_m <= 1e-3


def test_position_only_ik_on_a_three_dof_arm():
    arm = ArmKinematics(_three_dof(), "base", "tip", IkSettings(hold_orientation=False))
    seed = np.array([0.2, 0.6, 1.2])  # elbow bent: the target stays well inside the 0.7 m reach
    target = arm.forward(seed)[:3, 3] + [0.03, -0.02, 0.04]
    solution = arm.solve(target, seed)
    np.testing.assert_allclose(arm.forward(solution.joint_positions)[:3, 3], target, atol=1e-3)
    assert solution.orientation_error_rad == 0.0


def test_target_beyond_reach_is_refused_with_the_miss_distance():
    settings = IkSettings(hold_orientation=False, max_joint_step_rad=10)
    arm = ArmKinematics(_three_dof(), "base", "tip", settings)
    with pytest.raises(UnreachableTargetError, match="position error") as info:
        arm.solve([2.0, 0.0, 0.2], [0.0, 0.5, 0.5])
    # Reach is 0.7 m from the shoulder at (0, 0, 0.2): the closest point misses by about 1.3 m.
    assert info.value.error_m == pytest.approx(1.3, abs=0.05)
    np.testing.assert_allclose(info.value.target, [2.0, 0.0, 0.2])


def test_target_needing_a_joint_beyond_its_limit_is_refused():
    # Yaw may only turn ±0.1 rad, so a point straight along +y cannot be reached.
    arm = ArmKinematics(_three_dof(yaw_limit=0.1), "base", "tip", IkSettings(hold_orientation=False))
    with pytest.raises(UnreachableTargetError):
        arm.solve([0.0, 0.5, 0.3], [0.0, 0.5, 0.5])


def test_a_solution_that_jumps_branches_is_refused():
    settings = IkSettings(hold_orientation=False, max_joint_step_rad=0.05)
    arm = ArmKinematics(_three_dof(), "base", "tip", settings)
    seed = np.array([0.0, 0.5, 0.5])
    far = arm.forward(seed)[:3, 3] + [0.0, 0.2, 0.0]  # reachable, but only with a large yaw
    with pytest.raises(UnreachableTargetError, match="joint jump"):
        arm.solve(far, seed)


def test_non_finite_target_or_wrong_seed_is_a_clear_error(six_dof):
    with pytest.raises(ValueError, match="finite"):
        six_dof.solve([np.nan, 0.0, 0.3], SIX_DOF_SEED)
    with pytest.raises(ValueError, match="6 joint values"):
        six_dof.solve([0.4, 0.0, 0.3], [0.0, 0.0])


def test_joint_state_is_reordered_and_extra_joints_ignored(six_dof):
    names = ["finger_joint", "j6", "j5", "j4", "j3", "j2", "j1"]
    positions = [0.04, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]
    np.testing.assert_allclose(six_dof.joints_from_state(names, positions), [1, 2, 3, 4, 5, 6])


def test_joint_state_missing_a_chain_joint_names_it(six_dof):
    with pytest.raises(KinematicsError, match="j4"):
        six_dof.joints_from_state(["j1", "j2", "j3", "j5", "j6"], [0.0] * 5)


@pytest.mark.parametrize(
    ("urdf", "base", "tip", "message"),
    [
        ("<robot", "base", "tip", "not valid XML"),
        ("<model name='x'/>", "base", "tip", "expected <robot>"),
        (_three_dof(), "base", "gripper", "'gripper' is not in the robot description"),
        (_three_dof(), "tip", "base", "not below base link"),
        (
            _robot(["base", "a"], [_joint("free", "base", "a", "0 0 0", kind="floating")]),
            "base",
            "a",
            "type 'floating'",
        ),
        (
            _robot(["base", "a"], [_joint("weld", "base", "a", "0 0 0.1", kind="fixed")]),
            "base",
            "a",
            "no movable",
        ),
    ],
)
def test_unusable_robot_descriptions_are_rejected_by_name(urdf, base, tip, message):
    with pytest.raises(UrdfChainError, match=message):
        ArmKinematics(urdf, base, tip)


# ----------------------------------------------------------------------------- joint-limit margins
# Issue 11 defect 5: IK clipped its seed to the URDF bounds and accepted answers on a hard limit.

def _yawed(arm, seed, yaw):
    """The tip of `seed` turned about the base z axis by `yaw`: reachable with exactly that yaw."""
    x, y, z = arm.forward(seed)[:3, 3]
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([c * x - s * y, s * x + c * y, z])


@pytest.fixture()
def margined_arm():
    arm = ArmKinematics(_three_dof(yaw_limit=0.3), "base", "tip", IkSettings(hold_orientation=False))
    arm.set_joint_margins([0.1, 0.0, 0.0])
    return arm


def test_ik_refuses_an_answer_within_the_margin_of_a_hard_limit(margined_arm):
    seed = np.array([0.0, 0.6, 1.0])
    ok = margined_arm.solve(_yawed(margined_arm, seed, 0.15), seed)
    assert ok.joint_positions[0] == pytest.approx(0.15, abs=2e-3)
    with pytest.raises(JointLimitMarginError, match="yaw"):  # 0.25 > 0.3 - 0.1
        margined_arm.solve(_yawed(margined_arm, seed, 0.25), seed)
    # Without the margin the same target is accepted: the margin, not reach, refused it.
    margined_arm.set_joint_margins([0.0, 0.0, 0.0])
    assert margined_arm.solve(_yawed(margined_arm, seed, 0.25), seed).joint_positions[0] > 0.2


def test_a_seed_inside_the_margin_may_move_out_but_not_deeper(margined_arm):
    seed = np.array([0.25, 0.6, 1.0])  # pushed 0.05 into the yaw margin
    out = margined_arm.solve(_yawed(margined_arm, seed, -0.05), seed)
    assert out.joint_positions[0] < 0.25
    with pytest.raises(JointLimitMarginError):
        margined_arm.solve(_yawed(margined_arm, seed, 0.03), seed)


def test_a_seed_beyond_the_hard_limit_is_refused_not_clipped(margined_arm):
    with pytest.raises(JointLimitMarginError, match="outside their hard limits"):
        margined_arm.solve([0.3, 0.0, 0.5], [0.35, 0.6, 1.0])


@pytest.mark.parametrize("margins", [[0.1, 0.0], [np.nan, 0, 0], [-0.1, 0, 0], [0.3, 0, 0]])
def test_bad_joint_margins_are_refused(margined_arm, margins):
    with pytest.raises(ValueError, match="margin"):
        margined_arm.set_joint_margins(margins)


def test_a_redundant_arm_finds_an_answer_outside_the_margin_instead_of_being_refused():
    # Position only, six joints: many answers. The free answer lifts j2 to ~0.411; with j2 capped at
    # 0.405 by its margin the solver (searching inside the margins) uses the other joints instead.
    arm = ArmKinematics(SIX_DOF, "base", "tool", IkSettings(hold_orientation=False))
    target = arm.forward(SIX_DOF_SEED)[:3, 3] + [0.03, 0.02, 0.02]
    assert arm.solve(target, SIX_DOF_SEED).joint_positions[1] > 0.405
    arm.set_joint_margins([0.0, 2.8 - 0.405, 0.0, 0.0, 0.0, 0.0])
    solution = arm.solve(target, SIX_DOF_SEED)
    assert solution.joint_positions[1] <= 0.405 and solution.position_error_m <= 1e-3
    np.testing.assert_allclose(arm.joint_limits, [[-2.8, 2.8]] * 6)  # the hard limits are untouched
    restored = [tuple(link.bounds) for link, active in zip(arm._chain.links, arm._active) if active]
    assert restored == [(-2.8, 2.8)] * 6  # the solver's bounds are put back after the search
