"""Zero-shot trials on a real arm: camera -> point cloud -> policy -> safe arm commands (+ bag).

    ros2 launch policy_node real.launch.py task:=drawer-open-v3 checkpoint:=/ckpt/best \\
        calibration_file:=/calib/d435_fr3.yaml [robot:=franka_fr3] [record:=true bag_dir:=bags]

Starts the depth camera (our `depth_camera` node, or the official `realsense2_camera` driver with
the same settings: camera_driver:=realsense2_camera), the calibration as a static transform
(robot base -> camera optical frame, via tf2_ros static_transform_publisher), `ee_state`,
`pointcloud_preprocess`, `policy`, `arm_controller`, and `ros2 bag record -s mcap` of the
evaluation topics when record:=true. The robot's own bring-up (for the FR3: franka_ros2's
hardware interface, controllers, franka_gripper and robot_state_publisher) is launched separately,
as its maintainers document it.

Every setting is a launch argument. Node parameters come from share/policy_node/config/<robot>.yaml
(node_config:= to use another file); robot limits, frames and controller topics from the robot
config (configs/robots/<robot>.yaml, or robot_config:=<path>); camera settings from camera_config.
Mismatches (calibration frames vs robot and camera, checkpoint vs contract) stop the launch or
the node with a message, before anything moves.
"""

from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def _setup(context):
    from policy_node import launch_support as support

    support.ensure_core_importable()  # before any core import (ros2 run by the system Python)
    from mtdagger.control.robot_config import load_robot_config

    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    robot = load_robot_config(arg("robot_config") or arg("robot"))
    share = FindPackageShare("policy_node").perform(context)
    node_config = support.node_config_path(share, arg("robot"), arg("node_config"))
    use_sim_time = support.parse_bool(arg("use_sim_time"), "use_sim_time")
    record = support.parse_bool(arg("record"), "record")
    driver = support.choice(arg("camera_driver"), "camera_driver", support.CAMERA_DRIVERS)
    interface = arg("command_interface") or robot.default_command_interface
    support.choice(interface, "command_interface", support.COMMAND_INTERFACES)
    camera_name, camera_namespace = arg("camera_name"), arg("camera_namespace")
    camera = support.camera_node_parameters(
        arg("camera_config"), serial_no=arg("serial_no"), recording_file=arg("recording_file")
    )
    depth_topic, info_topic = support.camera_topics(camera_namespace, camera_name)
    calibration = support.calibration_transform(
        arg("calibration_file"),
        robot_base_frame=robot.base_frame,
        camera_frame=support.camera_optical_frame(camera_name, camera["align_to_color"]),
    )
    common = {"use_sim_time": use_sim_time, "robot_config": arg("robot_config") or arg("robot")}
    ros_args = ["--ros-args", "--log-level", arg("log_level")]

    if driver == "mtdagger":
        camera_node = Node(
            package="policy_node",
            executable="depth_camera",
            name="depth_camera",
            parameters=[
                camera,
                {
                    "camera_name": camera_name,
                    "camera_namespace": camera_namespace,
                    "use_sim_time": use_sim_time,
                },
            ],
            arguments=ros_args,
            output="screen",
        )
    else:
        camera_node = Node(
            package="realsense2_camera",
            executable="realsense2_camera_node",
            namespace=camera_namespace,
            name=camera_name,
            parameters=[
                support.realsense_driver_parameters(
                    arg("camera_config"),
                    serial_no=arg("serial_no"),
                    camera_name=camera_name,
                    camera_namespace=camera_namespace,
                )
            ],
            arguments=ros_args,
            output="screen",
        )
    actions = [
        Node(
            package="tf2_ros",
            executable="static_transform_publisher",
            name="camera_calibration_tf",
            arguments=calibration.static_transform_arguments,
            output="screen",
        ),
        Node(
            package="policy_node",
            executable="ee_state",
            name="ee_state",
            parameters=[node_config, common],
            arguments=ros_args,
            output="screen",
        ),
        Node(
            package="policy_node",
            executable="pointcloud_preprocess",
            name="pointcloud_preprocess",
            parameters=[
                node_config,
                common,
                {
                    "checkpoint": arg("checkpoint"),
                    "depth_topic": depth_topic,
                    "camera_info_topic": info_topic,
                },
            ],
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
                    "task": arg("task"),
                    "calibration_id": calibration.calibration_id,
                    "object_label": arg("object_label"),
                },
            ],
            arguments=ros_args,
            output="screen",
        ),
        Node(
            package="policy_node",
            executable="arm_controller",
            name="arm_controller",
            parameters=[node_config, common, {"command_interface": interface}],
            arguments=ros_args,
            output="screen",
        ),
    ]
    if driver != "none":
        actions.insert(0, camera_node)
    if record:
        output = support.bag_output_path(arg("bag_dir"), robot=robot.name, task=arg("task"))
        actions.append(
            ExecuteProcess(cmd=support.record_command(output, support.recorded_topics()), output="screen")
        )
    return actions


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument("task", description="task to run (one of the checkpoint's tasks)"),
            DeclareLaunchArgument(
                "checkpoint", description="checkpoint directory (safetensors + JSON sidecar)"
            ),
            DeclareLaunchArgument(
                "calibration_file", description="camera extrinsics YAML (calibration/extrinsics.py schema)"
            ),
            DeclareLaunchArgument(
                "robot", default_value="franka_fr3", description="robot name (configs/robots)"
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
                "command_interface",
                default_value="",
                description="joint_trajectory | cartesian_pose | twist (default: the robot config's)",
            ),
            DeclareLaunchArgument(
                "camera_driver",
                default_value="mtdagger",
                description="mtdagger | realsense2_camera | none (camera topics from elsewhere)",
            ),
            DeclareLaunchArgument(
                "camera_config",
                default_value="configs/cameras/realsense_d435.yaml",
                description="RealSense settings (RealSenseCameraConfig YAML), used by either driver",
            ),
            DeclareLaunchArgument(
                "serial_no", default_value="", description="RealSense serial (default: the only one)"
            ),
            DeclareLaunchArgument(
                "recording_file",
                default_value="",
                description="replay a librealsense recording instead of a camera",
            ),
            DeclareLaunchArgument(
                "camera_name", default_value="camera", description="realsense-ros camera_name"
            ),
            DeclareLaunchArgument(
                "camera_namespace", default_value="camera", description="realsense-ros camera_namespace"
            ),
            DeclareLaunchArgument(
                "object_label", default_value="", description="object label for episode markers"
            ),
            DeclareLaunchArgument(
                "record", default_value="false", description="record an evaluation bag (MCAP)"
            ),
            DeclareLaunchArgument("bag_dir", default_value="bags", description="folder for recorded bags"),
            DeclareLaunchArgument(
                "use_sim_time", default_value="false", description="use /clock (bag replay)"
            ),
            DeclareLaunchArgument(
                "log_level", default_value="info", description="ROS log level of our nodes"
            ),
            OpaqueFunction(function=_setup),
        ]
    )
