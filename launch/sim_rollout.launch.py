"""System composition: evaluate a checkpoint in simulation through the full ROS graph, with a bag.

    ros2 launch launch/sim_rollout.launch.py checkpoint:=runs/x/checkpoints/best tasks:=mt10 \\
        episodes_per_task:=5 [noise:=realsense randomize:=true]
    mtdagger report bags/sim/<bag>          # success per task with 95% Wilson intervals

Includes policy_node's sim.launch.py with recording on and evaluation defaults (several episodes
per task, held-out seeds), so a simulated evaluation produces the same kind of MCAP bag, read by
the same report, as a real-robot evaluation (eval_recording.launch.py).

Arguments come from the one argument table (mtdagger/deployment/launch_args.py); what is passed
on to the included launch file is decided by `mtdagger.deployment.plan.deployment_plan`.
"""

from launch.actions import OpaqueFunction

from launch import LaunchDescription

LAUNCH = "sim_rollout"


def _setup(context):
    from policy_node import launch_actions as actions  # finds the core before any core import

    values = actions.argument_values(LAUNCH, context)
    plan = actions.deployment_plan(LAUNCH, values, share_dir=actions.package_share(context))
    return actions.plan_actions(plan, context)


def generate_launch_description():
    from policy_node.launch_actions import declared_arguments

    return LaunchDescription([*declared_arguments(LAUNCH), OpaqueFunction(function=_setup)])
