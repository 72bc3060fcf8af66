"""The rclpy plumbing every node of this package shares: start-up, spin, shutdown, QoS, stamps.

Written for Humble and Jazzy (rclpy APIs common to both). A node that cannot start (no camera, a
checkpoint that does not match, a missing robot config) raises `StartupError` from its
constructor; `run_node` logs the message and exits non-zero, so `ros2 launch` shows why.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import rclpy
from rclpy.exceptions import ParameterUninitializedException
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from mtdagger.messages.qos import latched_qos, reliable_qos, sensor_qos

# The graph's shared QoS profiles (mtdagger.messages.qos): camera images best effort, commands and
# states reliable, once-published topics latched (transient local).
SENSOR_QOS = sensor_qos()
RELIABLE_QOS = reliable_qos()
LATCHED_QOS = latched_qos()


class StartupError(RuntimeError):
    """The node refuses to start; the message says what was wrong and what was looked for."""


# ROS packages the PyPI wheels (ros-jazzy-rclpy & co.) do not carry: a node imports them only
# for the feature that needs them, so it starts under a pip-installed rclpy in every other mode.
_APT_NAMES = {"tf2_ros": "ros-jazzy-tf2-ros", "control_msgs": "ros-jazzy-control-msgs"}


def require_ros_package(module: str, feature: str):
    """Import `module` for `feature`, or refuse to start with one line naming the package."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        apt = _APT_NAMES.get(package, f"ros-jazzy-{package.replace('_', '-')}")
        raise StartupError(
            f"{feature} needs the ROS package {package!r}, which is not installed here "
            f"(apt install {apt}, or source a full ROS 2 Jazzy)"
        ) from None


def now_ns(node: Node) -> int:
    """The node's clock (simulated under use_sim_time) in integer nanoseconds, like message stamps."""
    return node.get_clock().now().nanoseconds


def text_parameter(node: Node, name: str) -> str | None:
    """A string parameter where '' (or a required parameter never given) means "not set"."""
    try:
        value = node.get_parameter(name).value
    except ParameterUninitializedException:
        return None
    return str(value or "").strip() or None


def request_shutdown(node: Node, exit_code: int) -> None:
    """End the process from inside a callback (end of a recording, last episode done)."""
    node.exit_code = exit_code
    rclpy.try_shutdown(context=node.context)  # the node's own context (composition, tests)


def run_node(make_node: Callable[[], Node], args: list[str] | None = None, name: str = "policy_node") -> int:
    """rclpy.init, build the node, spin until shutdown; returns the process exit code. A SIGINT
    at any point (launch's, a terminal's, a second one during cleanup) ends it with exit code 0
    and no traceback (mtdagger.messages.node_process)."""
    from mtdagger.messages.node_process import run_node_process

    def spin(node: Node) -> None:
        # One thread: callbacks of a node never race on its state (inference and IK take
        # milliseconds, well inside a control period).
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()

    return run_node_process(
        make_node, name=name, args=args, spin=spin, close=_close_node, refusals=(StartupError,)
    )


def _close_node(node: Node) -> None:
    close = getattr(node, "close", None)
    if close is not None:
        close()
    node.destroy_node()


# ----------------------------------------------------------------- the point-cloud contract
# Declared by pointcloud_preprocess and policy alike and set from one `/**` YAML block, so the
# cloud the preprocessing makes is, by construction, the cloud the policy was checked against.
CONTRACT_SOURCES = ("checkpoint", "parameters")


def declare_contract_parameters(node: Node) -> None:
    from rcl_interfaces.msg import ParameterDescriptor

    from mtdagger.perception.contract import PointCloudContract

    default = PointCloudContract()
    # 'checkpoint': the contract stored in the checkpoint (simulation: training and graph agree
    # by construction); 'parameters': this robot cell's contract.*, which the policy node checks
    # the checkpoint against at start-up (real robot: a checkpoint for another cell is refused).
    # Dynamic typing: a YAML box written as [0, 1, 0] (integers) must not stop the node.
    numbers = ParameterDescriptor(dynamic_typing=True)
    # Default 'parameters': a checkpoint is checked against this cell's numbers unless the
    # configuration says, explicitly, to take its contract (simulation).
    node.declare_parameter("contract_source", "parameters")
    node.declare_parameter("contract.num_points", default.num_points)
    node.declare_parameter("contract.workspace_min", list(default.workspace_min), numbers)
    node.declare_parameter("contract.workspace_max", list(default.workspace_max), numbers)
    node.declare_parameter("contract.min_depth_m", default.min_depth_m, numbers)
    node.declare_parameter("contract.max_depth_m", default.max_depth_m, numbers)
    node.declare_parameter("contract.voxel_size_m", default.voxel_size_m, numbers)
    node.declare_parameter("contract.table_band_m", default.table_band_m, numbers)


def contract_from_parameters(node: Node, checkpoint: str | None):
    """The PointCloudContract this node works with (see `declare_contract_parameters`)."""
    from mtdagger.perception.contract import PointCloudContract
    from mtdagger.policy.checkpoint import CheckpointError, read_checkpoint_meta

    source = str(node.get_parameter("contract_source").value)
    if source not in CONTRACT_SOURCES:
        raise StartupError(f"parameter contract_source={source!r}; valid: {', '.join(CONTRACT_SOURCES)}")
    if source == "checkpoint":
        if checkpoint is None:
            raise StartupError("contract_source is 'checkpoint' but the checkpoint parameter is empty")
        try:
            stored = read_checkpoint_meta(checkpoint).point_cloud_contract
        except CheckpointError as error:
            raise StartupError(str(error)) from error
        if stored is None:
            raise StartupError(f"checkpoint {checkpoint} is a state student: it has no point-cloud contract")
        return PointCloudContract.from_dict(stored)
    try:
        return PointCloudContract(
            num_points=int(node.get_parameter("contract.num_points").value),
            workspace_min=tuple(float(v) for v in node.get_parameter("contract.workspace_min").value),
            workspace_max=tuple(float(v) for v in node.get_parameter("contract.workspace_max").value),
            min_depth_m=float(node.get_parameter("contract.min_depth_m").value),
            max_depth_m=float(node.get_parameter("contract.max_depth_m").value),
            voxel_size_m=float(node.get_parameter("contract.voxel_size_m").value),
            table_band_m=float(node.get_parameter("contract.table_band_m").value),
        )
    except (TypeError, ValueError) as error:
        raise StartupError(f"invalid contract.* parameters: {error}") from error


def load_robot(node: Node):
    """The robot config named by the `robot_config` parameter (a YAML path or a name in configs/robots)."""
    from mtdagger.control.robot_config import load_robot_config

    name = text_parameter(node, "robot_config")
    if name is None:
        raise StartupError("parameter robot_config is empty (a configs/robots name or a YAML path)")
    try:
        return load_robot_config(name)
    except (OSError, ValueError) as error:
        raise StartupError(str(error)) from error


# ----------------------------------------------------------------- policy -> arm controller
# One message carries the whole action (displacement and gripper) with the stamp of the
# observation it answers, so the arm controller never pairs a twist with the gripper command of
# another step (two topics are not ordered with respect to each other). sensor_msgs/JointState is
# a stamped, named vector every ROS 2 install has; `position` holds the convention action (m, m,
# m, -1 open .. +1 closed), on topics.ACTION_COMMAND_TOPIC. The bag topics (/mtdagger/action +
# /gripper) are published as well.
ACTION_FIELDS = ("dx", "dy", "dz", "gripper")


def action_command_msg(action, stamp_ns: int, frame_id: str):
    from sensor_msgs.msg import JointState

    msg = JointState()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    msg.header.frame_id = frame_id
    msg.name = list(ACTION_FIELDS)
    msg.position = [float(v) for v in action]
    return msg


def action_from_command_msg(msg) -> tuple[np.ndarray, int]:
    """(convention action (4,), observation stamp ns); ValueError for a malformed message."""
    if list(msg.name) != list(ACTION_FIELDS) or len(msg.position) != len(ACTION_FIELDS):
        raise ValueError(f"action command must name {list(ACTION_FIELDS)}, got {list(msg.name)}")
    stamp = msg.header.stamp
    return np.asarray(msg.position, dtype=np.float64), stamp.sec * 1_000_000_000 + stamp.nanosec


def stamped_value_msg(name: str, value: float, stamp_ns: int):
    from sensor_msgs.msg import JointState

    msg = JointState()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    msg.name = [name]
    msg.position = [float(value)]
    return msg
