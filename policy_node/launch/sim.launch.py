"""The deployment graph against a simulator: the sim bridge stands in for the camera and the arm.

    ros2 launch policy_node sim.launch.py checkpoint:=runs/x/checkpoints/best tasks:=drawer-open-v3 \\
        [episodes_per_task:=10] [noise:=realsense] [randomize:=true] [record:=true bag_dir:=bags]

Starts `sim_bridge` (MetaWorld by default: simulated depth camera on the realsense-ros topics and
its pose on /tf_static, EE state, joint states, /clock, success and episode markers), then the
same `pointcloud_preprocess`, `policy` and `arm_controller` nodes as on the real robot, the arm
controller in `twist` mode (the bridge listens on MoveIt Servo's topic). Everything runs on the
simulated clock (use_sim_time). The point-cloud contract is taken from the checkpoint, and the
policy follows the task of each episode the bridge starts. The launch ends when the bridge has
run all its episodes (or fails to start), so the optional bag is closed cleanly.
"""

from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def _setup(context):
    from pathlib import Path

    from policy_node import launch_support as support

    support.ensure_core_importable()  # before any core import (ros2 run by the system Python)
    from mtdagger.control.robot_config import load_robot_config
    from sim_bridge.suites import resolve_tasks

    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    def integer(name: str) -> int:
        try:
            return int(arg(name))
        except ValueError:
            raise ValueError(f"launch argument {name}:={arg(name)!r} is not an integer") from None

    robot_config = arg("robot_config") or arg("robot")
    robot = load_robot_config(robot_config)
    share = FindPackageShare("policy_node").perform(context)
    node_config = support.node_config_path(share, arg("robot"), arg("node_config"))
    use_sim_time = support.parse_bool(arg("use_sim_time"), "use_sim_time")
    tasks = resolve_tasks(arg("tasks"))
    camera_config = support.resolve_path(arg("camera_config"))
    common = {"use_sim_time": use_sim_time, "robot_config": robot_config}
    ros_args = ["--ros-args", "--log-level", arg("log_level")]

    bridge = Node(
        package="policy_node",
        executable="sim_bridge",
        name="sim_bridge",
        parameters=[
            node_config,
            {
                "robot_config": robot_config,
                "sim": arg("sim"),
                "tasks": ",".join(tasks),
                "episodes_per_task": integer("episodes_per_task"),
                "seed": integer("seed"),
                "max_episode_steps": integer("max_episode_steps"),
                "camera_config": camera_config,
                "noise": arg("noise"),
                "randomize": support.parse_bool(arg("randomize"), "randomize"),
                "lockstep": support.parse_bool(arg("lockstep"), "lockstep"),
            },
        ],
        arguments=ros_args,
        output="screen",
    )
    actions = [
        bridge,
        RegisterEventHandler(
            OnProcessExit(
                target_action=bridge, on_exit=[EmitEvent(event=Shutdown(reason="simulation finished"))]
            )
        ),
        Node(
            package="policy_node",
            executable="pointcloud_preprocess",
            name="pointcloud_preprocess",
            parameters=[node_config, common, {"checkpoint": arg("checkpoint")}],
            arguments=ros_args,
            output="screen",
        ),
        Node(
            package="policy_node",
            executable="policy",
            name="policy",
            parameters=[
                node_config,
                common,
                {
                    "checkpoint": arg("checkpoint"),
                    "task": tasks[0],
                    "calibration_id": f"sim:{Path(camera_config).stem}",
                },
            ],
            arguments=ros_args,
            output="screen",
        ),
        Node(
            package="policy_node",
            executable="arm_controller",
            name="arm_controller",
            parameters=[node_config, common, {"command_interface": "twist"}],
            arguments=ros_args,
            output="screen",
        ),
    ]
    if support.parse_bool(arg("record"), "record"):
        label = tasks[0] if len(tasks) == 1 else f"{len(tasks)}tasks"
        output = support.bag_output_path(arg("bag_dir"), robot=robot.name, task=label)
        topics = support.recorded_topics(include_success=True)
        actions.append(ExecuteProcess(cmd=support.record_command(output, topics), output="screen"))
    return actions


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "checkpoint", description="checkpoint directory (safetensors + JSON sidecar)"
            ),
            DeclareLaunchArgument(
                "tasks", description="tasks to simulate: a task name, comma-separated names, mt10 or mt50"
            ),
            DeclareLaunchArgument(
                "episodes_per_task", default_value="1", description="episodes per task (0: endless)"
            ),
            DeclareLaunchArgument(
                "seed", default_value="20000", description="seed of the first episode (then +1)"
            ),
            DeclareLaunchArgument(
                "max_episode_steps",
                default_value="0",
                description="episode length (0: the simulator's default)",
            ),
            DeclareLaunchArgument("sim", default_value="metaworld", description="simulator backend"),
            DeclareLaunchArgument(
                "robot", default_value="metaworld_sawyer", description="robot name (configs/robots)"
            ),
            DeclareLaunchArgument(
                "robot_config",
                default_value="",
                description="robot config YAML path (default: configs/robots/<robot>.yaml)",
            ),
            DeclareLaunchArgument(
                "node_config",
                default_value="",
                description="node parameter YAML (default: config/<robot>.yaml)",
            ),
            DeclareLaunchArgument(
                "camera_config",
                default_value="configs/cameras/metaworld_d435.yaml",
                description="simulated camera (SimCameraConfig YAML)",
            ),
            DeclareLaunchArgument(
                "noise", default_value="none", description="depth noise model: none | realsense"
            ),
            DeclareLaunchArgument(
                "randomize",
                default_value="false",
                description="randomise camera pose and intrinsics per episode",
            ),
            DeclareLaunchArgument(
                "lockstep",
                default_value="true",
                description="step only when the command for the current observation has arrived",
            ),
            DeclareLaunchArgument(
                "record", default_value="false", description="record an evaluation bag (MCAP)"
            ),
            DeclareLaunchArgument("bag_dir", default_value="bags", description="folder for recorded bags"),
            DeclareLaunchArgument(
                "use_sim_time", default_value="true", description="run on the simulated /clock"
            ),
            DeclareLaunchArgument(
                "log_level", default_value="info", description="ROS log level of our nodes"
            ),
            OpaqueFunction(function=_setup),
        ]
    )
