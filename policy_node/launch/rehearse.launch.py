"""Rehearse a real FR3 trial on a full ROS 2 install: real.launch.py, unchanged, against the FR3
drawer cell standing in for the arm, its bring-up and the camera.

    ros2 launch policy_node rehearse.launch.py checkpoint:=/ckpt/final task:=drawer-open \\
        [objects:=both] [episodes_per_task:=5] [record:=true bag_dir:=bags]

Includes real.launch.py with robot:=franka_fr3, command_interface:=joint_trajectory,
camera_driver:=none (the cell renders the camera on the realsense-ros topics), use_sim_time:=true
and the cell's calibration file (published by static_transform_publisher, read back through TF),
so ee_state, pointcloud_preprocess, policy and arm_controller run exactly as on the robot. Adds:

- `fr3_cell` (sim_bridge/ros/fr3_cell_node.py): plays the arm behind fr3_arm_controller's
  JointTrajectory topic and franka_gripper's GripperCommand action, publishes /joint_states, the
  rendered camera, /clock and the episode markers (seen/unseen cabinets), lockstep;
- robot_state_publisher with the cell's FR3 URDF, as franka_ros2's bring-up starts it (TF for
  ee_state, /robot_description for the arm controller's IK).

The launch ends when the cell has run its episodes; `mtdagger report BAG_DIR` then reads the bag.
Without a full install (PyPI rclpy wheels), `mtdagger rehearse` runs the same nodes in-process,
with the parameters of the same plan (`mtdagger.deployment.plan.deployment_plan('rehearse', ...)`,
whose include is this file's real.launch.py arguments).
"""

from launch.actions import OpaqueFunction

from launch import LaunchDescription

LAUNCH = "rehearse"


def _setup(context):
    from policy_node import launch_actions as actions  # finds the core before any core import

    values = actions.argument_values(LAUNCH, context)
    plan = actions.deployment_plan(LAUNCH, values, share_dir=actions.package_share(context))
    return actions.plan_actions(plan, context)


def generate_launch_description():
    from policy_node.launch_actions import declared_arguments

    return LaunchDescription([*declared_arguments(LAUNCH), OpaqueFunction(function=_setup)])
