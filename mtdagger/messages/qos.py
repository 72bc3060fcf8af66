"""The QoS profiles every node of the graph agrees on (policy_node's nodes, the simulator nodes).

A publisher and its subscribers must agree on durability (a latched topic is only received by a
late joiner when both sides are TRANSIENT_LOCAL), so both sides take the profile from here.
rclpy is imported when a profile is asked for: this module imports without ROS.
"""

from __future__ import annotations


def sensor_qos():
    """Camera images: best effort, keep last 5 (the realsense-ros / image_pipeline convention)."""
    from rclpy.qos import qos_profile_sensor_data

    return qos_profile_sensor_data


def reliable_qos():
    """Commands and states: ROS defaults (reliable, volatile, keep last 10)."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


def latched_qos():
    """Published once, received by late joiners and by `ros2 bag record` (like /tf_static)."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
        history=HistoryPolicy.KEEP_LAST,
    )
