"""`ee_state`: the end-effector pose in the robot base frame, one PoseStamped per joint state.

On a real arm the pose is what robot_state_publisher puts on TF (the URDF's forward kinematics at
/joint_states); this node computes the same transform, base_frame -> ee_frame of the robot config,
from the same two inputs (`mtdagger.control.ee_pose`) and publishes it where the policy and the
arm controller read proprioception (`/mtdagger/ee_state`, the evaluation-bag topic), stamped with
the joint state's stamp: a frozen /joint_states still shows up as a stale observation in the arm
controller's watchdog. Driven by the joint states, not by a timer: it never stalls on a paused
simulated clock, never samples a pose older than the newest state, and a node started late gets
the pose from the next (or the next republished) joint state. No tf2_ros is needed (see
mtdagger/control/ee_pose.py for why TF was the wrong source).

in:  joint states (`joint_states_topic`, '' = the robot config's), the URDF (the
     `robot_description` parameter, else the latched `/robot_description` topic that
     robot_state_publisher publishes); out: `ee_state_topic`. `rate_hz` > 0 caps the rate on the
     states' stamps (0: one pose per joint state). In simulation the sim bridge publishes the
     topic itself and this node is not started; the FR3 rehearsal runs it as on the robot.
"""

from __future__ import annotations

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String

from mtdagger.control.ee_pose import EePoseFromJoints
from mtdagger.control.kinematics import KinematicsError
from mtdagger.messages import topics
from mtdagger.messages.convert import pose_stamped_msg, stamp_ns_from_header
from mtdagger.messages.factory import RclpyFactory
from policy_node.ros_support import (
    LATCHED_QOS,
    RELIABLE_QOS,
    StartupError,
    load_robot,
    now_ns,
    run_node,
    text_parameter,
)


class EeStateNode(Node):
    def __init__(self, **node_options) -> None:
        # node_options (rclpy Node kwargs: parameter_overrides, context, ...): for tests and
        # composition; `ros2 run` / launch pass parameters through the command line as usual.
        super().__init__("ee_state", **node_options)
        self.declare_parameter("robot_config", "")
        self.declare_parameter("ee_state_topic", topics.EE_STATE_TOPIC)
        self.declare_parameter("joint_states_topic", "")  # '' = the robot config's
        self.declare_parameter("robot_description", "")  # '' = the latched topic below
        self.declare_parameter("robot_description_topic", topics.ROBOT_DESCRIPTION_TOPIC)
        self.declare_parameter("rate_hz", 0.0)  # > 0: at most this rate (on the stamps); 0: every state
        robot = load_robot(self)
        rate = float(self.get_parameter("rate_hz").value)
        if not rate >= 0:
            raise StartupError(f"parameter rate_hz={rate!r} must be >= 0")
        self._core = EePoseFromJoints(robot.base_frame, robot.ee_frame, 1.0 / rate if rate > 0 else 0.0)
        self._factory = RclpyFactory()
        self._pub = self.create_publisher(
            PoseStamped, str(self.get_parameter("ee_state_topic").value), RELIABLE_QOS
        )
        description = text_parameter(self, "robot_description")
        if description is not None:
            self._set_description(description, refuse=True)
        else:
            topic = str(self.get_parameter("robot_description_topic").value)
            self.create_subscription(String, topic, self._on_description, LATCHED_QOS)
        joint_states = text_parameter(self, "joint_states_topic") or robot.controllers.joint_states_topic
        self.create_subscription(JointState, joint_states, self._on_joints, RELIABLE_QOS)
        self.get_logger().info(
            f"{robot.base_frame} -> {robot.ee_frame} from {joint_states} on "
            f"{self.get_parameter('ee_state_topic').value}"
        )

    def _set_description(self, urdf: str, refuse: bool = False) -> None:
        try:
            self._core.set_robot_description(urdf)
        except KinematicsError as error:
            if refuse:
                raise StartupError(f"robot_description: {error}") from None
            self.get_logger().error(f"robot description unusable, no EE pose: {error}")

    def _on_description(self, msg: String) -> None:
        self._set_description(msg.data)

    def _on_joints(self, msg: JointState) -> None:
        stamp_ns = stamp_ns_from_header(msg.header) or now_ns(self)  # an unstamped state: now
        pose = self._core.pose(msg.name, msg.position, stamp_ns)
        if pose is None:
            if self._core.problem:
                self.get_logger().warn(f"no EE pose: {self._core.problem}", throttle_duration_sec=2.0)
            return
        self._pub.publish(
            pose_stamped_msg(self._factory, pose.position, pose.orientation_xyzw, pose.stamp_ns,
                             self._core.base_frame)
        )  # fmt: skip


def main(args: list[str] | None = None) -> int:
    return run_node(EeStateNode, args, "ee_state")


if __name__ == "__main__":
    raise SystemExit(main())
