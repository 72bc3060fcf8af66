"""ROS 2 message conversion in the ROS-free core (DESIGN.md §7, §8).

- `factory`: `MessageFactory` and its implementations (`RclpyFactory` on the robot, `RosbagsFactory`
  for bags and tests, `RclpyLikeFactory` to check rclpy's field rules without rclpy).
- `convert`: factory-built writers and duck-typed readers for every message the stack publishes
  (the one import for all of them; `stamps` (time, header) and `geometry` (twist, pose, transform,
  tf) hold their parts and are re-exported by `convert`).
- `validate`: `validate_for_rclpy`, rclpy's (Humble) field type rules applied to any message object.
- `topics`: topic names and frame ids (realsense-ros, REP 105, ours).
"""

from mtdagger.messages.factory import MessageFactory, RclpyFactory, RclpyLikeFactory, RosbagsFactory
from mtdagger.messages.validate import RclpyFieldError, rclpy_field_problems, validate_for_rclpy

__all__ = [
    "MessageFactory",
    "RclpyFactory",
    "RclpyFieldError",
    "RclpyLikeFactory",
    "RosbagsFactory",
    "rclpy_field_problems",
    "validate_for_rclpy",
]
