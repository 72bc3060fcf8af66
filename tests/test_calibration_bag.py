"""Capture from a rosbag2 recording: one sample per pause of the arm, then solve, via the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from calibration.board import write_board
from calibration.capture import load_capture, solve_capture
from calibration.extrinsics import load_extrinsics, matrix_to_quaternion_xyzw
from calibration.sim_cell import SimCalibrationCell, SimNoise
from calibration.verify import pose_error
from mtdagger.cli import main
from mtdagger.deployment.camera import calibration_transform
from mtdagger.messages.convert import camera_info_msg, header, pose_stamped_msg
from mtdagger.messages.factory import RosbagsFactory

pytestmark = pytest.mark.integration
OPTICAL = "camera_color_optical_frame"


def write_teaching_bag(path, cell: SimCalibrationCell, poses: list[np.ndarray]) -> None:
    """The arm pauses 0.8 s at each pose and moves 0.4 s between them; poses at 50 Hz, images at
    10 Hz during pauses and moves (a moving image shows the board of the last pause: never used)."""
    factory = RosbagsFactory("jazzy")
    camera = cell.config.camera()
    rng = np.random.default_rng(0)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {
            topic: writer.add_connection(topic, msgtype, typestore=factory.typestore)
            for topic, msgtype in (
                ("/cam/image", "sensor_msgs/msg/Image"),
                ("/cam/info", "sensor_msgs/msg/CameraInfo"),
                ("/ee", "geometry_msgs/msg/PoseStamped"),
            )
        }

        def write(topic, msg, t):
            writer.write(connections[topic], int(t * 1e9), factory.serialize(msg))

        t = 1.0
        for index, pose in enumerate(poses):
            rgb = cell.render(pose, SimNoise(), rng)
            previous = poses[index - 1] if index else pose
            for k in range(60):  # 1.2 s at 50 Hz: 0.4 s moving from the previous pose, 0.8 s still
                alpha = min(1.0, k / 20)
                current = pose.copy()
                current[:3, 3] = (1 - alpha) * previous[:3, 3] + alpha * pose[:3, 3]
                q = matrix_to_quaternion_xyzw((pose if alpha == 1 else previous)[:3, :3])
                stamp_ns = int(t * 1e9)
                write("/ee", pose_stamped_msg(factory, current[:3, 3], q, stamp_ns, "base_link"), t)
                if k % 5 == 0:
                    image = factory.new(
                        "sensor_msgs/msg/Image", header=header(factory, stamp_ns, OPTICAL),
                        height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8", step=rgb.shape[1] * 3,
                        data=rgb.reshape(-1),
                    )  # fmt: skip
                    write("/cam/image", image, t)
                    write(
                        "/cam/info",
                        camera_info_msg(factory, camera, stamp_ns, "camera_color_optical_frame"),
                        t,
                    )
                t += 0.02


def test_bag_to_capture_to_calibration(tmp_path, capsys):
    cell = SimCalibrationCell()
    try:
        poses = cell.gripper_poses(np.random.default_rng(5), 7)
        write_teaching_bag(tmp_path / "bag", cell, poses)
        write_board(cell.config.board, tmp_path / "board", dpi=100)
        args = ["calibrate", "bag", str(tmp_path / "bag"), "--out", str(tmp_path / "capture"),
                "--board", str(tmp_path / "board" / "board.yaml"), "--image-topic", "/cam/image",
                "--camera-info-topic", "/cam/info", "--pose-topic", "/ee"]  # fmt: skip
        assert main(args) == 0
        assert "7 samples written" in capsys.readouterr().out
        _, _, samples = load_capture(tmp_path / "capture")
        for sample, pose in zip(samples, poses):  # one sample per pause, with the pose of that pause
            np.testing.assert_allclose(sample.T_base_gripper, pose, atol=1e-9)
            assert abs(sample.image_stamp - sample.pose_stamp) < 0.011
        solution = solve_capture(tmp_path / "capture")
        t_mm, r_deg = pose_error(solution.extrinsics.T_base_optical, cell.config.T_base_optical)
        assert t_mm < 5.0 and r_deg < 0.5
        # The YAML for today's real.launch.py (no driver TF): --child optical, which the launch accepts.
        out = tmp_path / "cal-optical.yaml"
        assert (
            main(["calibrate", "solve", str(tmp_path / "capture"), "--out", str(out), "--child", "optical"])
            == 0
        )
        assert "base_link -> camera_color_optical_frame" in capsys.readouterr().out
        launch = calibration_transform(
            str(out), robot_base_frame="base_link", camera_frame="camera_color_optical_frame"
        )
        assert launch.static_transform_arguments[-1] == "camera_color_optical_frame"
        np.testing.assert_allclose(
            load_extrinsics(out).T_base_camera, solution.extrinsics.T_base_optical, atol=1e-6
        )
        # The default YAML (child camera_link + link -> optical) is accepted too: the launch publishes
        # the optical frame's pose from it, the same transform as the --child optical file.
        linked = tmp_path / "cal-link.yaml"
        assert main(["calibrate", "solve", str(tmp_path / "capture"), "--out", str(linked)]) == 0
        capsys.readouterr()
        launch_linked = calibration_transform(
            str(linked), robot_base_frame="base_link", camera_frame="camera_color_optical_frame"
        )
        assert launch_linked.static_transform_arguments[-1] == "camera_color_optical_frame"
        position = slice(1, 6, 2)  # --x X --y Y --z Z
        np.testing.assert_allclose(
            np.asarray(launch_linked.static_transform_arguments[position], dtype=float),
            np.asarray(launch.static_transform_arguments[position], dtype=float),
            atol=1e-6,
        )
        # Wrong topic names and an arm that never pauses are clear errors.
        assert main([*args[:-1], "/nope"]) == 2
        assert "topic(s) /nope not in the bag" in capsys.readouterr().err
        assert main([*args, "--still-s", "5"]) == 2
        assert "no still period of >= 5.0 s" in capsys.readouterr().err
    finally:
        cell.close()
