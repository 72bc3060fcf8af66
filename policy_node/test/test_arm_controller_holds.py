"""ROS tier: the arm controller executes an action once, then holds on stale input by itself.

In-process rclpy test (no launch): the node is spun in a thread while a probe node publishes one
action and listens on MoveIt Servo's twist topic and the safety topic. The controller runs on a
simulated clock the probe advances, so "stale" is counted in clock steps, not in how fast this
machine happens to be. Skipped without rclpy.
"""

import pytest

rclpy = pytest.importorskip("rclpy")

import json  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from geometry_msgs.msg import PoseStamped, TwistStamped  # noqa: E402
from policy_node.ros_support import action_command_msg  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture
def graph():
    from policy_node.arm_controller import ArmControllerNode

    rclpy.init(args=[
        "--ros-args", "-p", "robot_config:=metaworld_sawyer", "-p", "command_interface:=twist",
        "-p", "gripper_interface:=topic", "-p", "use_sim_time:=true",
    ])  # fmt: skip
    controller = ArmControllerNode()
    probe = rclpy.create_node("arm_controller_probe")
    executor = MultiThreadedExecutor()
    executor.add_node(controller)
    executor.add_node(probe)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield controller, probe
    executor.shutdown()
    controller.destroy_node()
    probe.destroy_node()
    rclpy.shutdown()
    thread.join(timeout=2.0)


def _wait(predicate, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_one_action_is_one_move_then_a_hold(graph):
    from rosgraph_msgs.msg import Clock

    controller, probe = graph
    twists, verdicts = [], []
    probe.create_subscription(TwistStamped, "/servo_node/delta_twist_cmds", twists.append, 10)
    probe.create_subscription(String, "/mtdagger/safety", lambda m: verdicts.append(json.loads(m.data)), 10)
    clock_pub = probe.create_publisher(Clock, "/clock", 10)
    ee_pub = probe.create_publisher(PoseStamped, "/mtdagger/ee_state", 10)
    action_pub = probe.create_publisher(JointState, "/mtdagger/action/command", 10)
    assert _wait(lambda: action_pub.get_subscription_count() > 0 and ee_pub.get_subscription_count() > 0)
    time.sleep(0.5)  # the probe's own subscriptions match the controller's publishers

    def set_clock(ns: int) -> None:
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(ns, 1_000_000_000)
        clock_pub.publish(msg)
        assert _wait(lambda: controller.get_clock().now().nanoseconds == ns), "clock not seen"

    start_ns, period_ns = 10_000_000_000, 12_500_000
    set_clock(start_ns)
    pose = PoseStamped()
    pose.header.stamp.sec, pose.header.frame_id = 10, "right_arm_base_link"
    pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = 0.0, 0.6, 0.2
    pose.pose.orientation.w = 1.0
    ee_pub.publish(pose)
    time.sleep(0.1)  # the pose is in before the action (the clock stands still: it stays fresh)
    # One message: displacement (5 mm per 12.5 ms step = 0.4 m/s along x) and the gripper.
    action_pub.publish(action_command_msg([0.005, 0, 0, -1.0], start_ns, "right_arm_base_link"))
    assert _wait(lambda: len(twists) >= 1 and len(verdicts) >= 1, timeout_s=10.0), "no command"
    assert twists[0].twist.linear.x == pytest.approx(0.4, rel=1e-3)
    assert verdicts[0]["status"] == "ok"

    # Nothing new: past max_action_age_s (0.1 s = 8 periods) the controller's own timer holds, once.
    for step in range(1, 25):
        set_clock(start_ns + step * period_ns)
        time.sleep(0.01)
    assert _wait(lambda: len(twists) >= 2 and len(verdicts) >= 2, timeout_s=10.0), f"{len(twists)} twist(s)"
    assert twists[1].twist.linear.x == 0.0  # the stale-action hold from the timer, not a repeat
    assert verdicts[1]["status"] == "held"
    assert {"stale_observation", "stale_action"} & set(verdicts[1]["reasons"])
    for step in range(25, 40):
        set_clock(start_ns + step * period_ns)
    time.sleep(0.3)
    assert len(twists) == 2  # one hold, not a stream of them
