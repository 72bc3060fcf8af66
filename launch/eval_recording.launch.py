"""System composition: a recorded zero-shot evaluation session on the real robot.

    ros2 launch launch/eval_recording.launch.py task:=drawer-open checkpoint:=/ckpt/best \\
        calibration_file:=/calib/d435_fr3.yaml object_label:=red_mug
    # per trial: ros2 service call /policy/start_episode std_srvs/srv/Trigger
    #            ros2 service call /policy/end_episode std_srvs/srv/SetBool "{data: true}"
    #   (emergency hold: ros2 service call /arm_controller/stop std_srvs/srv/Trigger)
    mtdagger report bags/eval/<bag>

Includes policy_node's real.launch.py with recording forced on, so every trial leaves an MCAP bag
with the metadata (checkpoint, calibration, robot, git commit), the episode markers with the
operator's success labels, and every observation, action, applied command and safety verdict.

Arguments come from the one argument table (mtdagger/deployment/launch_args.py); what is passed
on to the included launch file is decided by `mtdagger.deployment.plan.deployment_plan`.
"""

from launch.actions import OpaqueFunction

from launch import LaunchDescription

LAUNCH = "eval_recording"


def _setup(context):
    from policy_node import launch_actions as actions  # finds the core before any core import

    values = actions.argument_values(LAUNCH, context)
    plan = actions.deployment_plan(LAUNCH, values, share_dir=actions.package_share(context))
    return actions.plan_actions(plan, context)


def generate_launch_description():
    from policy_node.launch_actions import declared_arguments

    return LaunchDescription([*declared_arguments(LAUNCH), OpaqueFunction(function=_setup)])
