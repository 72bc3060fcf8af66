"""`policy`: point cloud + proprioception + task -> the action (TwistStamped + gripper Float64).

The checkpoint is loaded and validated at start-up by `StudentPolicy.from_checkpoint` against this
graph's point-cloud contract and the robot's control period; on any mismatch the node refuses to
start with the loader's message (a policy run on the wrong contract does not fail, it misbehaves).
Inference is `mtdagger.runtime.stages.PolicyStage`, the stage the in-process runtime uses.

Timing: one action per point cloud, stamped with the cloud's stamp (the observation it used), so
the arm controller's watchdog measures the age of the observation behind every command. Clouds
arriving faster than the control period are skipped, so actions come at most at the control rate
(a simulator in lockstep and a 30 fps camera both pace the loop by their clouds).

The action is published as the evaluation bags store it (mtdagger.recording.layout): TwistStamped
in the base frame with linear = displacement / control period (m/s), angular = 0, and the gripper
command on `<action_topic>/gripper` (std_msgs/Float64, -1 open .. +1 closed); the arm controller
reads the whole action from ONE stamped message, `/mtdagger/action/command` (ros_support), so the
twist and the gripper of a step cannot be paired wrongly.

Proprioception (`observation.state` = EE xyz in the base frame + gripper opening): the EE position
from a PoseStamped topic (the sim bridge, or the `ee_state` node on a real arm), the opening from
one JointState joint scaled to MetaWorld's 0 (closed) .. 1 (open). Each cloud is paired with the
samples of its own moment (`mtdagger.runtime.observation_sync`): it waits until both inputs have
a sample stamped at or after it, or a sample that arrived after it, so the action never depends on
which process delivered first.

The task can change at run time (`ros2 param set /policy task drawer-close-v3`); a task the
checkpoint does not know is rejected with the list of its tasks. Evaluation episodes on a real
robot are marked with `~/start_episode` (Trigger) and `~/end_episode` (SetBool: data = success),
which write the markers `mtdagger report` reads; the run's metadata is published once, latched.
"""

from __future__ import annotations

import json

import numpy as np
from geometry_msgs.msg import PoseStamped, TwistStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState, PointCloud2
from std_msgs.msg import Float64, String
from std_srvs.srv import SetBool, Trigger

from mtdagger.messages import topics
from mtdagger.messages.convert import (
    NANOSECONDS,
    float64_msg,
    json_from_string_msg,
    points_from_point_cloud2,
    pose_from_msg,
    stamp_ns_from_header,
    string_msg,
    twist_stamped_msg,
)
from mtdagger.messages.factory import RclpyFactory
from mtdagger.recording.layout import BagMetadata, EpisodeInfo
from mtdagger.runtime.observation_sync import ObservationSync, SyncedObservation
from mtdagger.runtime.stages import PolicyStage
from mtdagger.trial.spec import EpisodeRequests
from policy_node.ros_support import (
    LATCHED_QOS,
    RELIABLE_QOS,
    StartupError,
    action_command_msg,
    contract_from_parameters,
    declare_contract_parameters,
    load_robot,
    run_node,
    text_parameter,
)

# Where the policy node's value of each execution-contract field comes from (refusal messages).
EXECUTION_SOURCES = {
    "control_period_s": "robot config safety.control_period_s",
    "trajectory_time_s": "robot config controllers.trajectory_time_from_start_s",
    "controllers": "robot config controllers", "gripper": "robot config gripper",
    "base_frame": "robot config base_frame", "action_frame": "the frame actions are published in",
    "gripper_change_threshold": "parameter gripper_change_threshold",
    "gripper_opening_scale": "parameter gripper_opening_scale",
    "point_cloud_contract": "parameters contract_source / contract.*",
}  # fmt: skip


class PolicyNode(Node):
    def __init__(self, **node_options) -> None:
        # node_options (rclpy Node kwargs: parameter_overrides, context, ...): for tests and
        # composition; `ros2 run` / launch pass parameters through the command line as usual.
        super().__init__("policy", **node_options)
        self._declare_parameters()
        checkpoint = text_parameter(self, "checkpoint")
        task = text_parameter(self, "task")
        if checkpoint is None or task is None:
            raise StartupError("parameters checkpoint and task are required")
        robot = load_robot(self)
        self._period = robot.safety.control_period_s
        self._trajectory_time_s = robot.controllers.trajectory_time_from_start_s
        self._base_frame = robot.base_frame
        self._gripper_joint = str(self.get_parameter("gripper_joint").value)
        self._gripper_scale = float(self.get_parameter("gripper_opening_scale").value)
        contract = contract_from_parameters(self, checkpoint)
        self._stage = self._load_policy(checkpoint, task, contract, self._execution_contract(robot, contract))
        self._sync = ObservationSync(("ee_position", "gripper_opening"))
        self._last_stamp_ns: int | None = None
        self._factory = RclpyFactory()
        self._episode: EpisodeInfo | None = None
        self._episode_index = 0
        self._episode_steps = 0
        self._requests = EpisodeRequests()  # the trial console's episode spec and verdict
        self._make_publishers()
        self._make_subscriptions()
        self.create_service(Trigger, "~/start_episode", self._start_episode)
        self.create_service(SetBool, "~/end_episode", self._end_episode)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._publish_metadata(robot.name, checkpoint)
        self.get_logger().info(
            f"checkpoint {self._stage.policy.checkpoint_id} ready, task {task!r}, "
            f"tasks {self._stage.policy.tasks}, control period {self._period} s"
        )

    def _declare_parameters(self) -> None:
        """Every parameter of the node (checkpoint and task are required), the contract's included."""
        self.declare_parameter("checkpoint", Parameter.Type.STRING)
        self.declare_parameter("task", Parameter.Type.STRING)
        self.declare_parameter("robot_config", "")
        self.declare_parameter("cloud_topic", topics.POINT_CLOUD_TOPIC)
        self.declare_parameter("ee_state_topic", topics.EE_STATE_TOPIC)
        self.declare_parameter("joint_states_topic", topics.JOINT_STATES_TOPIC)
        self.declare_parameter("action_topic", topics.ACTION_TOPIC)
        self.declare_parameter("action_command_topic", topics.ACTION_COMMAND_TOPIC)
        self.declare_parameter("episode_topic", topics.EPISODE_TOPIC)
        self.declare_parameter("metadata_topic", topics.METADATA_TOPIC)
        # observation.state[3]: the opening of this joint x scale, 0 closed .. 1 open (MetaWorld's).
        self.declare_parameter("gripper_joint", "gripper")
        self.declare_parameter("gripper_opening_scale", 1.0)
        # The arm controller's goal threshold, checked here against the checkpoint's execution
        # contract as well (node config: one '/**' value for both nodes).
        self.declare_parameter("gripper_change_threshold", 0.0)
        # Opt-in, never the default: run a checkpoint written before execution contracts, unchecked.
        self.declare_parameter("accept_checkpoint_without_execution_contract", False)
        self.declare_parameter("calibration_id", "unknown")
        self.declare_parameter("object_label", "")
        # The trial console's requests (JSON, mtdagger.trial.spec), set before ~/start_episode
        # and ~/end_episode: the episode's task, object and attempt; the operator's verdict.
        self.declare_parameter("episode_spec", "")  # EpisodeRequests.PARAMETERS
        self.declare_parameter("episode_verdict", "")
        # Simulation: the sim bridge decides the task of each episode; follow its start markers.
        self.declare_parameter("follow_episode_task", False)
        declare_contract_parameters(self)

    def _make_publishers(self) -> None:
        """The action (twist + gripper for the bag, and the one-message command for the arm
        controller), episode markers, and the latched bag metadata."""
        action_topic = str(self.get_parameter("action_topic").value)
        self._action_pub = self.create_publisher(TwistStamped, action_topic, RELIABLE_QOS)
        self._gripper_pub = self.create_publisher(Float64, f"{action_topic}/gripper", RELIABLE_QOS)
        self._command_pub = self.create_publisher(
            JointState, str(self.get_parameter("action_command_topic").value), RELIABLE_QOS
        )
        self._episode_pub = self.create_publisher(
            String, str(self.get_parameter("episode_topic").value), RELIABLE_QOS
        )
        self._metadata_pub = self.create_publisher(
            String, str(self.get_parameter("metadata_topic").value), LATCHED_QOS
        )

    def _make_subscriptions(self) -> None:
        """The observation (EE pose, joint states, cloud, last) and, in simulation, the markers."""
        self.create_subscription(
            PoseStamped, str(self.get_parameter("ee_state_topic").value), self._on_ee, RELIABLE_QOS
        )
        self.create_subscription(
            JointState, str(self.get_parameter("joint_states_topic").value), self._on_joints, RELIABLE_QOS
        )
        if bool(self.get_parameter("follow_episode_task").value):
            self.create_subscription(
                String, str(self.get_parameter("episode_topic").value), self._on_episode_marker, RELIABLE_QOS
            )
        # Created last: a start marker and the episode's first cloud ready together are served in
        # creation order, so the first action already uses the new episode's task.
        self.create_subscription(
            PointCloud2, str(self.get_parameter("cloud_topic").value), self._on_cloud, RELIABLE_QOS
        )

    def _execution_contract(self, robot, contract):
        """How this graph executes actions: the robot config and this node's parameters."""
        from mtdagger.control.execution_contract import ExecutionContract

        try:
            return ExecutionContract.from_configs(
                robot, point_cloud_contract=contract, gripper_opening_scale=self._gripper_scale,
                gripper_change_threshold=float(self.get_parameter("gripper_change_threshold").value),
            )  # fmt: skip
        except (TypeError, ValueError) as error:
            raise StartupError(f"execution contract: {error}") from error

    def _load_policy(self, checkpoint: str, task: str, contract, execution) -> PolicyStage:
        from mtdagger.policy.checkpoint import CheckpointError
        from mtdagger.policy.robot_acceptance import load_policy_for_robot

        opt_in = bool(self.get_parameter("accept_checkpoint_without_execution_contract").value)
        try:
            # The contract, control period, trajectory time and the whole execution contract
            # are imposed (see robot_acceptance).
            policy = load_policy_for_robot(
                checkpoint, contract=contract, control_period_s=self._period,
                trajectory_time_s=self._trajectory_time_s, execution=execution, sources=EXECUTION_SOURCES,
                accept_missing_execution_contract=opt_in,
            )  # fmt: skip
        except (CheckpointError, TypeError, ValueError) as error:
            raise StartupError(f"checkpoint {checkpoint} refused: {error}") from error
        try:
            return PolicyStage(policy, task)
        except ValueError as error:
            raise StartupError(str(error)) from error

    def _publish_metadata(self, robot: str, checkpoint: str) -> None:
        from mtdagger.provenance import git_commit

        metadata = BagMetadata(
            checkpoint_id=self._stage.policy.checkpoint_id,
            calibration_id=str(self.get_parameter("calibration_id").value),
            robot=robot,
            control_period_s=self._period,
            git_commit=git_commit(),
            config={"checkpoint": checkpoint, "point_cloud_contract": self._stage.policy.contract.to_dict()},
        )
        self._metadata_pub.publish(string_msg(self._factory, metadata.to_json()))

    # ------------------------------------------------------------------ parameters and services
    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "task":
                tasks = self._stage.policy.tasks
                if parameter.value not in tasks:
                    reason = f"unknown task {parameter.value!r}; this checkpoint knows: {', '.join(tasks)}"
                    return SetParametersResult(successful=False, reason=reason)
            elif parameter.name == "checkpoint" or parameter.name.startswith("contract"):
                return SetParametersResult(
                    successful=False, reason=f"{parameter.name} is fixed: restart the node"
                )
            elif parameter.name in EpisodeRequests.PARAMETERS:
                reason = self._requests.offer(parameter.name, str(parameter.value), self._stage.policy.tasks)
                if reason is not None:
                    return SetParametersResult(successful=False, reason=reason)
        for parameter in parameters:
            if parameter.name == "task":
                self._stage.set_task(parameter.value)
                self.get_logger().info(f"task is now {parameter.value!r}")
        return SetParametersResult(successful=True)

    def _start_episode(self, _request, response):
        if self._episode is not None:
            self._publish_end(False, "superseded by a new start", self._requests.marker_fields())
        spec = self._requests.start()  # a trial episode: its task, object and split
        if spec is not None:
            self._stage.set_task(spec.task)
        self._episode = EpisodeInfo(
            index=self._episode_index,
            task=self._stage.task,
            object=spec.object if spec else str(self.get_parameter("object_label").value),
            object_split=spec.object_split if spec else None,
        )
        self._episode_index += 1
        self._episode_steps = 0
        marker = {**self._episode.start_marker(), **self._requests.marker_fields()}
        self._episode_pub.publish(string_msg(self._factory, json.dumps(marker)))
        response.success, response.message = (
            True,
            f"episode {self._episode.index} ({self._stage.task}) started",
        )
        return response

    def _end_episode(self, request, response):
        if self._episode is None:
            response.success, response.message = False, "no episode is running (call ~/start_episode first)"
            return response
        index = self._episode.index
        try:
            success, notes, fields = self._requests.finish(bool(request.data))
        except ValueError as error:
            response.success, response.message = False, str(error)
            return response
        self._publish_end(success, notes, fields)
        response.success, response.message = True, f"episode {index} ended, success={bool(request.data)}"
        return response

    def _publish_end(self, success: bool, notes: str, fields: dict) -> None:
        marker = {**self._episode.start_marker(), **fields}
        marker.update(event="end", success=success, notes=notes, num_steps=self._episode_steps)
        self._episode_pub.publish(string_msg(self._factory, json.dumps(marker)))
        self._episode = None

    def _on_episode_marker(self, msg: String) -> None:
        try:
            marker = json_from_string_msg(msg)
            event, task = marker.get("event"), marker.get("task")
        except (ValueError, AttributeError):
            return
        if event != "start" or task == self._stage.task:
            return
        if task not in self._stage.policy.tasks:
            self.get_logger().error(f"episode task {task!r} is not one this checkpoint knows: holding")
            return
        self.set_parameters([Parameter("task", Parameter.Type.STRING, task)])

    # ------------------------------------------------------------------ observations -> action
    def _on_ee(self, msg: PoseStamped) -> None:
        position, _ = pose_from_msg(msg)
        self._act(self._sync.on_sample("ee_position", position, stamp_ns_from_header(msg.header)))

    def _on_joints(self, msg: JointState) -> None:
        if self._gripper_joint in msg.name:
            index = list(msg.name).index(self._gripper_joint)
            if index < len(msg.position):
                opening = float(msg.position[index]) * self._gripper_scale
                self._act(self._sync.on_sample("gripper_opening", opening, stamp_ns_from_header(msg.header)))

    def _on_cloud(self, msg: PointCloud2) -> None:
        stamp_ns = stamp_ns_from_header(msg.header)
        if (
            self._last_stamp_ns is not None
            and stamp_ns - self._last_stamp_ns < 0.5 * self._period * NANOSECONDS
        ):
            return  # faster than the control rate (or a repeat): skip
        ready = self._sync.on_cloud(msg, stamp_ns)
        if ready is None and self._sync.missing():
            self.get_logger().warn(
                f"no proprioception yet (end-effector pose and joint {self._gripper_joint!r}): no action",
                throttle_duration_sec=2.0,
            )
        self._act(ready)

    def _act(self, observation: SyncedObservation | None) -> None:
        """The action for a cloud whose proprioception has arrived (see the module docstring)."""
        if observation is None:
            return
        msg, stamp_ns = observation.cloud, observation.stamp_ns
        try:
            points = points_from_point_cloud2(msg)
        except ValueError as error:
            self.get_logger().warn(f"unusable point cloud: {error}", throttle_duration_sec=2.0)
            return
        values = observation.values
        state = np.array([*values["ee_position"], values["gripper_opening"]], dtype=np.float32)
        try:
            output = self._stage.act(points, state)
        except Exception as error:  # NonFiniteActionError or any other: never a NaN command, never
            # a dead callback; no action makes the arm controller's watchdog hold the arm
            self.get_logger().error(f"no action: {error}", throttle_duration_sec=2.0)
            return
        if output.value is None:
            self.get_logger().warn(f"no action: {output.reason}", throttle_duration_sec=2.0)
            return
        action = np.asarray(output.value, dtype=np.float64)
        self._last_stamp_ns = stamp_ns
        self._episode_steps += 1
        self._command_pub.publish(action_command_msg(action, stamp_ns, self._base_frame))
        # The evaluation-bag view of the same action (mtdagger.recording.layout).
        self._gripper_pub.publish(float64_msg(self._factory, float(action[3])))
        velocity = action[:3] / self._period
        self._action_pub.publish(
            twist_stamped_msg(self._factory, velocity, (0.0, 0.0, 0.0), stamp_ns, self._base_frame)
        )


def main(args: list[str] | None = None) -> int:
    return run_node(PolicyNode, args, "policy")


if __name__ == "__main__":
    raise SystemExit(main())
