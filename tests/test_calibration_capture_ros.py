"""Capture -> solve -> YAML over real rclpy (PyPI wheels) and DDS: the calibration_capture node records
samples from live topics on `~/capture` service calls, `solve_capture` solves the folder, and the
YAML's optical pose is what the point-cloud core uses (the table lands at the base-frame height).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from geometry_msgs.msg import PoseStamped  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from calibration.board import BoardSpec, write_board  # noqa: E402
from calibration.capture import solve_capture  # noqa: E402
from calibration.extrinsics import load_extrinsics, matrix_to_quaternion_xyzw, save_extrinsics  # noqa: E402
from calibration.sim_cell import SimCalibrationCell, SimNoise  # noqa: E402
from calibration.verify import pose_error, table_plane_check  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[1]


def _capture_node_class():
    if str(REPO / "policy_node") not in sys.path:
        sys.path.insert(0, str(REPO / "policy_node"))
    module = sys.modules.get("policy_node")
    if module is not None and getattr(module, "__file__", None) is None:  # a namespace package: the repo dir
        del sys.modules["policy_node"]
    from policy_node.calibration_capture import CalibrationCaptureNode
    from policy_node.ros_support import StartupError

    return CalibrationCaptureNode, StartupError


@pytest.fixture
def context():
    ctx = rclpy.context.Context()
    # A domain of our own: other test runs on this machine must not see (or feed) these topics.
    rclpy.init(context=ctx, domain_id=100 + os.getpid() % 100)
    yield ctx
    rclpy.shutdown(context=ctx)


def _params(**values) -> list[Parameter]:
    return [Parameter(name, value=value) for name, value in values.items()]


def _stamp(msg, seconds: float) -> None:
    msg.header.stamp.sec = int(seconds)
    msg.header.stamp.nanosec = round((seconds - int(seconds)) * 1e9)


def _spin_until(executor, condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
        if condition():
            return True
    return False


def test_capture_solve_yaml_round_trip_over_rclpy(tmp_path, context):
    CaptureNode, _ = _capture_node_class()
    cell = SimCalibrationCell()
    cfg = cell.config
    write_board(cfg.board, tmp_path / "board", dpi=150)
    node = CaptureNode(
        context=context,
        parameter_overrides=_params(
            capture_dir=str(tmp_path / "capture"), board_file=str(tmp_path / "board" / "board.yaml"),
            image_topic="/cal_test/color/image_raw", camera_info_topic="/cal_test/color/camera_info",
            gripper_pose_source="pose_topic", gripper_pose_topic="/cal_test/gripper_pose",
            base_frame="fr3_link0", gripper_frame="fr3_hand", camera_serial="sim-0001",
        ),
    )  # fmt: skip
    robot = rclpy.create_node("cal_test_robot", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(robot)
    images = robot.create_publisher(Image, "/cal_test/color/image_raw", 5)
    infos = robot.create_publisher(CameraInfo, "/cal_test/color/camera_info", 5)
    poses = robot.create_publisher(PoseStamped, "/cal_test/gripper_pose", 5)
    client = robot.create_client(Trigger, "/calibration_capture/capture")
    try:
        assert _spin_until(
            executor, lambda: client.service_is_ready() and images.get_subscription_count() > 0
        )
        rng = np.random.default_rng(11)
        camera = cfg.camera()
        replies = []
        for index, T_base_gripper in enumerate(cell.gripper_poses(rng, 16)):
            stamp = 100.0 + index
            # The last sample's pose arrives 0.2 s after its image: the node must refuse it.
            pose_stamp = stamp + (0.2 if index == 15 else 0.004)
            rgb = cell.render(T_base_gripper, SimNoise(), rng)
            image = Image(height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8", step=rgb.shape[1] * 3)
            image.data = rgb.tobytes()
            image.header.frame_id = "camera_color_optical_frame"
            info = CameraInfo(height=camera.height, width=camera.width, distortion_model="plumb_bob")
            info.k = camera.K.ravel().tolist()
            info.d = [0.0] * 5
            info.header.frame_id = "camera_color_optical_frame"
            pose = PoseStamped()
            pose.header.frame_id = "fr3_link0"
            p, q = T_base_gripper[:3, 3], matrix_to_quaternion_xyzw(T_base_gripper[:3, :3])
            pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(v) for v in p)
            o = pose.pose.orientation
            o.x, o.y, o.z, o.w = (float(v) for v in q)
            for msg, when in ((image, stamp), (info, stamp), (pose, pose_stamp)):
                _stamp(msg, when)
            images.publish(image)
            infos.publish(info)
            poses.publish(pose)
            assert _spin_until(
                executor,
                lambda stamp=stamp, pose_stamp=pose_stamp: (
                    node._image is not None
                    and node._pose is not None
                    and node._image.header.stamp.sec == int(stamp)
                    and node._pose.header.stamp.nanosec == _nanosec(pose_stamp)
                ),
            ), f"sample {index} did not arrive"
            future = client.call_async(Trigger.Request())
            assert _spin_until(executor, future.done)
            replies.append(future.result())
    finally:
        executor.shutdown()
        robot.destroy_node()
        node.destroy_node()
    assert all(r.success for r in replies[:15]), [r.message for r in replies]
    assert not replies[15].success and "inconsistent timestamps" in replies[15].message
    solution = solve_capture(tmp_path / "capture", calibration_id="ros-round-trip")
    assert len(solution.accepted) == 15
    # Camera-space residual of the solution: the predicted board poses reproject onto the corners.
    assert 0.0 < solution.report.best.residuals["reprojection_rms_px"] < 0.5
    yaml_path = save_extrinsics(tmp_path / "calibration.yaml", solution.extrinsics)
    loaded = load_extrinsics(yaml_path)
    assert (loaded.base_frame, loaded.camera_frame, loaded.camera_serial) == (
        "fr3_link0",
        "camera_link",
        "sim-0001",
    )
    assert loaded.optical_frame == "camera_color_optical_frame"  # from the image header
    t_mm, r_deg = pose_error(loaded.T_base_optical, cfg.T_base_optical)
    assert t_mm < 5.0 and r_deg < 0.5, (t_mm, r_deg)
    plane = table_plane_check(cell, loaded.T_base_optical)  # the preprocessing core, with the YAML's pose
    cell.close()
    assert plane.height_error_mm < 2.0 and plane.tilt_deg < 0.2, plane


def _nanosec(seconds: float) -> int:
    return round((seconds - int(seconds)) * 1e9)


def test_missing_tf2_and_parameters_are_clear_startup_errors(tmp_path, context):
    CaptureNode, StartupError = _capture_node_class()
    with pytest.raises(StartupError, match="capture_dir:= and board_file:="):
        CaptureNode(context=context)
    write_board(BoardSpec(), tmp_path, dpi=100)
    base = {"capture_dir": str(tmp_path / "c"), "board_file": str(tmp_path / "board.yaml")}
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        with pytest.raises(
            StartupError, match=r"tf2_ros, which is not on PyPI.*gripper_pose_source:=pose_topic"
        ):
            CaptureNode(context=context, parameter_overrides=_params(**base, gripper_pose_source="tf"))
    with pytest.raises(StartupError, match="gripper_pose_source must be one of"):
        CaptureNode(context=context, parameter_overrides=_params(**base, gripper_pose_source="joints"))


def _urdf() -> str:
    joints = [("j1", "base", "l1", "0 0 0.3", "0 0 1"), ("j2", "l1", "l2", "0 0 0.2", "0 1 0"),
              ("j3", "l2", "tool", "0.4 0 0", "1 0 0")]  # fmt: skip
    xml = "".join(
        f'<joint name="{n}" type="revolute"><parent link="{p}"/><child link="{c}"/><origin xyz="{xyz}" '
        f'rpy="0 0 0"/><axis xyz="{axis}"/><limit lower="-3" upper="3" effort="1" velocity="1"/></joint>'
        for n, p, c, xyz, axis in joints
    )
    links = "".join(f'<link name="{n}"/>' for n in ("base", "l1", "l2", "tool"))
    return f"<robot name='arm'>{links}{xml}</robot>"


def test_gripper_pose_from_joint_states_and_forward_kinematics(tmp_path, context):
    from mtdagger.control.kinematics import ArmKinematics

    CaptureNode, _ = _capture_node_class()
    write_board(BoardSpec(), tmp_path / "board", dpi=100)
    node = CaptureNode(
        context=context,
        parameter_overrides=_params(
            capture_dir=str(tmp_path / "capture"), board_file=str(tmp_path / "board" / "board.yaml"),
            image_topic="/cal_fk/image", camera_info_topic="/cal_fk/info", gripper_pose_source="joint_states",
            joint_states_topic="/cal_fk/joint_states", robot_description=_urdf(), base_frame="base",
            gripper_frame="tool",
        ),
    )  # fmt: skip
    robot = rclpy.create_node("cal_fk_robot", context=context)
    executor = SingleThreadedExecutor(context=context)
    for n in (node, robot):
        executor.add_node(n)
    images = robot.create_publisher(Image, "/cal_fk/image", 5)
    infos = robot.create_publisher(CameraInfo, "/cal_fk/info", 5)
    joints = robot.create_publisher(JointState, "/cal_fk/joint_states", 5)
    client = robot.create_client(Trigger, "/calibration_capture/capture")
    try:
        assert _spin_until(
            executor, lambda: client.service_is_ready() and joints.get_subscription_count() > 0
        )
        image = Image(height=4, width=6, encoding="bgr8", step=18, data=bytes(range(72)))
        info = CameraInfo(height=4, width=6, k=[5.0, 0.0, 3.0, 0.0, 5.0, 2.0, 0.0, 0.0, 1.0])
        state = JointState(name=["finger", "j3", "j1", "j2"], position=[0.01, 0.3, -0.5, 0.7])
        for msg in (image, info, state):
            _stamp(msg, 7.25)
        images.publish(image)
        infos.publish(info)
        joints.publish(state)
        assert _spin_until(executor, lambda: None not in (node._image, node._info, node._joints))
        future = client.call_async(Trigger.Request())
        assert _spin_until(executor, future.done)
    finally:
        executor.shutdown()
        robot.destroy_node()
        node.destroy_node()
    assert future.result().success, future.result().message
    from calibration.capture import load_capture

    _, _, samples = load_capture(tmp_path / "capture")
    expected = ArmKinematics(_urdf(), "base", "tool").forward([-0.5, 0.7, 0.3])
    np.testing.assert_allclose(samples[0].T_base_gripper, expected, atol=1e-9)
    assert samples[0].pose_stamp == samples[0].image_stamp == 7.25
    assert samples[0].image.shape == (4, 6)  # stored, read back as grey
