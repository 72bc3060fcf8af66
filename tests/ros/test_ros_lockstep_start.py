"""The FR3 cell's start-up over real rclpy (issue 21's rehearse.launch.py deadlock): a node that
joins after the cell's first observation still gets it, and the cell waits for the EE pose's
publisher before it publishes anything.

Under `ros2 launch` the nodes start in any order and DDS discovery is not symmetric: the cell can
see `ee_state`'s publisher before `ee_state`'s subscription has matched the cell's /joint_states,
so the first joint state is lost to it. The old `ee_state` read TF, which robot_state_publisher
sends once per NEW stamp, on a timer of the simulated clock, which does not move before the first
command: it never produced a pose and the policy said "no proprioception yet" until the cell timed
out. Here the late `ee_state` is the real node class, the cell the real FR3 cell node.
"""

from __future__ import annotations

import numpy as np
from graph_harness import REPO_ROOT, Recorder, spin_until, stamp_ns


def test_an_ee_state_node_started_after_the_first_observation_gets_proprioception():
    import rclpy
    from geometry_msgs.msg import PoseStamped, TwistStamped
    from policy_node.ee_state import EeStateNode
    from policy_node.ros_support import RELIABLE_QOS, SENSOR_QOS
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image, JointState
    from trajectory_msgs.msg import JointTrajectory

    from mtdagger.control.kinematics import ArmKinematics
    from sim_bridge.fr3.model import fr3_urdf
    from sim_bridge.lockstep import CLOCK_START_S
    from sim_bridge.ros.fr3_cell_node import FR3CellNode

    cell_parameters = {
        "tasks": "drawer-open", "objects": "seen", "episodes_per_task": 1, "max_episode_steps": 3,
        "camera_config": str(REPO_ROOT / "configs" / "cameras" / "fr3_d435.yaml"),
        "calibration_file": str(REPO_ROOT / "configs" / "calibration" / "fr3_cell.yaml"),
        "gripper_interface": "topic", "publish_ee_state": False, "publish_robot_description": True,
        "settle_s": 0.2, "use_sim_time": True, "exit_when_done": False,
    }  # fmt: skip
    overrides = [Parameter(name, value=value) for name, value in cell_parameters.items()]
    rclpy.init()
    cell = ee_state = None
    nodes = []
    try:
        cell = FR3CellNode(lambda name: rclpy.create_node(name, parameter_overrides=overrides))
        probe = rclpy.create_node("late_joiner_probe")
        nodes = [probe, cell.node]
        executor = SingleThreadedExecutor()
        for node in nodes:
            executor.add_node(node)
        recorder = Recorder()
        recorder.attach(probe, {
            "/clock": Clock, "/joint_states": JointState, "/mtdagger/ee_state": PoseStamped,
        })  # fmt: skip
        # The rest of the graph as the cell sees it: the arm controller's and the policy's
        # publishers, a camera subscriber, and ee_state's publisher (its subscription not matched yet).
        probe.create_publisher(JointTrajectory, "/fr3_arm_controller/joint_trajectory", RELIABLE_QOS)
        probe.create_publisher(TwistStamped, "/mtdagger/action", RELIABLE_QOS)
        probe.create_subscription(Image, "/camera/camera/aligned_depth_to_color/image_raw", lambda _m: None,
                                  SENSOR_QOS)  # fmt: skip
        messages = recorder.messages
        # Without a publisher of the EE pose the cell does not start (the policy could not act).
        spin_until(executor, lambda: False, timeout_s=1.5)
        assert not messages["/joint_states"], "the cell began before anyone publishes the EE pose"
        probe.create_publisher(PoseStamped, "/mtdagger/ee_state", RELIABLE_QOS)
        assert spin_until(executor, lambda: messages["/joint_states"], timeout_s=60.0), "no first frame"
        first = stamp_ns(messages["/joint_states"][0][1])
        assert first == round(CLOCK_START_S * 1e9)

        ee_state = EeStateNode(parameter_overrides=[
            Parameter("robot_config", value="franka_fr3"), Parameter("use_sim_time", value=True)])
        executor.add_node(ee_state)
        nodes.append(ee_state)
        assert spin_until(executor, lambda: messages["/mtdagger/ee_state"], timeout_s=10.0), (
            "the late ee_state never published the EE pose"
        )
        pose = messages["/mtdagger/ee_state"][0][1]
        assert stamp_ns(pose) == first  # the pose of the observation the cell is waiting on
        state = messages["/joint_states"][-1][1]
        kinematics = ArmKinematics(fr3_urdf(), "fr3_link0", "fr3_hand_tcp")
        T = kinematics.forward(kinematics.joints_from_state(list(state.name), list(state.position)))
        p = pose.pose.position
        np.testing.assert_allclose([p.x, p.y, p.z], T[:3, 3], atol=1e-9)
        # Paused, not dead: /clock and the observation keep coming, at the observation's time.
        clocks = [m.clock.sec * 1_000_000_000 + m.clock.nanosec for _, m in messages["/clock"]]
        assert len(clocks) >= 2 and set(clocks) == {first}, clocks
        assert {stamp_ns(m) for _, m in messages["/joint_states"]} == {first}
        assert len(messages["/joint_states"]) >= 2
        assert cell.core.now_s == CLOCK_START_S  # no step without a command
    finally:
        for node in nodes:
            node.destroy_node()
        if cell is not None:
            cell.close()
        rclpy.try_shutdown()
