"""System composition: a recorded zero-shot evaluation session on the real robot.

    ros2 launch launch/eval_recording.launch.py task:=drawer-open-v3 checkpoint:=/ckpt/best \\
        calibration_file:=/calib/d435_fr3.yaml object_label:=red_mug
    # per trial: ros2 service call /policy/start_episode std_srvs/srv/Trigger
    #            ros2 service call /policy/end_episode std_srvs/srv/SetBool "{data: true}"
    #   (emergency hold: ros2 service call /arm_controller/stop std_srvs/srv/Trigger)
    mtdagger report bags/eval/<bag>

Includes policy_node's real.launch.py with recording forced on, so every trial leaves an MCAP bag
with the metadata (checkpoint, calibration, robot, git commit), the episode markers with the
operator's success labels, and every observation, action, applied command and safety verdict.
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument("task", description="task to evaluate"),
            DeclareLaunchArgument("checkpoint", description="checkpoint directory"),
            DeclareLaunchArgument("calibration_file", description="camera extrinsics YAML"),
            DeclareLaunchArgument(
                "robot", default_value="franka_fr3", description="robot name (configs/robots)"
            ),
            DeclareLaunchArgument(
                "camera_driver", default_value="mtdagger", description="mtdagger | realsense2_camera"
            ),
            DeclareLaunchArgument("serial_no", default_value="", description="RealSense serial"),
            DeclareLaunchArgument(
                "command_interface", default_value="", description="default: the robot config's"
            ),
            DeclareLaunchArgument(
                "object_label", default_value="", description="object label for the markers"
            ),
            DeclareLaunchArgument("bag_dir", default_value="bags/eval", description="folder for the bag"),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([FindPackageShare("policy_node"), "launch", "real.launch.py"])
                ),
                launch_arguments={
                    "task": LaunchConfiguration("task"),
                    "checkpoint": LaunchConfiguration("checkpoint"),
                    "calibration_file": LaunchConfiguration("calibration_file"),
                    "robot": LaunchConfiguration("robot"),
                    "camera_driver": LaunchConfiguration("camera_driver"),
                    "serial_no": LaunchConfiguration("serial_no"),
                    "command_interface": LaunchConfiguration("command_interface"),
                    "object_label": LaunchConfiguration("object_label"),
                    "bag_dir": LaunchConfiguration("bag_dir"),
                    "record": "true",
                }.items(),
            ),
        ]
    )
