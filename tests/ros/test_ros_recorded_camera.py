"""The camera half of the rehearsal over real rclpy: `depth_camera` (camera_driver:=mtdagger, the
real pyrealsense2 playback path with the D435 settings real.launch.py gives it) plays a `.db3`
rendered from the FR3 cell, and `pointcloud_preprocess` in the FR3 configuration turns it into
the policy's cloud. That cloud must be exactly the camera core's + preprocessing's on the same
recording (the node adds nothing), and close to the live render's (tests/test_rehearsal_camera.py
states how close, and why not equal).
"""

from __future__ import annotations

import time

import numpy as np
import yaml
from graph_harness import REPO_ROOT, Recorder

NODE_CONFIG = REPO_ROOT / "policy_node" / "config" / "franka_fr3.yaml"
CALIBRATION = str(REPO_ROOT / "configs" / "calibration" / "fr3_cell.yaml")
CAMERA_CONFIG = str(REPO_ROOT / "configs" / "cameras" / "realsense_d435.yaml")


def _contract_parameters() -> dict:
    values = yaml.safe_load(NODE_CONFIG.read_text())["/**"]["ros__parameters"]
    contract = {f"contract.{key}": value for key, value in values["contract"].items()}
    return {"contract_source": values["contract_source"], **contract}


def _spin_until(executor, done, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.01)
    return done()


def test_the_camera_node_plays_a_cell_recording_into_the_clouds_the_core_makes_from_it(tmp_path):
    import rclpy
    from policy_node.depth_camera import DepthCameraNode
    from policy_node.pointcloud_preprocess import PointCloudPreprocessNode
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import PointCloud2

    from calibration.extrinsics import load_extrinsics
    from mtdagger.camera.config import RealSenseCameraConfig
    from mtdagger.camera.realsense import RealSenseCamera
    from mtdagger.deployment.camera import camera_node_parameters
    from mtdagger.messages.convert import points_from_point_cloud2
    from mtdagger.perception.pointcloud import depth_to_point_cloud
    from mtdagger.policy.robot_acceptance import node_config_contract
    from mtdagger.rehearsal.recorded_camera import render_cell_view, write_cell_recording

    view = render_cell_view("drawer-open", seed=3, objects="seen")
    recording = str(write_cell_recording(tmp_path / "cell.db3", view, frames=4))
    camera_params = camera_node_parameters(CAMERA_CONFIG, recording_file=recording)

    def params(values):
        return [Parameter(name, value=value) for name, value in values.items()]

    rclpy.init()
    camera_context = Context()
    rclpy.init(context=camera_context)
    camera = preprocess = probe = None
    try:
        preprocess = PointCloudPreprocessNode(parameter_overrides=params({
            "robot_config": "franka_fr3", "calibration_file": CALIBRATION, **_contract_parameters(),
        }))  # fmt: skip
        probe = rclpy.create_node("cloud_probe")
        recorder = Recorder()
        recorder.attach(probe, {"/mtdagger/point_cloud": PointCloud2})
        executor = SingleThreadedExecutor()
        for node in (preprocess, probe):
            executor.add_node(node)
        camera = DepthCameraNode(context=camera_context, parameter_overrides=params(camera_params))
        assert _spin_until(executor, lambda: not camera._thread.is_alive(), timeout_s=60.0)
        _spin_until(executor, lambda: False, timeout_s=0.5)
        assert camera.exit_code == 0
        clouds = [m for _, m in recorder.messages["/mtdagger/point_cloud"]]
        assert clouds and {c.header.frame_id for c in clouds} == {"fr3_link0"}
    finally:
        if camera is not None:
            camera.close()
            camera.destroy_node()
        for node in (preprocess, probe):
            if node is not None:
                node.destroy_node()
        rclpy.try_shutdown(context=camera_context)
        rclpy.try_shutdown()

    # The same recording through the camera core and the preprocessing function, no ROS.
    with open(CAMERA_CONFIG) as handle:
        config = RealSenseCameraConfig.from_dict({**yaml.safe_load(handle), "recording_file": recording})
    contract = node_config_contract(NODE_CONFIG)
    with RealSenseCamera(config, load_extrinsics(CALIBRATION)) as core_camera:
        frame = core_camera.read(5000)
    assert frame is not None and frame.depth_m.shape == view.live_depth_m.shape  # 640x480 / 4
    expected = depth_to_point_cloud(frame.depth_m, frame.camera, contract)
    got = points_from_point_cloud2(clouds[-1])
    np.testing.assert_allclose(got, expected, atol=1e-6)
