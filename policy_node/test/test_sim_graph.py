"""ROS tier: sim.launch.py with a tiny checkpoint comes up, publishes clouds and actions, and ends.

Runs with launch_testing on a ROS 2 machine after `colcon build` (ros2_ws/README.md); skipped
where rclpy / launch_testing cannot be imported.
"""

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("launch_testing")

import json
import sys
import tempfile
import time
import unittest
from pathlib import Path

import launch_testing
import launch_testing.asserts
import rclpy
from geometry_msgs.msg import TwistStamped
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import String

from launch import LaunchDescription

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_checkpoint import save_tiny_checkpoint

CHECKPOINT = save_tiny_checkpoint(Path(tempfile.mkdtemp(prefix="mtdagger_ckpt_")))


@pytest.mark.launch_test
def generate_test_description():
    sim = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("policy_node"), "launch", "sim.launch.py"])
        ),
        launch_arguments={
            "checkpoint": str(CHECKPOINT),
            "tasks": "reach-v3",
            "episodes_per_task": "1",
            "max_episode_steps": "15",
            "record": "false",
        }.items(),
    )
    return LaunchDescription([sim, launch_testing.actions.ReadyToTest()])


class TestSimGraph(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node("sim_graph_probe")

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def _collect(self, msg_type, topic, count, timeout_s=120.0):
        received = []
        subscription = self.node.create_subscription(msg_type, topic, received.append, 10)
        deadline = time.monotonic() + timeout_s
        try:
            while len(received) < count and time.monotonic() < deadline:
                rclpy.spin_once(self.node, timeout_sec=0.1)
        finally:
            self.node.destroy_subscription(subscription)
        return received

    def test_clouds_actions_and_an_episode_end(self):
        clouds = self._collect(PointCloud2, "/mtdagger/point_cloud", 3)
        self.assertGreaterEqual(len(clouds), 3, "no point clouds from pointcloud_preprocess")
        self.assertEqual(clouds[0].width, 64)  # the checkpoint's contract
        self.assertEqual(clouds[0].header.frame_id, "right_arm_base_link")
        actions = self._collect(TwistStamped, "/mtdagger/action", 3)
        self.assertGreaterEqual(len(actions), 3, "no actions from the policy node")
        markers = [json.loads(m.data) for m in self._collect(String, "/mtdagger/episode", 1, timeout_s=120.0)]
        self.assertTrue(markers and markers[-1]["event"] in ("start", "end"))


@launch_testing.post_shutdown_test()
class TestSimGraphShutdown(unittest.TestCase):
    def test_every_process_exited_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
