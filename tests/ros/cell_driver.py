"""A robot cell played by a probe node, step by step on a simulated clock, around the real
preprocessing, policy and arm controller nodes (real rclpy, one executor).

Each `step()` advances /clock by one control period and publishes what the robot and camera would
(EE pose, joint states, camera info, a depth image of a flat surface inside the workspace), each
stamped with the new time, then spins until the arm controller has answered, or, when no answer
is expected (a fault), until the graph has had time to. Sim time makes the control timer's ticks
a function of the steps, not of how fast this machine is, so fault deadlines are counted in
control periods.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import yaml
from graph_harness import CAMERA_CONFIG, REPO_ROOT, Recorder, stamp_ns, write_sim_calibration

PERIOD_S = 0.0125
PERIOD_NS = 12_500_000
START_NS = 1_000_000_000


def write_test_robot(path: Path, max_age_s: float) -> Path:
    """metaworld_sawyer with tighter watchdog ages (fault deadlines in control periods)."""
    robot = yaml.safe_load((REPO_ROOT / "configs" / "robots" / "metaworld_sawyer.yaml").read_text())
    robot["name"] = "sawyer_test"
    robot["safety"].update(max_observation_age_s=max_age_s, max_action_age_s=max_age_s)
    path.write_text(yaml.safe_dump(robot))
    return path


class CellDriver:
    def __init__(self, tmp: Path, checkpoint: Path, tasks: tuple[str, ...], max_age_s: float) -> None:
        import rclpy
        from geometry_msgs.msg import PoseStamped, TwistStamped
        from policy_node.arm_controller import ArmControllerNode
        from policy_node.pointcloud_preprocess import PointCloudPreprocessNode
        from policy_node.ros_support import RELIABLE_QOS, SENSOR_QOS
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter import Parameter
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import CameraInfo, Image, JointState, PointCloud2
        from std_msgs.msg import String

        from mtdagger.messages.factory import RclpyFactory
        from sim_bridge.camera.sim_camera import SimCameraConfig

        self.rclpy = rclpy
        rclpy.init()
        robot = str(write_test_robot(tmp / "sawyer_test.yaml", max_age_s))
        calibration = str(write_sim_calibration(tmp / "calibration.yaml"))
        self.checkpoint, self.tasks, self.robot = str(checkpoint), tasks, robot
        self.camera = SimCameraConfig.from_yaml(REPO_ROOT / CAMERA_CONFIG).camera_model()
        self.factory = RclpyFactory()
        self._parameter = Parameter
        common = {"robot_config": robot, "use_sim_time": True, "contract_source": "checkpoint"}
        self.preprocess = PointCloudPreprocessNode(parameter_overrides=self._overrides(
            {**common, "checkpoint": self.checkpoint, "calibration_file": calibration}))  # fmt: skip
        self.arm = ArmControllerNode(parameter_overrides=self._overrides(
            {**common, "command_interface": "twist", "gripper_interface": "topic"}))  # fmt: skip
        self.probe = rclpy.create_node("cell_probe")
        self.executor = SingleThreadedExecutor()
        for node in (self.preprocess, self.arm, self.probe):
            self.executor.add_node(node)
        self.policy = None
        self.start_policy()
        p = self.probe
        self.clock_pub = p.create_publisher(Clock, "/clock", 10)
        self.ee_pub = p.create_publisher(PoseStamped, "/mtdagger/ee_state", RELIABLE_QOS)
        self.joints_pub = p.create_publisher(JointState, "/joint_states", RELIABLE_QOS)
        self.info_pub = p.create_publisher(
            CameraInfo, "/camera/camera/aligned_depth_to_color/camera_info", SENSOR_QOS
        )
        self.depth_pub = p.create_publisher(
            Image, "/camera/camera/aligned_depth_to_color/image_raw", SENSOR_QOS
        )
        self.cloud_pub = p.create_publisher(PointCloud2, "/mtdagger/point_cloud", RELIABLE_QOS)
        self.episode_pub = p.create_publisher(String, "/mtdagger/episode", RELIABLE_QOS)
        self.recorder = Recorder()
        self.recorder.attach(p, {
            "/servo_node/delta_twist_cmds": TwistStamped, "/mtdagger/safety": String,
            "/mtdagger/action/command": JointState,
        })  # fmt: skip
        self.now_ns = START_NS
        self.ee = np.array([0.0, 0.6, 0.2])
        depth, ee = self.depth_pub, self.ee_pub
        self.spin(lambda: depth.get_subscription_count() > 0 and ee.get_subscription_count() > 1)

    def _overrides(self, values: dict) -> list:
        return [self._parameter(name, value=value) for name, value in values.items()]

    # ------------------------------------------------------------------ the policy node
    def start_policy(self) -> None:
        from policy_node.policy import PolicyNode

        self.policy = PolicyNode(parameter_overrides=self._overrides({
            "robot_config": self.robot, "use_sim_time": True, "checkpoint": self.checkpoint,
            "task": self.tasks[0], "contract_source": "checkpoint",
        }))  # fmt: skip
        self.executor.add_node(self.policy)

    def stop_policy(self) -> None:
        self.executor.remove_node(self.policy)
        self.policy.destroy_node()
        self.policy = None

    # ------------------------------------------------------------------ stepping
    def spin(self, done, timeout_s: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                return False
            self.executor.spin_once(timeout_sec=0.005)
        return True

    def settle(self, wall_s: float = 0.2) -> None:
        """Spin for a while (no answer is expected): whatever the graph would send, it has sent."""
        deadline = time.monotonic() + wall_s
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.005)

    def twists(self) -> list:
        return [m for _, m in self.recorder.messages["/servo_node/delta_twist_cmds"]]

    def verdicts(self) -> list[dict]:
        import json

        return [json.loads(m.data) for _, m in self.recorder.messages["/mtdagger/safety"]]

    def step(self, *, camera: str = "ok", expect_answer: bool = True) -> int:
        """One control period. camera: 'ok' | 'off' (no image) | 'empty' (all invalid depth)."""
        from mtdagger.messages.convert import (
            camera_info_msg,
            depth_image_msg,
            joint_state_msg,
            pose_stamped_msg,
            time_msg,
        )

        self.now_ns += PERIOD_NS
        now, f = self.now_ns, self.factory
        self.clock_pub.publish(f.new("rosgraph_msgs/msg/Clock", clock=time_msg(f, now)))
        nodes = [n for n in (self.preprocess, self.arm, self.policy) if n is not None]
        assert self.spin(lambda: all(n.get_clock().now().nanoseconds >= now for n in nodes)), "clock not seen"
        base = "right_arm_base_link"
        self.ee_pub.publish(pose_stamped_msg(f, self.ee, (0.0, 0.0, 0.0, 1.0), now, base))
        self.joints_pub.publish(joint_state_msg(f, ["gripper"], [1.0], now))
        if camera != "off":
            frame = "camera_color_optical_frame"
            depth = np.full((self.camera.height, self.camera.width), 1.0 if camera == "ok" else 0.0)
            self.info_pub.publish(camera_info_msg(f, self.camera, now, frame))
            self.depth_pub.publish(depth_image_msg(f, depth, now, frame))
        if expect_answer:
            # the command and its safety verdict (published right after it)
            answered = self.spin(
                lambda: any(stamp_ns(t) == now for t in self.twists())
                and len(self.verdicts()) >= len(self.twists())
            )
            assert answered, f"no command for the observation at {now} ns"
        else:
            self.settle()
        return now

    def publish_cloud(self, points: np.ndarray) -> None:
        from mtdagger.messages.convert import point_cloud2_msg

        self.cloud_pub.publish(point_cloud2_msg(self.factory, points, self.now_ns, "right_arm_base_link"))

    def close(self) -> None:
        for node in (self.policy, self.preprocess, self.arm, self.probe):
            if node is not None:
                node.destroy_node()
        self.rclpy.try_shutdown()
