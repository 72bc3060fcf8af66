"""`ee_state`: the end-effector pose in the robot base frame, from TF, as a PoseStamped topic.

On a real arm the pose comes from the robot's own state publisher (robot_state_publisher turning
/joint_states and the URDF into TF); this node samples base_frame -> ee_frame of the robot config
at the control rate and publishes it where the policy and the arm controller read proprioception
(`/mtdagger/ee_state`, the evaluation-bag topic). In simulation the sim bridge publishes that topic
itself and this node is not started. The message keeps the transform's stamp, so a frozen
/joint_states shows up as a stale observation in the arm controller's watchdog.
"""

from __future__ import annotations

from geometry_msgs.msg import PoseStamped
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.time import Time

from mtdagger.messages import topics
from policy_node.ros_support import RELIABLE_QOS, load_robot, require_ros_package, run_node


class EeStateNode(Node):
    def __init__(self, **node_options) -> None:
        # node_options (rclpy Node kwargs: parameter_overrides, context, ...): for tests and
        # composition; `ros2 run` / launch pass parameters through the command line as usual.
        super().__init__("ee_state", **node_options)
        self.declare_parameter("robot_config", "")
        self.declare_parameter("ee_state_topic", topics.EE_STATE_TOPIC)
        self.declare_parameter("rate_hz", 0.0)  # 0: the robot config's control rate
        robot = load_robot(self)
        self._base_frame, self._ee_frame = robot.base_frame, robot.ee_frame
        rate = float(self.get_parameter("rate_hz").value)
        period = 1.0 / rate if rate > 0 else robot.safety.control_period_s
        tf2_ros = require_ros_package("tf2_ros", "ee_state (the EE pose from TF)")
        self._tf_error = tf2_ros.TransformException
        self._tf_buffer = tf2_ros.Buffer()
        self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)
        self._pub = self.create_publisher(
            PoseStamped, str(self.get_parameter("ee_state_topic").value), RELIABLE_QOS
        )
        self._last_stamp = None
        self.create_timer(period, self._tick)

    def _tick(self) -> None:
        try:
            transform = self._tf_buffer.lookup_transform(self._base_frame, self._ee_frame, Time(), Duration())
        except self._tf_error as error:
            self.get_logger().warn(
                f"no transform {self._base_frame} <- {self._ee_frame}: {error}", throttle_duration_sec=2.0
            )
            return
        stamp = transform.header.stamp
        if self._last_stamp is not None and (stamp.sec, stamp.nanosec) == self._last_stamp:
            return  # nothing new since the last sample: do not make an old pose look fresh
        self._last_stamp = (stamp.sec, stamp.nanosec)
        msg = PoseStamped()
        msg.header.stamp = stamp
        msg.header.frame_id = self._base_frame
        t, q = transform.transform.translation, transform.transform.rotation
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = t.x, t.y, t.z
        msg.pose.orientation = q
        self._pub.publish(msg)


def main(args: list[str] | None = None) -> int:
    return run_node(EeStateNode, args, "ee_state")


if __name__ == "__main__":
    raise SystemExit(main())
