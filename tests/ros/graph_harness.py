"""Build and spin the simulation graph over real rclpy in this process, and record what it says.

sim_bridge + pointcloud_preprocess + policy + arm_controller, each the real node class, all in
one SingleThreadedExecutor (the messages still go through rclpy and Fast DDS over loopback).
Parameters reach the nodes the way `ros2 launch` hands them over: one `--params-file` with a
block per node name. PyPI has no tf2_ros or control_msgs, so the graph runs in its PyPI seams:
the camera pose from a calibration file written from the sim camera's config, and the gripper on
the stamped /mtdagger/gripper_command topic (the robot path, TF + GripperCommand, is unchanged).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CAMERA_CONFIG = "configs/cameras/metaworld_d435.yaml"
ROBOT = "metaworld_sawyer"


def write_sim_calibration(path: Path, camera_config: str = CAMERA_CONFIG) -> Path:
    """The simulated camera's nominal pose as a calibration YAML (what a hand-eye run would give)."""
    from sim_bridge.ros.bridge_node import write_sim_calibration as write

    return write(path, camera_config, base_frame="right_arm_base_link")


def sim_parameters(tmp: Path, checkpoint: Path, tasks: str, *, episodes: int, steps: int, seed: int) -> dict:
    """The node parameter blocks of the lockstep simulation graph (what sim.launch.py sets)."""
    calibration = write_sim_calibration(tmp / "sim_calibration.yaml")
    common = {"robot_config": ROBOT, "use_sim_time": True, "contract_source": "checkpoint"}
    first = tasks.split(",")[0]
    return {
        "sim_bridge": {
            "robot_config": ROBOT, "tasks": tasks, "episodes_per_task": episodes, "seed": seed,
            "max_episode_steps": steps, "camera_config": CAMERA_CONFIG, "settle_s": 0.5,
            "gripper_interface": "topic", "publish_tf": False, "depth_encoding": "32FC1",
            "command_timeout_s": 30.0, "startup_timeout_s": 60.0, "exit_when_done": False,
        },
        "pointcloud_preprocess": {
            **common, "checkpoint": str(checkpoint), "calibration_file": str(calibration),
        },
        "policy": {
            **common, "checkpoint": str(checkpoint), "task": first, "follow_episode_task": True,
            "calibration_id": "sim:metaworld_d435",
        },
        # 'topic': every command carries its gripper, stamped; threshold 0: every change is a goal
        # (MetaWorld's gripper follows the continuous command, as in the in-process runtime)
        "arm_controller": {
            **common, "command_interface": "twist", "gripper_interface": "topic",
            "gripper_change_threshold": 0.0,
        },
    }  # fmt: skip


def write_params(path: Path, blocks: dict[str, dict]) -> Path:
    path.write_text(yaml.safe_dump({name: {"ros__parameters": values} for name, values in blocks.items()}))
    return path


@dataclass
class Recorder:
    """A probe node's view of the graph: every message of the watched topics with its wall time."""

    messages: dict[str, list[tuple[float, Any]]] = field(default_factory=lambda: defaultdict(list))

    def attach(self, node, topics: dict[str, Any]) -> None:
        from policy_node.ros_support import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS

        for topic, msg_type in topics.items():
            qos = SENSOR_QOS if "camera" in topic else LATCHED_QOS if "metadata" in topic else RELIABLE_QOS

            def callback(msg, topic=topic):
                self.messages[topic].append((time.monotonic(), msg))

            node.create_subscription(msg_type, topic, callback, qos)


def stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def spin_until(executor, done, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            return False
        executor.spin_once(timeout_sec=0.01)
    return True


def qos_edges(node, graph_nodes: set[str]) -> list[tuple[str, str, str, str]]:
    """(topic, publisher node, subscriber node, verdict) for every publisher/subscriber pair of the
    graph's nodes, judged by rclpy's own QoS compatibility check through the graph API."""
    from rclpy.qos import QoSCompatibility, qos_check_compatible

    edges = []
    for topic, _types in node.get_topic_names_and_types():
        publishers = [p for p in node.get_publishers_info_by_topic(topic) if p.node_name in graph_nodes]
        subscribers = [s for s in node.get_subscriptions_info_by_topic(topic) if s.node_name in graph_nodes]
        for pub in publishers:
            for sub in subscribers:
                compatibility, reason = qos_check_compatible(pub.qos_profile, sub.qos_profile)
                verdict = "ok" if compatibility == QoSCompatibility.OK else f"{compatibility.name}: {reason}"
                edges.append((topic, pub.node_name, sub.node_name, verdict))
    return edges
