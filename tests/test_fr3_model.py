"""The FR3 model: one kinematic table -> MJCF (simulated arm) and URDF (the arm controller's IK).

If the two descriptions drifted, a student trained in sim would command joint targets that put
the real TCP somewhere else; so MuJoCo's forward kinematics is checked against ikpy's of the URDF.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from mtdagger.control.kinematics import ArmKinematics
from mtdagger.control.robot_config import load_robot_config
from sim_bridge.fr3.model import (
    ARM_JOINTS,
    BASE_LINK,
    FINGER_JOINTS,
    FLANGE_TO_TCP_M,
    HOME_Q,
    TCP_LINK,
    fr3_urdf,
    scene_mjcf,
)

mujoco = pytest.importorskip("mujoco")

# Franka FR3 datasheet / franka_description robots/fr3/joint_limits.yaml (rad).
FR3_LIMITS = [
    (-2.7437, 2.7437),
    (-1.7837, 1.7837),
    (-2.9007, 2.9007),
    (-3.0421, -0.1518),
    (-2.8065, 2.8065),
    (0.5445, 4.5169),
    (-3.0159, 3.0159),
]


@pytest.fixture(scope="module")
def sim():
    model = mujoco.MjModel.from_xml_string(scene_mjcf())
    return model, mujoco.MjData(model)


@pytest.fixture(scope="module")
def kinematics():
    return ArmKinematics(fr3_urdf(), BASE_LINK, TCP_LINK)


def test_names_match_the_real_robot_config(kinematics, sim):
    robot = load_robot_config("franka_fr3")
    assert robot.base_frame == BASE_LINK and robot.ee_frame == TCP_LINK
    assert kinematics.joint_names == robot.joint_names == ARM_JOINTS
    model, _ = sim
    for name in (*ARM_JOINTS, *FINGER_JOINTS):
        model.joint(name)  # raises KeyError when absent
    model.body(BASE_LINK)
    model.site(TCP_LINK)


def test_joint_limits_are_the_fr3_datasheet_in_both_descriptions(kinematics, sim):
    np.testing.assert_allclose(kinematics.joint_limits, FR3_LIMITS, atol=1e-9)
    model, _ = sim
    for name, limits in zip(ARM_JOINTS, FR3_LIMITS):
        np.testing.assert_allclose(model.joint(name).range, limits, atol=1e-9)
    for name in FINGER_JOINTS:
        np.testing.assert_allclose(model.joint(name).range, (0.0, 0.04), atol=1e-12)
    urdf = ET.fromstring(fr3_urdf())
    finger = urdf.find("joint[@name='fr3_finger_joint1']")
    assert finger.attrib["type"] == "prismatic" and float(finger.find("limit").attrib["upper"]) == 0.04


def test_mujoco_and_urdf_forward_kinematics_agree(kinematics, sim):
    model, data = sim
    rng = np.random.default_rng(0)
    limits = np.asarray(FR3_LIMITS)
    for q in [np.asarray(HOME_Q), *rng.uniform(limits[:, 0], limits[:, 1], size=(20, 7))]:
        data.qpos[: len(q)] = q
        mujoco.mj_kinematics(model, data)
        expected = kinematics.forward(q)
        np.testing.assert_allclose(data.site(TCP_LINK).xpos, expected[:3, 3], atol=1e-6)
        np.testing.assert_allclose(data.site(TCP_LINK).xmat.reshape(3, 3), expected[:3, :3], atol=1e-6)


def test_tcp_is_past_the_flange_and_the_ready_pose_points_the_gripper_down(kinematics, sim):
    model, data = sim
    data.qpos[:7] = HOME_Q
    mujoco.mj_kinematics(model, data)
    flange = data.body("fr3_link8")
    offset = flange.xmat.reshape(3, 3).T @ (data.site(TCP_LINK).xpos - flange.xpos)
    np.testing.assert_allclose(offset, [0.0, 0.0, FLANGE_TO_TCP_M], atol=1e-9)
    hand_yaw = data.body("fr3_hand").xmat.reshape(3, 3).T @ flange.xmat.reshape(3, 3)
    assert math.degrees(math.atan2(hand_yaw[1, 0], hand_yaw[0, 0])) == pytest.approx(45.0, abs=1e-6)
    T = kinematics.forward(np.asarray(HOME_Q))
    np.testing.assert_allclose(T[:3, 2], [0.0, 0.0, -1.0], atol=1e-6)  # TCP z axis straight down
    np.testing.assert_allclose(T[:3, 3], [0.3069, 0.0, 0.4869], atol=1e-3)  # Franka's ready pose


def test_the_arm_holds_a_pose_under_gravity_with_its_servos(sim):
    model, data = sim
    mujoco.mj_resetData(model, data)
    data.qpos[:7] = HOME_Q
    for name, value in zip(ARM_JOINTS, HOME_Q):
        data.actuator(name).ctrl[0] = value
    for _ in range(500):  # 1 s
        mujoco.mj_step(model, data)
    np.testing.assert_allclose(data.qpos[:7], HOME_Q, atol=2e-3)
