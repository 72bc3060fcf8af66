"""The simulator as a ROS 2 robot: the same node graph runs against it as against a real arm.

`SimBridgeCore` (ROS-free, in sim_bridge/ros/bridge_core.py, tested in
tests/test_sim_bridge_core.py) owns the episodes, the simulated clock and the conversion of
controller commands into convention actions; the node in this file (rclpy imported lazily, so it
imports without ROS) publishes what a robot cell would:

- the simulated depth camera on the realsense-ros topics (16UC1 mm, `<camera>_color_optical_frame`),
  with its pose in the base frame on /tf_static (re-sent when a randomised camera moves);
- `/mtdagger/ee_state` (PoseStamped) and `/joint_states` (one joint `gripper` = opening), the
  evaluation-bag layout (mtdagger.recording.layout);
- `/clock`, the simulated time (all other nodes run with use_sim_time);
- `/mtdagger/success` (std_msgs/Bool, the task's per-step flag) and `/mtdagger/episode` start/end
  markers with the episode's success, which `mtdagger report` reads from a recorded bag;

and it consumes the arm controller's `twist` command (MoveIt Servo's TwistStamped topic from the
robot config: linear m/s x control period = the step's displacement) and the gripper: either
GripperCommand goals (`gripper_interface` 'action': an action server on the robot config's
gripper action; needs control_msgs), or the arm controller's stamped gripper position
(`gripper_interface` 'topic', /mtdagger/gripper_command), which lockstep pairs with the twist of
the same stamp. /tf_static needs tf2_ros (`publish_tf`); neither control_msgs nor tf2_ros is on
PyPI, so under the PyPI rclpy wheels the bridge runs with `gripper_interface:=topic
publish_tf:=false` and the preprocessing reads the camera pose from a calibration file.
`depth_encoding` '32FC1' publishes depth in metres unquantised (the in-process runtime's depth
exactly); the default '16UC1' millimetres is what realsense-ros publishes.

Stepping (lockstep, holds, timeouts): see the sim_bridge.ros.bridge_core module docstring.
"""

from __future__ import annotations

import array
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtdagger.messages import topics
from sim_bridge.ros.bridge_core import SimBridgeConfig, SimBridgeCore, SimFrame, build_backend
from sim_bridge.ros.lockstep_loop import LockstepLoop, run_lockstep_node


@dataclass
class _Publishers:
    clock: Any
    image: Any
    info: Any
    ee: Any
    joints: Any
    success: Any
    episode: Any
    tf_static: Any
    extra: dict = field(default_factory=dict)


class SimBridgeNode:
    """rclpy wrapper around SimBridgeCore (composition, so this module imports without rclpy)."""

    def __init__(self, make_node: Callable[[str], Any]) -> None:
        from rclpy.clock import Clock, ClockType

        from mtdagger.control.robot_config import load_robot_config
        from sim_bridge.suites import resolve_tasks

        node = make_node("sim_bridge")
        self.node = node
        _declare_parameters(node)
        value = _parameter_reader(node)
        gripper_interface = self._read_choices(value)
        exit_when_done = bool(value("exit_when_done"))
        robot = load_robot_config(str(value("robot_config")))
        tasks = resolve_tasks(str(value("tasks") or ""))
        self._build_core(value, robot, tasks, pair_gripper_by_stamp=gripper_interface == "topic")
        self.base_frame = robot.base_frame
        camera_name = str(value("camera_name"))
        namespace = str(value("camera_namespace")).strip("/")
        prefix = "/" + "/".join(part for part in (namespace, camera_name.strip("/")) if part)
        self.camera_frame = f"{camera_name}_color_optical_frame"
        self._publishers = self._make_publishers(prefix, value)
        self._factory = _rclpy_factory()
        self._ready_topics = [*list(value("ready_topics")), robot.controllers.servo_twist_topic]
        settle_s = float(value("settle_s"))
        self._make_subscriptions(robot, gripper_interface, value)
        # The bridge owns the simulated clock, so its own timer runs on the wall (steady) clock.
        wall = Clock(clock_type=ClockType.STEADY_TIME)
        poll_s = 0.001 if self.core.config.lockstep else self.core.period_s
        self._publish_clock(self.core.now_s)  # sim-time nodes start from a sane time, not 0
        self._loop = LockstepLoop(
            node,
            self.core,
            settle_s=settle_s,
            exit_when_done=exit_when_done,
            missing_inputs=self._missing_inputs,
            publish=self._publish,
        )
        node.create_timer(poll_s, self._loop.tick, clock=wall)
        node.get_logger().info(
            f"simulating {', '.join(tasks)} "
            f"({self.core.config.episodes_per_task or 'endless'} episode(s) each, "
            f"period {self.core.period_s} s, lockstep={self.core.config.lockstep})"
        )

    def _read_choices(self, value) -> str:
        """The parameters that pick an interface or encoding, refused (ValueError) unless one of the
        valid choices, before anything is built; returns the gripper interface."""
        gripper_interface = str(value("gripper_interface"))
        if gripper_interface not in GRIPPER_INTERFACES:
            raise ValueError(
                f"parameter gripper_interface={gripper_interface!r}; valid: {', '.join(GRIPPER_INTERFACES)}"
            )
        self._depth_encoding = str(value("depth_encoding"))
        if self._depth_encoding not in DEPTH_ENCODINGS:
            raise ValueError(
                f"parameter depth_encoding={self._depth_encoding!r}; valid: {', '.join(DEPTH_ENCODINGS)}"
            )
        self._publish_tf = bool(value("publish_tf"))
        return gripper_interface

    def _build_core(self, value, robot, tasks: list[str], *, pair_gripper_by_stamp: bool) -> None:
        """The simulator backend and the ROS-free core that steps it, checked against the robot
        config: the arm controller shapes commands for the robot's period, so the two must agree."""
        seed = int(value("seed"))
        self.backend = build_backend(
            str(value("sim")),
            tasks,
            str(value("camera_config")),
            str(value("noise")),
            bool(value("randomize")),
            seed,
            int(value("max_episode_steps")),
        )
        gripper = robot.gripper
        self.core = SimBridgeCore(
            self.backend,
            SimBridgeConfig(
                tasks=tuple(tasks),
                episodes_per_task=int(value("episodes_per_task")),
                seed=seed,
                lockstep=bool(value("lockstep")),
                command_timeout_s=float(value("command_timeout_s")),
                startup_timeout_s=float(value("startup_timeout_s")),
                gripper_open_position_m=gripper.open_position_m if gripper else 0.0,
                gripper_closed_position_m=gripper.closed_position_m if gripper else 1.0,
                pair_gripper_by_stamp=pair_gripper_by_stamp,
            ),
        )
        if abs(self.core.period_s - robot.safety.control_period_s) > 1e-9:
            raise ValueError(
                f"robot config {robot.name!r} has control_period_s={robot.safety.control_period_s} but the "
                f"simulator steps every {self.core.period_s} s"
            )
        if robot.controllers.servo_twist_topic is None:
            raise ValueError(f"robot config {robot.name!r} names no servo_twist_topic for the bridge to read")

    def _make_subscriptions(self, robot, gripper_interface: str, value) -> None:
        """The arm controller's twist, and the gripper by topic or as GripperCommand goals."""
        from geometry_msgs.msg import TwistStamped
        from rclpy.action import ActionServer
        from sensor_msgs.msg import JointState

        node = self.node
        node.create_subscription(TwistStamped, robot.controllers.servo_twist_topic, self._on_twist, 10)
        if gripper_interface == "topic":
            node.create_subscription(
                JointState, str(value("gripper_command_topic")), self._on_gripper_topic, 10
            )
        elif robot.controllers.gripper_action:
            GripperCommand = _require("control_msgs.action", "gripper_interface 'action'").GripperCommand
            self._gripper_server = ActionServer(
                node, GripperCommand, robot.controllers.gripper_action, self._execute_gripper_goal
            )

    def _make_publishers(self, prefix: str, value) -> _Publishers:
        from geometry_msgs.msg import PoseStamped
        from rclpy.qos import qos_profile_sensor_data
        from rosgraph_msgs.msg import Clock as ClockMsg
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from std_msgs.msg import Bool, String

        node = self.node
        tf_static = None
        if self._publish_tf:
            tf2_ros = _require("tf2_ros", "publish_tf (the camera pose on /tf_static)")
            tf_static = tf2_ros.StaticTransformBroadcaster(node)
        return _Publishers(
            clock=node.create_publisher(ClockMsg, "/clock", 10),
            image=node.create_publisher(
                Image, f"{prefix}/aligned_depth_to_color/image_raw", qos_profile_sensor_data
            ),
            info=node.create_publisher(
                CameraInfo, f"{prefix}/aligned_depth_to_color/camera_info", qos_profile_sensor_data
            ),
            ee=node.create_publisher(PoseStamped, str(value("ee_state_topic")), 10),
            joints=node.create_publisher(JointState, topics.JOINT_STATES_TOPIC, 10),
            success=node.create_publisher(Bool, str(value("success_topic")), 10),
            episode=node.create_publisher(String, str(value("episode_topic")), 10),
            tf_static=tf_static,
        )

    # ------------------------------------------------------------------ callbacks
    def _on_twist(self, msg) -> None:
        linear = msg.twist.linear
        stamp = msg.header.stamp
        self.core.on_twist([linear.x, linear.y, linear.z], stamp.sec + stamp.nanosec * 1e-9)

    def _on_gripper_topic(self, msg) -> None:
        if "gripper" not in msg.name:
            return
        index = list(msg.name).index("gripper")
        if index >= len(msg.position):
            return
        stamp = msg.header.stamp
        self.core.on_gripper_goal(float(msg.position[index]), stamp.sec + stamp.nanosec * 1e-9)

    def _execute_gripper_goal(self, goal_handle):
        from control_msgs.action import GripperCommand

        command = self.core.on_gripper_goal(float(goal_handle.request.command.position))
        goal_handle.succeed()
        result = GripperCommand.Result()
        result.position = float(goal_handle.request.command.position)
        result.reached_goal = True
        self.node.get_logger().debug(f"gripper command {command:+.2f}")
        return result

    def _missing_inputs(self) -> list[str]:
        node = self.node
        missing = [topic for topic in self._ready_topics if node.count_publishers(topic) == 0]
        if self._publishers.image.get_subscription_count() == 0:
            missing.append("a subscriber of the camera image")
        return missing

    @property
    def exit_code(self) -> int:
        return self._loop.exit_code

    # ------------------------------------------------------------------ output
    def _publish(self, frame: SimFrame) -> None:
        from mtdagger.messages.convert import (
            camera_info_msg,
            depth_image_msg,
            joint_state_msg,
            pose_stamped_msg,
            string_msg,
            transform_stamped_msg,
        )

        factory, p = self._factory, self._publishers
        stamp_ns = round(frame.stamp_s * 1e9)
        self._publish_clock(frame.stamp_s)
        if frame.camera_moved and p.tf_static is not None:
            T = frame.depth.camera.T_base_camera
            p.tf_static.sendTransform(
                transform_stamped_msg(factory, T, self.base_frame, self.camera_frame, stamp_ns)
            )
        if not frame.finished:
            identity = (0.0, 0.0, 0.0, 1.0)
            p.ee.publish(pose_stamped_msg(factory, frame.ee_position, identity, stamp_ns, self.base_frame))
            p.joints.publish(joint_state_msg(factory, ["gripper"], [frame.gripper_opening], stamp_ns))
            p.success.publish(factory.new("std_msgs/msg/Bool", data=bool(frame.success)))
        # Markers after the state: a node resetting on an episode start sees the new pose first.
        for marker in frame.markers:
            p.episode.publish(string_msg(factory, json.dumps(marker)))
        if frame.finished:
            return
        # The camera last: its image starts the perception -> policy -> controller chain.
        p.info.publish(camera_info_msg(factory, frame.depth.camera, stamp_ns, self.camera_frame))
        if self._depth_encoding == "32FC1":
            image = depth_image_32fc1_msg(factory, frame.depth.depth_m, stamp_ns, self.camera_frame)
        else:
            image = depth_image_msg(factory, frame.depth.depth_m, stamp_ns, self.camera_frame)
        p.image.publish(image)

    def _publish_clock(self, stamp_s: float) -> None:
        from mtdagger.messages.convert import time_msg

        stamp = time_msg(self._factory, round(stamp_s * 1e9))
        self._publishers.clock.publish(self._factory.new("rosgraph_msgs/msg/Clock", clock=stamp))

    def close(self) -> None:
        self.backend.close()


GRIPPER_INTERFACES = ("action", "topic")
DEPTH_ENCODINGS = ("16UC1", "32FC1")


def _declare_parameters(node) -> None:
    """Every parameter of the bridge with its default (the launch files and tests set them)."""
    from rclpy.parameter import Parameter

    node.declare_parameter("sim", "metaworld")
    node.declare_parameter("tasks", Parameter.Type.STRING)
    node.declare_parameter("episodes_per_task", 1)
    node.declare_parameter("seed", 0)
    node.declare_parameter("max_episode_steps", 0)  # 0: the backend's default
    node.declare_parameter("camera_config", "configs/cameras/metaworld_d435.yaml")
    node.declare_parameter("noise", "none")
    node.declare_parameter("randomize", False)
    node.declare_parameter("lockstep", True)
    node.declare_parameter("command_timeout_s", 1.0)
    node.declare_parameter("startup_timeout_s", 120.0)
    node.declare_parameter("robot_config", "metaworld_sawyer")
    node.declare_parameter("camera_name", "camera")
    node.declare_parameter("camera_namespace", "camera")
    node.declare_parameter("ee_state_topic", topics.EE_STATE_TOPIC)
    node.declare_parameter("success_topic", "/mtdagger/success")
    node.declare_parameter("episode_topic", topics.EPISODE_TOPIC)
    # The first episode starts once these topics have a publisher (the policy is loaded; the
    # arm controller's twist topic is always awaited) and the camera has a subscriber, plus
    # settle_s: a message published before its subscribers exist is lost, markers included.
    node.declare_parameter("ready_topics", [topics.ACTION_TOPIC])
    node.declare_parameter("settle_s", 1.0)
    node.declare_parameter("gripper_interface", "action")  # or 'topic' (see the module docstring)
    node.declare_parameter("gripper_command_topic", "/mtdagger/gripper_command")
    node.declare_parameter("publish_tf", True)
    # false: stay up after the last episode (a test or a recorder still draining the topics)
    node.declare_parameter("exit_when_done", True)
    node.declare_parameter("depth_encoding", "16UC1")  # or '32FC1' (metres, unquantised)


def _parameter_reader(node) -> Callable[[str], Any]:
    """`value(name)`: a parameter's value; a required one left unset (`tasks`) is a ValueError
    naming it, not rclpy's ParameterUninitializedException."""
    from rclpy.exceptions import ParameterUninitializedException

    def value(name: str) -> Any:
        try:
            return node.get_parameter(name).value
        except ParameterUninitializedException:
            raise ValueError(f"parameter {name} is required") from None

    return value


def _require(module: str, feature: str):
    """Import a ROS package only for the feature that needs it; one clear line when it is absent."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise RuntimeError(
            f"{feature} needs the ROS package {package!r}, which is not installed here "
            f"(apt install ros-jazzy-{package.replace('_', '-')}, or source a full ROS 2 Jazzy)"
        ) from None


def depth_image_32fc1_msg(factory, depth_m, stamp_ns: int, frame_id: str):
    """sensor_msgs/Image 32FC1 in metres (REP 118): the rendered depth as is, unquantised."""
    from mtdagger.messages.convert import header

    depth = np.asarray(depth_m, dtype="<f4")
    if depth.ndim != 2:
        raise ValueError(f"depth_m must be a 2-D (H, W) image, got shape {depth.shape}")
    height, width = depth.shape
    return factory.new(
        "sensor_msgs/msg/Image",
        header=header(factory, stamp_ns, frame_id),
        height=int(height), width=int(width), encoding="32FC1", is_bigendian=0, step=int(width * 4),
        data=array.array("B", np.ascontiguousarray(depth).tobytes()),
    )  # fmt: skip


def write_sim_calibration(path, camera_config: str, base_frame: str, camera_name: str = "camera"):
    """The simulated camera's nominal pose as a calibration YAML (calibration/extrinsics.py), what a
    hand-eye run would give: `pointcloud_preprocess calibration_file:=...` then needs no TF (the
    PyPI rclpy wheels have no tf2_ros). A randomised camera moves away from it; use TF for that."""
    from calibration.extrinsics import Extrinsics, save_extrinsics
    from sim_bridge.camera.sim_camera import SimCameraConfig

    T = SimCameraConfig.from_yaml(camera_config).camera_model().T_base_camera
    extrinsics = Extrinsics(
        T_base_camera=np.asarray(T), base_frame=base_frame,
        camera_frame=f"{camera_name}_color_optical_frame",
        calibration_id=f"sim:{camera_config.rsplit('/', 1)[-1].removesuffix('.yaml')}",
    )  # fmt: skip
    return save_extrinsics(path, extrinsics)


def _rclpy_factory():
    from mtdagger.messages.factory import RclpyFactory

    return RclpyFactory()


def main(args: list[str] | None = None) -> int:
    return run_lockstep_node(SimBridgeNode, "sim_bridge", args)

if __name__ == "__main__":
    raise SystemExit(main())
