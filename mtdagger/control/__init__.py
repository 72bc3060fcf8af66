"""Action convention, safety filter and robot descriptions (DESIGN.md §4, §7)."""

from mtdagger.control.action import ACTION_DIM, ActionConvention
from mtdagger.control.robot_config import RobotConfig, load_robot_config
from mtdagger.control.safety import AppliedCommand, SafetyFilter
from mtdagger.control.safety_limits import SafetyLimits

__all__ = [
    "ACTION_DIM",
    "ActionConvention",
    "AppliedCommand",
    "RobotConfig",
    "SafetyFilter",
    "SafetyLimits",
    "load_robot_config",
]
