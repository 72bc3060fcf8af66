"""Rehearse a real FR3 trial on a full ROS 2 install: real.launch.py, unchanged, against the FR3
drawer cell standing in for the arm, its bring-up and the camera.

    ros2 launch policy_node rehearse.launch.py checkpoint:=/ckpt/final task:=drawer-open \\
        [objects:=both] [episodes_per_task:=5] [record:=true bag_dir:=bags]

Includes real.launch.py with robot:=franka_fr3, command_interface:=joint_trajectory,
camera_driver:=none (the cell renders the camera on the realsense-ros topics), use_sim_time:=true
and the cell's calibration file (published by static_transform_publisher, read back through TF),
so ee_state, pointcloud_preprocess, policy and arm_controller run exactly as on the robot. Adds:

- `fr3_cell` (sim_bridge/fr3_cell_node.py): plays the arm behind fr3_arm_controller's
  JointTrajectory topic and franka_gripper's GripperCommand action, publishes /joint_states, the
  rendered camera, /clock and the episode markers (seen/unseen cabinets), lockstep;
- robot_state_publisher with the cell's FR3 URDF, as franka_ros2's bring-up starts it (TF for
  ee_state, /robot_description for the arm controller's IK).

The launch ends when the cell has run its episodes; `mtdagger report BAG_DIR` then reads the bag.
Without a full install (PyPI rclpy wheels), `mtdagger rehearse` runs the same nodes in-process.
"""

from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    IncludeLaunchDescription,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def _setup(context):
    from pathlib import Path

    from policy_node import launch_support as support

    support.ensure_core_importable()  # before any core import (ros2 run by the system Python)
    from sim_bridge.fr3_model import fr3_urdf

    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    def integer(name: str) -> int:
        try:
            return int(arg(name))
        except ValueError:
            raise ValueError(f"launch argument {name}:={arg(name)!r} is not an integer") from None

    share = FindPackageShare("policy_node").perform(context)
    calibration = support.resolve_path(arg("calibration_file"))
    cell = Node(
        package="policy_node",
        executable="fr3_cell",
        name="fr3_cell",
        parameters=[
            {
                "robot_config": "franka_fr3",
                "tasks": arg("task"),
                "objects": arg("objects"),
                "episodes_per_task": integer("episodes_per_task"),
                "seed": integer("seed"),
                "max_episode_steps": integer("max_episode_steps"),
                "camera_config": support.resolve_path(arg("sim_camera_config")),
                "calibration_file": calibration,
                "gripper_interface": "action",
                "publish_ee_state": False,
                "publish_robot_description": False,
            }
        ],
        output="screen",
    )
    real = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(Path(share) / "launch" / "real.launch.py")),
        launch_arguments={
            "task": arg("task"),
            "checkpoint": arg("checkpoint"),
            "calibration_file": calibration,
            "robot": "franka_fr3",
            "command_interface": "joint_trajectory",
            "camera_driver": "none",
            "use_sim_time": "true",
            "record": "false",  # recorded here, with the cell's episode markers from the start
        }.items(),
    )
    actions = [
        cell,
        RegisterEventHandler(
            OnProcessExit(
                target_action=cell, on_exit=[EmitEvent(event=Shutdown(reason="rehearsal finished"))]
            )
        ),
        Node(
            package="robot_state_publisher",
            executable="robot_state_publisher",
            name="robot_state_publisher",
            parameters=[{"robot_description": fr3_urdf(), "use_sim_time": True}],
            output="screen",
        ),
        real,
    ]
    if support.parse_bool(arg("record"), "record"):
        output = support.bag_output_path(arg("bag_dir"), robot="franka_fr3", task=f"rehearsal_{arg('task')}")
        actions.append(
            ExecuteProcess(cmd=support.record_command(output, support.recorded_topics()), output="screen")
        )
    return actions


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument("checkpoint", description="FR3 checkpoint directory"),
            DeclareLaunchArgument(
                "task", default_value="drawer-open", description="drawer-open | drawer-close"
            ),
            DeclareLaunchArgument(
                "objects", default_value="both", description="cabinets: seen | unseen | both (in turn)"
            ),
            DeclareLaunchArgument(
                "episodes_per_task", default_value="2", description="episodes per object split"
            ),
            DeclareLaunchArgument("seed", default_value="0", description="seed of a split's first episode"),
            DeclareLaunchArgument(
                "max_episode_steps", default_value="120", description="control periods per episode at most"
            ),
            DeclareLaunchArgument(
                "calibration_file",
                default_value="configs/calibration/fr3_cell.yaml",
                description="the cell's calibration: rendered from, and published as the static transform",
            ),
            DeclareLaunchArgument(
                "sim_camera_config",
                default_value="configs/cameras/fr3_d435.yaml",
                description="the simulated D435 (SimCameraConfig YAML)",
            ),
            DeclareLaunchArgument("record", default_value="true", description="record an evaluation bag"),
            DeclareLaunchArgument("bag_dir", default_value="bags", description="folder for recorded bags"),
            OpaqueFunction(function=_setup),
        ]
    )
