"""Zero-shot trials on a real arm: camera -> point cloud -> policy -> safe arm commands (+ bag).

    ros2 launch policy_node real.launch.py task:=drawer-open checkpoint:=/ckpt/best \\
        calibration_file:=/calib/d435_fr3.yaml [robot:=franka_fr3] [record:=true bag_dir:=bags]

Starts the depth camera (our `depth_camera` node, or the official `realsense2_camera` driver with
the same settings: camera_driver:=realsense2_camera), the calibration as a static transform
(robot base -> camera optical frame, via tf2_ros static_transform_publisher), `ee_state`,
`pointcloud_preprocess`, `policy`, `arm_controller`, and `ros2 bag record -s mcap` of the
evaluation topics when record:=true. The robot's own bring-up (for the FR3: franka_ros2's
hardware interface, controllers, franka_gripper and robot_state_publisher) is launched separately,
as its maintainers document it.

Every setting is a launch argument (`--show-args`), declared from the one argument table
(mtdagger/deployment/launch_args.py). Each node's parameters come from ONE function,
`mtdagger.deployment.plan.deployment_plan`: the node parameter file share/policy_node/config/
<robot>.yaml (node_config:= for another), the robot config (configs/robots/<robot>.yaml, or
robot_config:=<path>) and the camera config, resolved into one dict per node. `mtdagger rehearse`
takes its parameters from the same function. Mismatches (calibration frames vs robot and camera,
checkpoint vs contract) stop the launch or the node with a message, before anything moves.
"""

from launch.actions import OpaqueFunction

from launch import LaunchDescription

LAUNCH = "real"


def _setup(context):
    from policy_node import launch_actions as actions  # finds the core before any core import

    values = actions.argument_values(LAUNCH, context)
    plan = actions.deployment_plan(LAUNCH, values, share_dir=actions.package_share(context))
    return actions.plan_actions(plan, context)


def generate_launch_description():
    from policy_node.launch_actions import declared_arguments

    return LaunchDescription([*declared_arguments(LAUNCH), OpaqueFunction(function=_setup)])
