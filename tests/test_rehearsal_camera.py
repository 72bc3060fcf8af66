"""A RealSense recording rendered from the FR3 cell vs the live render of the same scene
(mtdagger/rehearsal/recorded_camera.py), through the same preprocessing (the real contract).

Tolerances, against what was measured (drawer-open, seed 3, seen cabinet; the points that
survive the contract's crop, before sampling to N, compared nearest point to nearest point):

- librealsense decimation alone, the decimated principal point corrected (see below): measured
  median 0.4 mm, p90 1.0 mm, 98.8% within 1 cm -> required median <= 1 mm, p90 <= 2 mm, >= 97%.
  This is the geometry: the recording path and the live render see the same surfaces.
- the real D435 settings (configs/cameras/realsense_d435.yaml: spatial filter and hole filling on,
  librealsense's own decimated intrinsics): measured median 5.2 mm, p90 13.4 mm, 84% within 1 cm
  -> required median <= 8 mm, p90 <= 20 mm, >= 75%. The difference is what the driver's settings do
  to the cloud the policy sees; it is not in training data (the simulated camera has no filters).

Found on the way, left as it is: librealsense reports the decimated principal point as ppx / 4
(79.875 px here), where the 4x4 blocks' centres put it at (ppx - 1.5) / 4 (79.5 px); that 0.375 px
alone moves the cloud by ~3 mm (median) at this range.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("pyrealsense2")
pytest.importorskip("mujoco")

CAMERA_CONFIG = "configs/cameras/realsense_d435.yaml"
NODE_CONFIG = "policy_node/config/franka_fr3.yaml"
CALIBRATION = "configs/calibration/fr3_cell.yaml"


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from mtdagger.rehearsal.recorded_camera import render_cell_view, write_cell_recording

    view = render_cell_view("drawer-open", seed=3, objects="seen")
    return view, write_cell_recording(tmp_path_factory.mktemp("cell") / "cell.db3", view, frames=3)


def _played(recording, **changes):
    from calibration.extrinsics import load_extrinsics
    from mtdagger.camera.config import load_camera_config
    from mtdagger.camera.realsense import RealSenseCamera

    config = dataclasses.replace(load_camera_config(CAMERA_CONFIG), recording_file=str(recording), **changes)
    with RealSenseCamera(config, load_extrinsics(CALIBRATION)) as camera:
        frame = camera.read(5000)
    assert frame is not None
    return frame


def _survivors(depth_m, camera):
    from mtdagger.perception.pointcloud import workspace_points
    from mtdagger.policy.robot_acceptance import node_config_contract

    points, _counts = workspace_points(depth_m, camera, node_config_contract(NODE_CONFIG))
    return points


@pytest.mark.integration
def test_the_recorded_view_is_the_live_view_up_to_decimation(scene):
    from mtdagger.camera.config import HoleFillingFilterConfig, SpatialFilterConfig
    from mtdagger.rehearsal.recorded_camera import cloud_distances

    view, recording = scene
    frame = _played(
        recording,
        spatial=SpatialFilterConfig(enable=False),
        hole_filling=HoleFillingFilterConfig(enable=False),
    )
    assert frame.camera.cx == pytest.approx(view.live_camera.cx + 0.375)  # librealsense's ppx / 4
    corrected = dataclasses.replace(frame.camera, cx=frame.camera.cx - 0.375, cy=frame.camera.cy - 0.375)
    np.testing.assert_allclose(corrected.T_base_camera, view.live_camera.T_base_camera, atol=1e-9)
    d = cloud_distances(_survivors(view.live_depth_m, view.live_camera), _survivors(frame.depth_m, corrected))
    assert d["median_m"] <= 0.001 and d["p90_m"] <= 0.002 and d["within_1cm"] >= 0.97, d


@pytest.mark.integration
def test_the_real_d435_settings_keep_the_recorded_cloud_within_the_stated_tolerance(scene):
    from mtdagger.rehearsal.recorded_camera import cloud_distances

    view, recording = scene
    frame = _played(recording)
    live = _survivors(view.live_depth_m, view.live_camera)
    recorded = _survivors(frame.depth_m, frame.camera)
    d = cloud_distances(live, recorded)
    assert d["median_m"] <= 0.008 and d["p90_m"] <= 0.02 and d["within_1cm"] >= 0.75, d
    # The camera 2 cm further along its optical axis is not within it: the comparison tells a
    # wrong cloud. (A shift within the table and drawer-front planes would slide points along
    # the surfaces and hardly change nearest-point distances: that is `mtdagger gap`'s job.)
    shifted = dataclasses.replace(frame.camera, T_base_camera=frame.camera.T_base_camera.copy())
    shifted.T_base_camera[:3, 3] += 0.02 * shifted.T_base_camera[:3, 2]
    assert cloud_distances(live, _survivors(frame.depth_m, shifted))["median_m"] > 0.008
