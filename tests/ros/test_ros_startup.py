"""Every node starts under the PyPI rclpy in the configuration the tests need, and refuses bad
input at start-up with one message naming what was wrong (real rclpy, node constructors).

A feature that needs a ROS package PyPI lacks (tf2_ros, control_msgs) refuses with a line naming
that package; on a full ROS 2 install those cases do not apply and are left out.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
from graph_harness import REPO_ROOT, write_sim_calibration


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from tiny_checkpoint import save_tiny_checkpoint

    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", num_points=64)


@pytest.fixture
def ros():
    import rclpy

    rclpy.init()
    yield rclpy
    rclpy.try_shutdown()


def _refusal(node_class, parameters: dict) -> str | None:
    from policy_node.ros_support import StartupError
    from rclpy.parameter import Parameter

    overrides = [Parameter(name, value=value) for name, value in parameters.items()]
    try:
        node = node_class(parameter_overrides=overrides)
    except (StartupError, ValueError, RuntimeError) as error:
        return str(error)
    node.destroy_node()
    return None


def _missing(package: str) -> bool:
    return importlib.util.find_spec(package) is None


def test_every_node_refuses_bad_input_at_start_up_with_a_message(ros, checkpoint, tmp_path):
    from policy_node.arm_controller import ArmControllerNode
    from policy_node.depth_camera import DepthCameraNode
    from policy_node.ee_state import EeStateNode
    from policy_node.pointcloud_preprocess import PointCloudPreprocessNode
    from policy_node.policy import PolicyNode

    sim = {"robot_config": "metaworld_sawyer", "contract_source": "checkpoint"}
    good = {**sim, "checkpoint": str(checkpoint), "task": "reach-v3"}
    calibration = str(write_sim_calibration(tmp_path / "calibration.yaml"))
    none = str(tmp_path / "none")
    cases = {
        "policy_missing": (PolicyNode, sim, "checkpoint and task are required"),
        "policy_no_checkpoint": (PolicyNode, {**good, "checkpoint": none}, "does not exist"),
        "policy_period": (PolicyNode, {**good, "robot_config": "franka_fr3"}, "control_period_s=0.0125"),
        "policy_contract": (
            PolicyNode, {**good, "contract_source": "parameters", "contract.num_points": 128},
            "num_points=64 but this run expects 128",
        ),
        "policy_task": (PolicyNode, {**good, "task": "push-v3"}, "'push-v3' is not one the checkpoint knows"),
        "camera_serial": (DepthCameraNode, {"serial_no": "123456789012"}, "serial '123456789012' not found"),
        "camera_file": (DepthCameraNode, {"recording_file": str(tmp_path / "missing.db3")}, "missing.db3"),
        "camera_decimation": (DepthCameraNode, {"decimation": 11}, "decimation must be"),
        "preprocess_robot": (PointCloudPreprocessNode, {"robot_config": "no_such_robot"}, "no_such_robot"),
        "preprocess_calibration_frame": (
            PointCloudPreprocessNode,
            {"robot_config": "franka_fr3", "contract_source": "parameters", "calibration_file": calibration},
            "base_frame 'right_arm_base_link' but the robot's base frame is 'fr3_link0'",
        ),
        "arm_interface": (ArmControllerNode, {**sim, "command_interface": "joint_trajectory",
                                              "gripper_interface": "topic"}, "no joint_trajectory_topic"),
        "arm_unknown": (ArmControllerNode, {**sim, "command_interface": "velocity"}, "'velocity' is not"),
        "arm_gripper_unknown": (ArmControllerNode, {**sim, "gripper_interface": "x"}, "valid: action, topic"),
        "ee_state_robot": (EeStateNode, {"robot_config": "no_such_robot"}, "no_such_robot"),
        "ee_state_description": (EeStateNode, {**sim, "robot_description": "<robot"}, "not valid XML"),
        "ee_state_rate": (EeStateNode, {**sim, "rate_hz": -1.0}, "rate_hz=-1.0 must be >= 0"),
    }  # fmt: skip
    if _missing("control_msgs"):
        cases["arm_needs_control_msgs"] = (ArmControllerNode, sim, "needs the ROS package 'control_msgs'")
    if _missing("tf2_ros"):
        cases["preprocess_needs_tf2"] = (
            PointCloudPreprocessNode, {**sim, "checkpoint": str(checkpoint)}, "the ROS package 'tf2_ros'"
        )  # fmt: skip
    for case, (node_class, parameters, fragment) in cases.items():
        message = _refusal(node_class, parameters)
        assert message is not None, f"{case}: the node started"
        assert fragment in message, f"{case}: {message}"
        assert "\n" not in message, f"{case}: more than one line: {message}"


def test_nodes_start_in_the_pypi_configuration(ros, checkpoint, tmp_path):
    from policy_node.arm_controller import ArmControllerNode
    from policy_node.pointcloud_preprocess import PointCloudPreprocessNode
    from policy_node.policy import PolicyNode

    calibration = str(write_sim_calibration(tmp_path / "calibration.yaml"))
    sim = {"robot_config": "metaworld_sawyer", "contract_source": "checkpoint"}
    for node_class, parameters in (
        (PolicyNode, {**sim, "checkpoint": str(checkpoint), "task": "reach-v3"}),
        (PointCloudPreprocessNode, {**sim, "checkpoint": str(checkpoint), "calibration_file": calibration}),
        (ArmControllerNode, {**sim, "gripper_interface": "topic"}),
        (ArmControllerNode, {**sim, "gripper_interface": "none"}),
    ):
        assert _refusal(node_class, parameters) is None, node_class.__name__


def test_a_wrong_contract_checkpoint_makes_the_node_process_exit_non_zero(checkpoint):
    """`ros2 run policy_node policy` as a process: exit code 1 and the reason on its log."""
    command = [
        sys.executable, "-c", "from policy_node.policy import main; raise SystemExit(main())",
        "--ros-args", "-p", f"checkpoint:={checkpoint}", "-p", "task:=reach-v3",
        "-p", "robot_config:=metaworld_sawyer", "-p", "contract_source:=parameters",
        "-p", "contract.num_points:=1024",
    ]  # fmt: skip
    path = os.pathsep.join([str(REPO_ROOT / "policy_node"), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    completed = subprocess.run(
        command, env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True, timeout=120
    )
    log = completed.stdout + completed.stderr
    assert completed.returncode == 1, log
    assert "cannot start" in log and "num_points=64 but this run expects 1024" in log
