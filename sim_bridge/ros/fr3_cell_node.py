"""`fr3_cell`: the FR3 drawer cell as a ROS 2 robot, franka_ros2-style (see sim_bridge/fr3/cell.py).

Publishes what the robot's bring-up and the camera driver publish on a real FR3 cell:
`/robot_description` (latched, the backend's FR3 URDF, as robot_state_publisher does; off under
rehearse.launch.py, where robot_state_publisher runs), `/joint_states` (fr3_joint1..7 + fingers),
the rendered depth camera on the realsense-ros topics (16UC1 mm by default) and `/clock` (every
node, this one included, runs with use_sim_time), plus the episode markers of the rehearsal. The
TCP pose comes from the `ee_state` node as on the robot; `publish_ee_state:=true` publishes it
from the simulator instead (the cell then starts without waiting for an ee_state node).
Consumes the arm controller's JointTrajectory on the robot config's `joint_trajectory_topic`, its
stamped gripper goal (`/mtdagger/gripper_command`) and its applied command (the lockstep
pairing). The camera pose is not published: under the PyPI wheels (no tf2_ros) the
preprocessing reads the calibration file, the same YAML the real launch publishes as a static
transform and the cell renders from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from mtdagger.messages import topics
from sim_bridge.fr3.cell import CellFrame, FR3CellConfig, FR3CellCore
from sim_bridge.ros.bridge_node import (
    DEPTH_ENCODINGS,
    _parameter_reader,
    _require,
    depth_image_32fc1_msg,
)
from sim_bridge.ros.lockstep_loop import LockstepLoop, run_lockstep_node


def cell_config_from(value: Callable[[str], Any]) -> FR3CellConfig:
    """The cell's settings from node parameters (`value(name)`)."""
    from sim_bridge.camera.sim_camera import sim_camera_config
    from sim_bridge.fr3.config import FR3BackendConfig

    camera = sim_camera_config(
        str(value("camera_config")), noise=str(value("noise")), randomize=False, seed=int(value("seed"))
    )
    backend = FR3BackendConfig(
        tasks=tuple(t.strip() for t in str(value("tasks")).split(",") if t.strip()), camera=camera,
        calibration=str(value("calibration_file")), render_depth=False,
        robot_config=str(value("robot_config")),
    )  # fmt: skip
    return FR3CellConfig(
        tasks=backend.tasks, objects=str(value("objects")),
        episodes_per_task=int(value("episodes_per_task")), seed=int(value("seed")),
        seed_tasks=tuple(t.strip() for t in str(value("seed_tasks")).split(",") if t.strip()),
        max_episode_steps=int(value("max_episode_steps")), stop_on_success=bool(value("stop_on_success")),
        command_timeout_s=float(value("command_timeout_s")),
        startup_timeout_s=float(value("startup_timeout_s")), backend=backend,
    )  # fmt: skip


def _declare_parameters(node) -> None:
    """Every parameter of the cell with its default (rehearse.launch.py and the tests set them)."""
    node.declare_parameter("tasks", "drawer-open")
    node.declare_parameter("objects", "both")  # seen | unseen | both
    node.declare_parameter("episodes_per_task", 1)
    node.declare_parameter("seed", 0)
    node.declare_parameter("seed_tasks", "")  # the checkpoint's task list: eval's scenes (empty: tasks)
    node.declare_parameter("max_episode_steps", 120)
    node.declare_parameter("stop_on_success", True)
    node.declare_parameter("robot_config", "franka_fr3")
    node.declare_parameter("camera_config", "configs/cameras/fr3_d435.yaml")
    node.declare_parameter("calibration_file", "configs/calibration/fr3_cell.yaml")
    node.declare_parameter("noise", "none")
    node.declare_parameter("command_timeout_s", 10.0)
    node.declare_parameter("startup_timeout_s", 180.0)
    node.declare_parameter("settle_s", 1.0)
    node.declare_parameter("camera_name", "camera")
    node.declare_parameter("camera_namespace", "camera")
    node.declare_parameter("depth_encoding", "16UC1")
    node.declare_parameter("exit_when_done", True)
    # rehearse.launch.py: 'action' serves franka_gripper's GripperCommand; robot_state_publisher
    # runs there (the cell publishes no /robot_description), and ee_state runs in both rehearsals
    # (the cell publishes no EE pose, and waits for the ee_state node before its first frame).
    node.declare_parameter("gripper_interface", "topic")
    node.declare_parameter("publish_ee_state", True)
    node.declare_parameter("publish_robot_description", True)


class FR3CellNode:
    """rclpy wrapper around FR3CellCore (composition: this module imports without rclpy)."""

    def __init__(self, make_node: Callable[[str], Any]) -> None:
        from rclpy.clock import Clock, ClockType

        node = make_node("fr3_cell")
        self.node = node
        _declare_parameters(node)
        value = _parameter_reader(node)
        robot, gripper_interface = self._read_settings(value)
        config = cell_config_from(value)
        self.core = FR3CellCore(replace(config, pair_gripper=gripper_interface == "topic"))
        self.base_frame = robot.base_frame
        camera_name = str(value("camera_name"))
        prefix = "/" + "/".join(p for p in (str(value("camera_namespace")).strip("/"), camera_name) if p)
        self.camera_frame = f"{camera_name}_color_optical_frame"
        self._make_publishers(prefix, robot)
        self.trajectory_topic = robot.controllers.joint_trajectory_topic
        self._rejected = 0
        self._loop = LockstepLoop(
            node,
            self.core,
            settle_s=float(value("settle_s")),
            exit_when_done=bool(value("exit_when_done")),
            missing_inputs=self._missing_inputs,
            publish=self._publish,
        )
        self._make_subscriptions(robot, gripper_interface)
        self._publish_clock(self.core.now_s)
        node.create_timer(0.001, self._loop.tick, clock=Clock(clock_type=ClockType.STEADY_TIME))
        schedule = self.core.config.schedule()
        node.get_logger().info(
            f"FR3 cell: {len(schedule)} episode(s) of {', '.join(self.core.config.tasks)} on "
            f"{self.core.config.objects} cabinets, JointTrajectory on {self.trajectory_topic}"
        )

    def _read_settings(self, value) -> tuple[Any, str]:
        """(robot config, gripper interface), refused (ValueError) before anything is built when a
        choice is invalid or the robot config lacks what the cell drives (trajectory, gripper)."""
        from mtdagger.control.robot_config import load_robot_config

        self._encoding = str(value("depth_encoding"))
        if self._encoding not in DEPTH_ENCODINGS:
            valid = ", ".join(DEPTH_ENCODINGS)
            raise ValueError(f"parameter depth_encoding={self._encoding!r}; valid: {valid}")
        robot = load_robot_config(str(value("robot_config")))
        if robot.controllers.joint_trajectory_topic is None:
            raise ValueError(f"robot config {robot.name!r} names no joint_trajectory_topic")
        gripper_interface = str(value("gripper_interface"))
        if gripper_interface not in ("topic", "action"):
            raise ValueError(f"parameter gripper_interface={gripper_interface!r}; valid: topic, action")
        if gripper_interface == "action" and not robot.controllers.gripper_action:
            raise ValueError(f"gripper_interface 'action' but robot {robot.name!r} names no gripper_action")
        self._publish_ee = bool(value("publish_ee_state"))
        self._publish_description = bool(value("publish_robot_description"))
        return robot, gripper_interface

    def _make_subscriptions(self, robot, gripper_interface: str) -> None:
        """The arm controller's trajectory, its gripper goal (topic or action) and its applied
        command (what lockstep pairs a step with)."""
        from geometry_msgs.msg import TwistStamped
        from sensor_msgs.msg import JointState
        from trajectory_msgs.msg import JointTrajectory

        node = self.node
        node.create_subscription(JointTrajectory, self.trajectory_topic, self._on_trajectory, 10)
        if gripper_interface == "topic":
            node.create_subscription(JointState, topics.GRIPPER_COMMAND_TOPIC, self._on_gripper, 10)
        else:
            from rclpy.action import ActionServer

            action = _require("control_msgs.action", "gripper_interface 'action'")
            self._gripper_server = ActionServer(
                node, action.GripperCommand, robot.controllers.gripper_action, self._execute_gripper_goal
            )
        node.create_subscription(TwistStamped, topics.APPLIED_COMMAND_TOPIC, self._on_applied, 10)

    def _make_publishers(self, prefix: str, robot) -> None:
        from geometry_msgs.msg import PoseStamped
        from rclpy.qos import qos_profile_sensor_data
        from rosgraph_msgs.msg import Clock as ClockMsg
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from std_msgs.msg import String

        from mtdagger.messages.factory import RclpyFactory
        from mtdagger.messages.qos import latched_qos

        node = self.node
        self._factory = RclpyFactory()
        self._clock_pub = node.create_publisher(ClockMsg, "/clock", 10)
        self._image_pub = node.create_publisher(
            Image, f"{prefix}/aligned_depth_to_color/image_raw", qos_profile_sensor_data
        )
        self._info_pub = node.create_publisher(
            CameraInfo, f"{prefix}/aligned_depth_to_color/camera_info", qos_profile_sensor_data
        )
        if self._publish_ee:  # else ee_state's (the cell waits for that publisher to exist)
            self._ee_pub = node.create_publisher(PoseStamped, topics.EE_STATE_TOPIC, 10)
        self._joints_pub = node.create_publisher(JointState, robot.controllers.joint_states_topic, 10)
        self._episode_pub = node.create_publisher(String, topics.EPISODE_TOPIC, 10)
        if self._publish_description:
            description = node.create_publisher(String, topics.ROBOT_DESCRIPTION_TOPIC, latched_qos())
            description.publish(String(data=self.core.urdf))

    # ------------------------------------------------------------------ callbacks
    def _on_trajectory(self, msg) -> None:
        # Every field the point carries: the cell's JTC model interpolates by which are given.
        points = [
            (
                list(p.positions),
                p.time_from_start.sec + p.time_from_start.nanosec * 1e-9,
                list(p.velocities),
                list(p.accelerations),
            )
            for p in msg.points
        ]
        error = self.core.on_trajectory(msg.joint_names, points)
        if error is not None:
            self._rejected += 1
            self.node.get_logger().error(f"trajectory rejected: {error}", throttle_duration_sec=2.0)

    def _on_gripper(self, msg) -> None:
        if "gripper" in msg.name and len(msg.position) == len(msg.name):
            stamp = msg.header.stamp
            self.core.on_gripper(float(msg.position[list(msg.name).index("gripper")]), _seconds(stamp))

    def _execute_gripper_goal(self, goal_handle):
        """franka_gripper's GripperCommand: the goal position is the per-finger opening (m)."""
        from control_msgs.action import GripperCommand

        position = float(goal_handle.request.command.position)
        self.core.on_gripper(position)
        goal_handle.succeed()
        result = GripperCommand.Result()
        result.position, result.reached_goal = position, True
        return result

    def _on_applied(self, msg) -> None:
        self.core.on_applied(_seconds(msg.header.stamp))

    def _missing_inputs(self) -> list[str]:
        node = self.node
        needed = [self.trajectory_topic, topics.ACTION_TOPIC]
        if not self._publish_ee:
            needed.append(topics.EE_STATE_TOPIC)  # the ee_state node's: the policy acts on it
        missing = [t for t in needed if node.count_publishers(t) == 0]
        if self._image_pub.get_subscription_count() == 0:
            missing.append("a subscriber of the camera image")
        return missing

    @property
    def exit_code(self) -> int:
        return self._loop.exit_code

    @property
    def done(self) -> bool:
        return self._loop.done

    # ------------------------------------------------------------------ output
    def _publish(self, frame: CellFrame) -> None:
        from scipy.spatial.transform import Rotation

        from mtdagger.messages.convert import (
            camera_info_msg,
            depth_image_msg,
            joint_state_msg,
            pose_stamped_msg,
            string_msg,
        )

        factory = self._factory
        stamp_ns = round(frame.stamp_s * 1e9)
        # An episode ends at its last step's time: its end marker before the clock moves on.
        for marker in frame.markers:
            if marker.get("event") == "end":
                self._episode_pub.publish(string_msg(factory, json.dumps(marker)))
        self._publish_clock(frame.stamp_s)
        if not frame.finished:
            T = frame.tcp_pose
            quaternion = Rotation.from_matrix(T[:3, :3]).as_quat()
            self._joints_pub.publish(
                joint_state_msg(factory, list(frame.joint_names), frame.joint_positions, stamp_ns)
            )
            if self._publish_ee:
                self._ee_pub.publish(
                    pose_stamped_msg(factory, T[:3, 3], quaternion, stamp_ns, self.base_frame)
                )
        # Markers after the state: a node resetting on an episode start sees the new pose first.
        for marker in frame.markers:
            if marker.get("event") != "end":
                self._episode_pub.publish(string_msg(factory, json.dumps(marker)))
        if frame.finished:
            return
        # The camera last: its image starts the perception -> policy -> controller chain.
        self._info_pub.publish(camera_info_msg(factory, frame.camera, stamp_ns, self.camera_frame))
        encode = depth_image_32fc1_msg if self._encoding == "32FC1" else depth_image_msg
        self._image_pub.publish(encode(factory, frame.depth_m, stamp_ns, self.camera_frame))

    def _publish_clock(self, stamp_s: float) -> None:
        from mtdagger.messages.convert import time_msg

        stamp = time_msg(self._factory, round(stamp_s * 1e9))
        self._clock_pub.publish(self._factory.new("rosgraph_msgs/msg/Clock", clock=stamp))

    def close(self) -> None:
        self.core.close()


def _seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def main(args: list[str] | None = None) -> int:
    return run_lockstep_node(FR3CellNode, "fr3_cell", args)

if __name__ == "__main__":
    raise SystemExit(main())
