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

Arguments come from the one argument table (mtdagger/deployment/launch_args.py), node parameters
from `mtdagger.deployment.plan.deployment_plan` (as real.launch.py's).
"""

from launch.actions import OpaqueFunction

from launch import LaunchDescription

LAUNCH = "sim"


def _setup(context):
    from policy_node import launch_actions as actions  # finds the core before any core import

    values = actions.argument_values(LAUNCH, context)
    plan = actions.deployment_plan(LAUNCH, values, share_dir=actions.package_share(context))
    return actions.plan_actions(plan, context)


def generate_launch_description():
    from policy_node.launch_actions import declared_arguments

    return LaunchDescription([*declared_arguments(LAUNCH), OpaqueFunction(function=_setup)])
