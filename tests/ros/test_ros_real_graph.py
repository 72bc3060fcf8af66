"""The real-robot graph over real rclpy: depth_camera (a synthetic librealsense recording) ->
pointcloud_preprocess (calibration file) -> policy (this cell's explicit contract) ->
arm_controller (joint_trajectory through IK, then cartesian_pose), with the episode and stop
services called through real service clients. The robot's drivers are a probe publishing joint
states and the EE pose (the ee_state node needs tf2_ros, which PyPI lacks;
tests/ros/test_ros_startup checks that it says so). The camera runs in its own rclpy context,
as its own process would.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import yaml
from graph_harness import REPO_ROOT, Recorder

CONTRACT = {
    "contract_source": "parameters", "contract.num_points": 64,
    "contract.workspace_min": [-0.6, 0.25, 0.015], "contract.workspace_max": [0.6, 0.97, 0.6],
    "contract.min_depth_m": 0.1, "contract.max_depth_m": 2.5, "contract.voxel_size_m": 0.01,
}  # fmt: skip
JOINTS = ["yaw", "shoulder", "elbow"]


def _three_dof_urdf() -> str:
    def joint(name, parent, child, xyz, axis, kind="revolute"):
        extra = f'<axis xyz="{axis}"/><limit lower="-2.8" upper="2.8" effort="1" velocity="1"/>'
        return (
            f'<joint name="{name}" type="{kind}"><parent link="{parent}"/><child link="{child}"/>'
            f'<origin xyz="{xyz}"/>{extra if kind != "fixed" else ""}</joint>'
        )

    links = "".join(f'<link name="{n}"/>' for n in ("base", "a", "b", "c", "tip"))
    joints = (
        joint("yaw", "base", "a", "0 0 0.2", "0 0 1")
        + joint("shoulder", "a", "b", "0 0 0", "0 1 0")
        + joint("elbow", "b", "c", "0 0 0.4", "0 1 0")
        + joint("tip_joint", "c", "tip", "0 0 0.3", "", kind="fixed")
    )
    return f"<robot name='arm'>{links}{joints}</robot>"


@pytest.fixture
def cell(tmp_path):
    """Robot config, checkpoint, recording and calibration of a small 3-joint test arm."""
    from tiny_checkpoint import save_tiny_checkpoint

    from calibration.extrinsics import Extrinsics, save_extrinsics
    from mtdagger.camera.recording import SyntheticStream, write_synthetic_depth_recording

    robot = yaml.safe_load((REPO_ROOT / "configs" / "robots" / "franka_fr3.yaml").read_text())
    robot.update(name="test_arm", base_frame="base", ee_frame="tip", joint_names=JOINTS)
    robot.pop("joint_limits")  # the FR3's, per FR3 joint: this 3-joint arm has none
    robot["safety"].update(workspace_min=[-1, -1, -0.2], workspace_max=[1, 1, 1.5], control_period_s=0.0125)
    # Wall-clock graph: generous ages, so a loaded machine's scheduling never turns the known
    # action into a stale hold (the hold is still awaited below, it just comes later).
    robot["safety"].update(max_observation_age_s=2.0, max_action_age_s=1.0)  # the action is stale first
    (tmp_path / "test_arm.yaml").write_text(yaml.safe_dump(robot))
    # A flat wall 1 m in front of a camera 0.3 m up, looking along +y of the base: in the workspace.
    stream = SyntheticStream(64, 48, 50.0, 50.0, 31.5, 23.5)
    recording = write_synthetic_depth_recording(
        tmp_path / "wall.db3", [np.full((48, 64), 1000, np.uint16)] * 4, stream, fps=30
    )
    T_base_camera = np.eye(4)
    T_base_camera[:3, :3] = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]
    T_base_camera[:3, 3] = [0.0, -0.3, 0.3]
    calibration = save_extrinsics(tmp_path / "calibration.yaml", Extrinsics(
        T_base_camera=T_base_camera, base_frame="base", camera_frame="camera_depth_optical_frame",
        calibration_id="test-wall",
    ))  # fmt: skip
    return {
        "robot": str(tmp_path / "test_arm.yaml"), "recording": str(recording),
        "calibration": str(calibration),
        "checkpoint": str(_with_the_test_arms_execution(save_tiny_checkpoint(
            tmp_path / "ckpt", tasks=("reach-v3",), num_points=64,
            trajectory_time_s=robot["controllers"]["trajectory_time_from_start_s"],
        ), tmp_path / "test_arm.yaml")),
    }  # fmt: skip


def _with_the_test_arms_execution(checkpoint, robot_yaml):
    """The tiny checkpoint as if trained for the test arm: its execution contract is the test
    arm's robot config with the settings this graph runs (gripper_opening_scale 25)."""
    import dataclasses

    from mtdagger.control.execution_contract import ExecutionContract
    from mtdagger.control.robot_config import load_robot_config
    from mtdagger.policy.checkpoint import load_checkpoint, save_checkpoint

    model, meta = load_checkpoint(checkpoint)
    stored = ExecutionContract.from_dict(meta.execution_contract)
    contract = ExecutionContract.from_configs(
        load_robot_config(robot_yaml), gripper_change_threshold=stored.gripper_change_threshold,
        gripper_opening_scale=25.0, point_cloud_contract=None, control_period_s=stored.control_period_s,
        trajectory_time_s=stored.trajectory_time_s, action_frame=stored.action_frame,
    )  # fmt: skip
    contract = dataclasses.replace(contract, point_cloud_contract=stored.point_cloud_contract)
    save_checkpoint(checkpoint, model, dataclasses.replace(meta, execution_contract=contract.to_dict()))
    return checkpoint


def _call(executor, client, request, timeout_s=10.0):
    assert client.wait_for_service(timeout_sec=timeout_s), client.srv_name
    future = client.call_async(request)
    executor.spin_until_future_complete(future, timeout_sec=timeout_s)
    assert future.done(), f"{client.srv_name}: no answer"
    return future.result()


def _spin_until(executor, done, timeout_s=20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.01)
    return done()


def test_real_robot_graph_from_recording_to_controller_commands(cell):
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from policy_node.arm_controller import ArmControllerNode
    from policy_node.depth_camera import DepthCameraNode
    from policy_node.pointcloud_preprocess import PointCloudPreprocessNode
    from policy_node.policy import PolicyNode
    from policy_node.ros_support import action_command_msg
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState, PointCloud2
    from std_msgs.msg import String
    from std_srvs.srv import SetBool, Trigger
    from trajectory_msgs.msg import JointTrajectory

    from mtdagger.control.kinematics import ArmKinematics
    from mtdagger.messages.convert import joint_state_msg, pose_stamped_msg, transform_stamped_msg
    from mtdagger.messages.factory import RclpyFactory

    def params(values):
        return [Parameter(name, value=value) for name, value in values.items()]

    urdf, factory = _three_dof_urdf(), RclpyFactory()
    kinematics = ArmKinematics(urdf, "base", "tip")
    joints = np.array([0.0, 0.6, 1.0])
    common = {"robot_config": cell["robot"]}
    rclpy.init()
    camera_context = Context()
    rclpy.init(context=camera_context)
    camera = None
    nodes = []
    try:
        preprocess = PointCloudPreprocessNode(parameter_overrides=params({
            **common, "checkpoint": cell["checkpoint"], "calibration_file": cell["calibration"],
            **CONTRACT}))  # fmt: skip
        policy = PolicyNode(parameter_overrides=params({
            **common, "checkpoint": cell["checkpoint"], "task": "reach-v3", "gripper_joint": "finger",
            "gripper_opening_scale": 25.0, **CONTRACT}))
        arm = ArmControllerNode(parameter_overrides=params({
            **common, "command_interface": "joint_trajectory", "robot_description": urdf,
            "gripper_interface": "topic"}))
        probe = rclpy.create_node("robot_probe")
        nodes = [preprocess, policy, arm, probe]
        executor = SingleThreadedExecutor()
        for node in nodes:
            executor.add_node(node)
        recorder = Recorder()
        recorder.attach(probe, {
            "/mtdagger/point_cloud": PointCloud2, "/mtdagger/action/command": JointState,
            "/fr3_arm_controller/joint_trajectory": JointTrajectory, "/mtdagger/safety": String,
            "/mtdagger/episode": String,
            "/cartesian_impedance_example_controller/equilibrium_pose": PoseStamped,
        })  # fmt: skip
        ee_pub = probe.create_publisher(PoseStamped, "/mtdagger/ee_state", 10)
        joints_pub = probe.create_publisher(JointState, "/joint_states", 10)
        action_pub = probe.create_publisher(JointState, "/mtdagger/action/command", 10)

        def robot_state():
            """What the robot's drivers publish: joint states and the EE pose, stamped now."""
            now = probe.get_clock().now().nanoseconds
            joints_pub.publish(joint_state_msg(factory, [*JOINTS, "finger"], [*joints, 0.02], now))
            tip = transform_stamped_msg(factory, kinematics.forward(joints), "base", "tip", now).transform
            q = tip.rotation
            position = [tip.translation.x, tip.translation.y, tip.translation.z]
            ee_pub.publish(pose_stamped_msg(factory, position, [q.x, q.y, q.z, q.w], now, "base"))

        probe.create_timer(0.01, robot_state)  # the drivers keep publishing, as on a robot
        messages = recorder.messages
        assert _spin_until(executor, lambda: ee_pub.get_subscription_count() >= 2)
        start = _call(executor, probe.create_client(Trigger, "/policy/start_episode"), Trigger.Request())
        assert start.success, start.message

        camera = DepthCameraNode(context=camera_context, parameter_overrides=params(
            {"recording_file": cell["recording"], "decimation": 0, "align_to_color": False}))
        assert _spin_until(executor, lambda: not camera._thread.is_alive(), timeout_s=30.0)
        _spin_until(executor, lambda: False, timeout_s=0.5)  # the last frames through the graph
        assert camera.exit_code == 0  # played to its end
        clouds = [m for _, m in messages["/mtdagger/point_cloud"]]
        assert 1 <= len(clouds) <= 4 and {c.header.frame_id for c in clouds} == {"base"}
        assert len(messages["/mtdagger/action/command"]) >= 1  # faster than the control rate: skipped

        # A known action straight to the arm controller: joint_trajectory through IK.
        count = len(messages["/fr3_arm_controller/joint_trajectory"])
        now = probe.get_clock().now().nanoseconds
        action_pub.publish(action_command_msg([0.005, 0.0, 0.0, 1.0], now, "base"))
        assert _spin_until(executor, lambda: len(messages["/fr3_arm_controller/joint_trajectory"]) > count)
        trajectory = messages["/fr3_arm_controller/joint_trajectory"][-1][1]
        point = trajectory.points[0]
        assert list(trajectory.joint_names) == JOINTS
        assert list(point.velocities) == [0.0, 0.0, 0.0]  # Jazzy's JTC rejects a moving end point
        assert list(point.accelerations) == [0.0, 0.0, 0.0]  # the JTC's quintic (trajectory_point_fields)
        # franka_fr3.yaml's controllers.trajectory_time_from_start_s (three FR3 periods), inherited
        assert point.time_from_start.sec * 10**9 + point.time_from_start.nanosec == 150_000_000
        moved = kinematics.forward(np.array(point.positions))[:3, 3] - kinematics.forward(joints)[:3, 3]
        assert moved[0] > 0 and abs(moved[1]) < 1e-6  # +x as commanded
        _spin_until(executor, lambda: len(messages["/mtdagger/safety"]) >= count + 1, timeout_s=5.0)

        end_client = probe.create_client(SetBool, "/policy/end_episode")
        end = _call(executor, end_client, SetBool.Request(data=True))
        assert end.success, end.message
        assert _spin_until(executor, lambda: len(messages["/mtdagger/episode"]) >= 2)
        markers = [json.loads(m.data) for _, m in messages["/mtdagger/episode"]]
        assert [m["event"] for m in markers] == ["start", "end"] and markers[1]["success"]

        # Nothing new: the controller's own timer holds on the stale action, once.
        def last_verdict():
            return json.loads(messages["/mtdagger/safety"][-1][1].data)

        assert _spin_until(executor, lambda: last_verdict()["status"] == "held")
        assert "stale_action" in last_verdict()["reasons"]
        stop = _call(executor, probe.create_client(Trigger, "/arm_controller/stop"), Trigger.Request())
        assert stop.success
        assert _spin_until(executor, lambda: last_verdict()["status"] == "stopped")
        reset_client = probe.create_client(Trigger, "/arm_controller/reset")
        assert _call(executor, reset_client, Trigger.Request()).success

        # cartesian_pose: the orientation held is the measured one at the episode start, not identity.
        executor.remove_node(arm)
        arm.destroy_node()
        nodes.remove(arm)
        arm = ArmControllerNode(parameter_overrides=params(
            {**common, "command_interface": "cartesian_pose", "gripper_interface": "topic"}))
        nodes.append(arm)
        executor.add_node(arm)
        topic = "/cartesian_impedance_example_controller/equilibrium_pose"
        _spin_until(executor, lambda: False, timeout_s=0.3)  # a fresh EE pose reaches the new node
        now = probe.get_clock().now().nanoseconds
        action_pub.publish(action_command_msg([0.0, 0.005, 0.0, 1.0], now, "base"))
        assert _spin_until(executor, lambda: len(messages[topic]) >= 1)
        q = messages[topic][-1][1].pose.orientation
        tip = transform_stamped_msg(factory, kinematics.forward(joints), "base", "tip", 0).transform.rotation
        np.testing.assert_allclose([q.x, q.y, q.z, q.w], [tip.x, tip.y, tip.z, tip.w], atol=1e-9)
    finally:
        if camera is not None:
            camera.close()
            camera.destroy_node()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=camera_context)
        rclpy.try_shutdown()
