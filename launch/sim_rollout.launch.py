"""System composition: evaluate a checkpoint in simulation through the full ROS graph, with a bag.

    ros2 launch launch/sim_rollout.launch.py checkpoint:=runs/x/checkpoints/best tasks:=mt10 \\
        episodes_per_task:=5 [noise:=realsense randomize:=true]
    mtdagger report bags/sim/<bag>          # success per task with 95% Wilson intervals

Includes policy_node's sim.launch.py with recording on and evaluation defaults (several episodes
per task, held-out seeds), so a simulated evaluation produces the same kind of MCAP bag, read by
the same report, as a real-robot evaluation (eval_recording.launch.py).
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument("checkpoint", description="checkpoint directory"),
            DeclareLaunchArgument("tasks", description="task name, comma-separated names, mt10 or mt50"),
            DeclareLaunchArgument("episodes_per_task", default_value="5", description="episodes per task"),
            DeclareLaunchArgument("seed", default_value="20000", description="first evaluation seed"),
            DeclareLaunchArgument(
                "noise", default_value="none", description="depth noise model: none | realsense"
            ),
            DeclareLaunchArgument("randomize", default_value="false", description="randomise the camera"),
            DeclareLaunchArgument("bag_dir", default_value="bags/sim", description="folder for the bag"),
            DeclareLaunchArgument(
                "log_level", default_value="warn", description="ROS log level of our nodes"
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([FindPackageShare("policy_node"), "launch", "sim.launch.py"])
                ),
                launch_arguments={
                    "checkpoint": LaunchConfiguration("checkpoint"),
                    "tasks": LaunchConfiguration("tasks"),
                    "episodes_per_task": LaunchConfiguration("episodes_per_task"),
                    "seed": LaunchConfiguration("seed"),
                    "noise": LaunchConfiguration("noise"),
                    "randomize": LaunchConfiguration("randomize"),
                    "bag_dir": LaunchConfiguration("bag_dir"),
                    "log_level": LaunchConfiguration("log_level"),
                    "record": "true",
                    "lockstep": "true",
                }.items(),
            ),
        ]
    )
