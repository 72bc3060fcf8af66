"""`arm_controller`: policy actions -> safe commands for the robot's controllers, and gripper goals.

Every decision (safety filter, stale-input holds, IK, command shaping, gripper gating) is
`mtdagger.control.arm_command.ArmControlCore`; this node converts messages around it:

in:  the action (`/mtdagger/action/command`: displacement and gripper in ONE JointState, stamped
     with its observation, so a twist is never paired with another step's gripper), the EE pose
     (`/mtdagger/ee_state`), joint states (IK seed), the robot description (joint_trajectory only:
     the `robot_description` parameter, else the latched `/robot_description` topic), episode
     markers (reset at a start).
out: per `command_interface` (robot config topics):
     'joint_trajectory' trajectory_msgs/JointTrajectory for a ros2_control JTC (one point, zero
       final velocity, explicit time_from_start: Jazzy's JTC rejects a non-zero end velocity);
     'cartesian_pose' PoseStamped equilibrium pose for a Cartesian impedance controller;
     'twist' TwistStamped for MoveIt Servo (configure Servo with command_in_type: speed_units);
     gripper goals through the control_msgs/action/GripperCommand client (`gripper_interface`
       'action', the robot path; a rejected or failed goal is sent again with the next command),
       or, where control_msgs is absent (PyPI rclpy, simulation), `gripper_interface` 'topic': the
       goal in force (after `gripper_change_threshold`, as a gripper server would hold it) on
       `/mtdagger/gripper_command` with every command, stamped like it;
     and, for the evaluation bag, the applied command (`/mtdagger/applied_command` + `/gripper`)
     the safety verdict (`/mtdagger/safety`, JSON {"status", "reasons"}) and the latency from
     the observation's stamp to its command (`/mtdagger/latency`, JSON {"observation_to_command"}, ms).
services: `~/stop` (latch a stop: hold until reset) and `~/reset` (clear it), std_srvs/Trigger.

A timer at the control rate turns stale input into a hold even when no message arrives.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration as DurationMsg
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from mtdagger.control.arm_command import ArmCommand, ArmControlCore, ArmControlSettings
from mtdagger.control.deadman import DeadManGuard
from mtdagger.control.kinematics import ArmKinematics, IkSettings, KinematicsError
from mtdagger.messages import topics
from mtdagger.messages.convert import (
    NANOSECONDS,
    float64_msg,
    json_from_string_msg,
    json_string_msg,
    pose_from_msg,
    pose_stamped_msg,
    stamp_ns_from_header,
    twist_stamped_msg,
)
from mtdagger.messages.factory import RclpyFactory
from policy_node.gripper_client import GripperClient
from policy_node.ros_support import (
    LATCHED_QOS,
    RELIABLE_QOS,
    StartupError,
    action_from_command_msg,
    load_robot,
    now_ns,
    require_ros_package,
    run_node,
    stamped_value_msg,
    text_parameter,
)

GRIPPER_INTERFACES = ("action", "topic", "none")


class ArmControllerNode(Node):
    def __init__(self, **node_options) -> None:
        # node_options (rclpy Node kwargs: parameter_overrides, context, ...): for tests and
        # composition; `ros2 run` / launch pass parameters through the command line as usual.
        super().__init__("arm_controller", **node_options)
        self._declare_parameters()
        robot = load_robot(self)
        interface = text_parameter(self, "command_interface") or robot.default_command_interface
        self._core = self._make_core(robot, interface)
        self._robot = robot
        self._check_execution_contract(robot)
        self._interface = interface
        self._ik_settings = self._read_ik_settings()
        self._factory = RclpyFactory()
        self._make_command_output(interface)
        gripper_interface = self._make_gripper_output()
        self._make_record_publishers()
        self._make_subscriptions()
        self.create_service(Trigger, "~/stop", self._stop)
        self.create_service(Trigger, "~/reset", self._reset)
        self.create_subscription(String, topics.TRIAL_HEARTBEAT_TOPIC, self._deadman.on_message, 1)
        self.create_timer(robot.safety.control_period_s, self._tick)
        self.get_logger().info(
            f"{robot.name}: command_interface {interface}, gripper {gripper_interface}, "
            f"period {robot.safety.control_period_s} s"
        )

    # ------------------------------------------------------------------ construction
    def _declare_parameters(self) -> None:
        """Every parameter of the node with its default (the launch files set them)."""
        self.declare_parameter("robot_config", "")
        self.declare_parameter("command_interface", "")  # '' = the robot config's default
        self.declare_parameter("action_command_topic", topics.ACTION_COMMAND_TOPIC)
        # '' = 'action' when the robot config names a gripper action server, else 'none'.
        self.declare_parameter("gripper_interface", "")
        self.declare_parameter("gripper_command_topic", topics.GRIPPER_COMMAND_TOPIC)
        self.declare_parameter("ee_state_topic", topics.EE_STATE_TOPIC)
        self.declare_parameter("episode_topic", topics.EPISODE_TOPIC)
        self.declare_parameter("applied_command_topic", topics.APPLIED_COMMAND_TOPIC)
        self.declare_parameter("safety_topic", topics.SAFETY_TOPIC)
        self.declare_parameter("latency_topic", topics.LATENCY_TOPIC)
        self.declare_parameter("robot_description", "")
        self.declare_parameter("robot_description_topic", "/robot_description")
        self.declare_parameter("gripper_change_threshold", 0.0)
        self.declare_parameter("trajectory_time_from_start_s", 0.0)
        # The checkpoint the policy runs: its execution contract is checked against this node's
        # settings at start-up (the launch files always give it; '' = unchecked, logged).
        self.declare_parameter("checkpoint", "")
        self.declare_parameter("accept_checkpoint_without_execution_contract", False)
        # joint_trajectory: when an IK answer is good enough to send (mtdagger.control.kinematics).
        self.declare_parameter("ik_position_tolerance_m", IkSettings.position_tolerance_m)
        self.declare_parameter("ik_orientation_tolerance_rad", IkSettings.orientation_tolerance_rad)
        self.declare_parameter("ik_max_joint_step_rad", IkSettings.max_joint_step_rad)
        self.declare_parameter("deadman_timeout_s", 0.0)  # > 0: hold without the console's heartbeat

    def _make_core(self, robot, interface: str) -> ArmControlCore:
        """The ROS-free core that makes every decision; a bad setting is a StartupError."""
        try:
            self._deadman = DeadManGuard(float(self.get_parameter("deadman_timeout_s").value))
            return ArmControlCore(
                robot,
                ArmControlSettings(
                    command_interface=interface,
                    gripper_change_threshold=float(self.get_parameter("gripper_change_threshold").value),
                    trajectory_time_from_start_s=float(
                        self.get_parameter("trajectory_time_from_start_s").value
                    ),
                ),
            )
        except ValueError as error:
            raise StartupError(str(error)) from error

    def _check_execution_contract(self, robot) -> None:
        """Refuse to start when the checkpoint was trained with another execution than this node
        performs (robot_acceptance.check_arm_controller_execution; '' checkpoint: unchecked)."""
        from mtdagger.policy.robot_acceptance import check_arm_controller_execution

        checkpoint = text_parameter(self, "checkpoint")
        opt_in = bool(self.get_parameter("accept_checkpoint_without_execution_contract").value)
        try:
            warnings = check_arm_controller_execution(checkpoint, robot, self._core.settings, opt_in)
        except ValueError as error:  # CheckpointError too
            raise StartupError(f"checkpoint {checkpoint} refused: {error}") from error
        for warning in warnings:
            self.get_logger().warn(warning)

    def _read_ik_settings(self) -> IkSettings:
        """When an IK answer is good enough to send (joint_trajectory); bad values: StartupError."""
        try:
            return IkSettings(
                position_tolerance_m=float(self.get_parameter("ik_position_tolerance_m").value),
                orientation_tolerance_rad=float(self.get_parameter("ik_orientation_tolerance_rad").value),
                max_joint_step_rad=float(self.get_parameter("ik_max_joint_step_rad").value),
            )
        except ValueError as error:
            raise StartupError(str(error)) from error

    def _make_command_output(self, interface: str) -> None:
        """The publisher of `command_interface`; joint_trajectory also needs the robot description
        (the parameter, else the latched topic) before IK can answer: until then the node holds."""
        controllers = self._robot.controllers
        if interface == "joint_trajectory":
            self._command_pub = self.create_publisher(
                JointTrajectory, controllers.joint_trajectory_topic, RELIABLE_QOS
            )
            description = text_parameter(self, "robot_description")
            if description is not None:
                self._on_robot_description(String(data=description))
            else:
                self.create_subscription(
                    String,
                    str(self.get_parameter("robot_description_topic").value),
                    self._on_robot_description,
                    LATCHED_QOS,
                )
        elif interface == "cartesian_pose":
            self._command_pub = self.create_publisher(
                PoseStamped, controllers.cartesian_pose_topic, RELIABLE_QOS
            )
        else:
            self._command_pub = self.create_publisher(
                TwistStamped, controllers.servo_twist_topic, RELIABLE_QOS
            )

    def _make_gripper_output(self) -> str:
        """The gripper's way out (action client, stamped topic, or none), checked against the robot
        config before anything is sent; returns the interface chosen."""
        robot, controllers = self._robot, self._robot.controllers
        self._gripper_client = self._gripper_topic_pub = None
        gripper_interface = text_parameter(self, "gripper_interface") or (
            "action" if controllers.gripper_action and robot.gripper else "none"
        )
        if gripper_interface not in GRIPPER_INTERFACES:
            raise StartupError(
                f"parameter gripper_interface={gripper_interface!r}; valid: {', '.join(GRIPPER_INTERFACES)}"
            )
        if gripper_interface != "none" and robot.gripper is None:
            raise StartupError(
                f"gripper_interface {gripper_interface!r} but robot {robot.name!r} has no gripper"
            )
        if gripper_interface == "action":
            if not controllers.gripper_action:
                raise StartupError(
                    f"gripper_interface 'action' but robot {robot.name!r} names no gripper_action"
                )
            action = require_ros_package("control_msgs.action", "gripper_interface 'action'")
            self._gripper_client = GripperClient(  # franka_gripper's semantics: see gripper_client
                self, action, controllers.gripper_action, self._core, robot.gripper, self._factory
            )
        elif gripper_interface == "topic":
            self._gripper_topic_pub = self.create_publisher(
                JointState, str(self.get_parameter("gripper_command_topic").value), RELIABLE_QOS
            )
        return gripper_interface

    def _make_record_publishers(self) -> None:
        """What the evaluation bag records beside the command: applied command, verdict, latency."""
        applied_topic = str(self.get_parameter("applied_command_topic").value)
        self._applied_pub = self.create_publisher(TwistStamped, applied_topic, RELIABLE_QOS)
        self._applied_gripper_pub = self.create_publisher(Float64, f"{applied_topic}/gripper", RELIABLE_QOS)
        self._safety_pub = self.create_publisher(
            String, str(self.get_parameter("safety_topic").value), RELIABLE_QOS
        )
        self._latency_pub = self.create_publisher(
            String, str(self.get_parameter("latency_topic").value), RELIABLE_QOS
        )

    def _make_subscriptions(self) -> None:
        """The inputs: EE pose, joint states (IK seed), episode markers, and the action, last."""
        self.create_subscription(
            PoseStamped, str(self.get_parameter("ee_state_topic").value), self._on_ee, RELIABLE_QOS
        )
        self.create_subscription(
            JointState, self._robot.controllers.joint_states_topic, self._on_joints, RELIABLE_QOS
        )
        self.create_subscription(
            String, str(self.get_parameter("episode_topic").value), self._on_episode, RELIABLE_QOS
        )
        # Created last: when an episode marker, a pose and an action are ready together, the
        # executor serves them in creation order, so the filter resets before the episode's first action.
        self.create_subscription(
            JointState, str(self.get_parameter("action_command_topic").value), self._on_action, RELIABLE_QOS
        )

    # ------------------------------------------------------------------ inputs
    def _on_robot_description(self, msg: String) -> None:
        try:
            kinematics = ArmKinematics(
                msg.data, self._robot.base_frame, self._robot.ee_frame, self._ik_settings
            )
            self._core.set_kinematics(kinematics)
        except KinematicsError as error:
            self.get_logger().error(f"robot description unusable for IK, holding: {error}")
            return
        self.get_logger().info(f"IK chain {self._robot.base_frame} -> {self._robot.ee_frame} ready")

    def _on_ee(self, msg: PoseStamped) -> None:
        position, orientation = pose_from_msg(msg)
        self._core.on_ee_pose(position, stamp_ns_from_header(msg.header) / NANOSECONDS, orientation)

    def _on_joints(self, msg: JointState) -> None:
        self._core.on_joint_state(msg.name, msg.position)

    def _on_episode(self, msg: String) -> None:
        try:
            event = json_from_string_msg(msg).get("event")
        except (ValueError, AttributeError):
            return
        if event == "start" and not self._core.start_episode():
            self.get_logger().warn("episode start before any end-effector pose: reset deferred")

    def _on_action(self, msg: JointState) -> None:
        try:
            action, stamp_ns = action_from_command_msg(msg)
        except ValueError as error:
            self.get_logger().error(f"action ignored: {error}", throttle_duration_sec=2.0)
            return
        received_ns = now_ns(self)
        self._deadman.check(self._core, received_ns, self._send)  # the trial console's heartbeat
        # Sent stamped with the observation it answers (a lockstep simulator waits for exactly that).
        on_action = self._core.on_action
        command = self._run(lambda: on_action(action, stamp_ns / NANOSECONDS, received_ns / NANOSECONDS),
                            received_ns, stamp_ns)  # fmt: skip
        if command is None:
            self.get_logger().warn(
                "action before any end-effector pose: nothing sent", throttle_duration_sec=2.0
            )
            return
        # The evaluation bag's latency: from the camera frame's stamp to its command leaving here
        # (on the node clock: wall time on a robot, simulated time in a lockstep simulation).
        age_ms = (received_ns - stamp_ns) / 1e6
        self._latency_pub.publish(json_string_msg(self._factory, {"observation_to_command": age_ms}))

    def _tick(self) -> None:
        now = now_ns(self)
        self._deadman.check(self._core, now, self._send)
        command = self._run(lambda: self._core.on_tick(now / NANOSECONDS), now)
        if command is not None:
            self.get_logger().warn(
                f"holding: {', '.join(command.applied.reasons)}", throttle_duration_sec=2.0
            )

    def _run(self, call, now: int, stamp_ns: int | None = None) -> ArmCommand | None:
        """A core call and its sending; any exception (a NaN IK answer, a bad value) becomes a
        hold with the reason, sent and recorded: never a dead callback, never a half command."""
        try:
            command = call()
            if command is not None:
                self._send(command, now if stamp_ns is None else stamp_ns)
            return command
        except Exception as error:  # the command path must not die; the arm must hold
            reason = f"command_error: {type(error).__name__}: {error}"
            self.get_logger().error(f"holding: {reason}", throttle_duration_sec=2.0)
            hold = self._core.fault_hold(now / NANOSECONDS, reason)
            try:
                if hold is not None:
                    self._send(hold, now)
            except Exception as again:  # not even a hold can be sent: say so, keep the node alive
                self.get_logger().error(f"hold not sent: {again!r}", throttle_duration_sec=2.0)
            return hold

    def _stop(self, _request, response):
        now = now_ns(self)
        command = self._core.stop(now / NANOSECONDS)
        if command is not None:
            self._send(command, now)
        response.success, response.message = True, "stopped: every command is a hold until ~/reset"
        return response

    def _reset(self, _request, response):
        ready = self._core.reset()
        response.success = True
        response.message = "stop cleared" + (
            "" if ready else " (no end-effector pose yet: filter reset deferred)"
        )
        return response

    # ------------------------------------------------------------------ outputs
    def _send(self, command: ArmCommand, stamp_ns: int) -> None:
        frame, factory = self._robot.base_frame, self._factory
        # Gripper first: in lockstep simulation the twist triggers the step, the goal should be there.
        if self._gripper_topic_pub is not None:
            # Every command carries the gripper goal in force, stamped alike: a lockstep simulator
            # pairs the two by stamp. The goal, not the raw command: a gripper server executes only
            # the goals that pass `gripper_change_threshold`, and so must the simulator.
            position = self._core.gripper_goal_m
            if position is not None:
                self._gripper_topic_pub.publish(stamped_value_msg("gripper", position, stamp_ns))
        elif command.gripper_position_m is not None and self._gripper_client is not None:
            self._gripper_client.send(command.gripper_position_m)
        twist = twist_stamped_msg(factory, command.linear_velocity_m_s, (0.0, 0.0, 0.0), stamp_ns, frame)
        if self._interface == "joint_trajectory":
            if command.joint_positions is not None:
                self._command_pub.publish(self._trajectory(command.joint_positions))
        elif self._interface == "cartesian_pose":
            if command.orientation_xyzw is not None:
                target, orientation = command.target_position, command.orientation_xyzw
                self._command_pub.publish(pose_stamped_msg(factory, target, orientation, stamp_ns, frame))
        else:
            self._command_pub.publish(twist)
        applied = command.applied
        self._applied_pub.publish(twist)
        self._applied_gripper_pub.publish(float64_msg(factory, float(applied.action[3])))
        verdict = {"status": applied.status, "reasons": list(applied.reasons)}
        self._safety_pub.publish(json_string_msg(factory, verdict))

    def _trajectory(self, joint_positions: np.ndarray) -> JointTrajectory:
        msg = JointTrajectory()  # header stamp 0: start now; the points are the core's (the cells' too)
        msg.joint_names = list(self._core.kinematics.joint_names)
        for model_point in self._core.trajectory_points(joint_positions):
            point = JointTrajectoryPoint()
            point.positions = [float(v) for v in model_point.positions]
            if model_point.velocities is not None:
                point.velocities = [float(v) for v in model_point.velocities]
            if model_point.accelerations is not None:
                point.accelerations = [float(v) for v in model_point.accelerations]
            sec, nanosec = divmod(round(model_point.time_from_start_s * 1e9), 1_000_000_000)
            point.time_from_start = DurationMsg(sec=sec, nanosec=nanosec)
            msg.points.append(point)
        return msg


def main(args: list[str] | None = None) -> int:
    return run_node(ArmControllerNode, args, "arm_controller")


if __name__ == "__main__":
    raise SystemExit(main())
