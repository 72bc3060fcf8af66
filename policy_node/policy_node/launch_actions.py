"""launch_ros actions from a deployment plan: the one place our launch files touch launch_ros.

Each launch file (policy_node/launch/*.launch.py, launch/*.launch.py) is the same three steps:
declare its rows of the argument table (`declared_arguments`), then, in an OpaqueFunction, read
their values (`argument_values`), call `mtdagger.deployment.plan.deployment_plan` and turn the
plan into actions (`plan_actions`). Every decision about parameters is in the plan, which has no
ROS in it and is tested without ROS; this module only translates. Written for Humble and Jazzy
(`Node`, `DeclareLaunchArgument`, `LaunchConfiguration`, `OpaqueFunction`, `OnProcessExit`).

Importing this module makes the mtdagger core importable first (`ensure_core_importable`), then
imports the plan from it: the launch files reach the core only through this module.
"""

from __future__ import annotations

import os
from pathlib import Path

from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    IncludeLaunchDescription,
    RegisterEventHandler,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from policy_node.launch_support import ensure_core_importable

ensure_core_importable()  # before any core import (ros2 launch run by the system Python)

from mtdagger.deployment.launch_args import LAUNCH_FILES, arguments_for  # noqa: E402
from mtdagger.deployment.plan import deployment_plan  # noqa: E402  (for the launch files)

PACKAGE = "policy_node"
__all__ = ["argument_values", "declared_arguments", "deployment_plan", "package_share", "plan_actions"]


def declared_arguments(launch: str) -> list:
    """DeclareLaunchArgument for each table row of `launch` (no default: the argument is required)."""
    return [
        DeclareLaunchArgument(row.name, default_value=row.default(launch), description=row.description)
        for row in arguments_for(launch)
    ]


def argument_values(launch: str, context) -> dict[str, str]:
    """The strings `ros2 launch` holds for `launch`'s arguments (defaults applied by launch)."""
    return {row.name: LaunchConfiguration(row.name).perform(context) for row in arguments_for(launch)}


def package_share(context) -> str:
    """This package's install share (config/ and launch/ of the plan)."""
    return FindPackageShare(PACKAGE).perform(context)


def plan_actions(plan, context) -> list:
    """Nodes (with a shutdown handler where a node ends the launch), includes, then the recorder."""
    actions: list = []
    for node in plan.nodes:
        action = node_action(node)
        actions.append(action)
        if node.ends_launch:
            shutdown = EmitEvent(event=Shutdown(reason=node.ends_launch))
            actions.append(RegisterEventHandler(OnProcessExit(target_action=action, on_exit=[shutdown])))
    share = package_share(context)
    for include in plan.includes:
        actions.append(include_action(share, include))
    if plan.record is not None:
        actions.append(ExecuteProcess(cmd=plan.record.command(), output="screen"))
    return actions


def node_action(node) -> Node:
    """A launch_ros Node for a NodePlan: its whole parameter dict, remappings and arguments."""
    arguments = list(node.arguments)
    if node.log_level:
        arguments += ["--ros-args", "--log-level", node.log_level]
    options: dict = {}
    if node.namespace:
        options["namespace"] = node.namespace
    if node.parameters:
        options["parameters"] = [dict(node.parameters)]
    if node.remappings:
        options["remappings"] = [tuple(pair) for pair in node.remappings]
    if arguments:
        options["arguments"] = arguments
    return Node(package=node.package, executable=node.executable, name=node.name, output="screen", **options)


def include_action(share: str, include) -> IncludeLaunchDescription:
    """One of this package's launch files (by its table name) with the plan's arguments."""
    path = os.path.join(share, "launch", Path(LAUNCH_FILES[include.launch]).name)
    return IncludeLaunchDescription(
        PythonLaunchDescriptionSource(path), launch_arguments=list(include.arguments.items())
    )
