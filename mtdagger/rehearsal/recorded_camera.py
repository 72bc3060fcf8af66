"""The camera half of the rehearsal: a RealSense recording rendered from the FR3 cell, played
through the real pyrealsense2 path, against the live render the closed-loop rehearsal uses.

A pre-recorded camera cannot close the loop on a moving drawer (the frames do not change with
the arm's commands), so the closed-loop rehearsal renders the cell's camera live (the sim-bridge
path). What a recording CAN show is that the camera driver path real.launch.py runs with
`camera_driver:=mtdagger` — librealsense playback, alignment to colour, decimation 4, the spatial
and hole-filling filters of configs/cameras/realsense_d435.yaml — turns the cell's view into the
same point cloud as the live render of the same scene, through the same preprocessing:

1. render the cell at the D435's native 640x480 (the 160x120 intrinsics x 4, same pose), quantise
   to Z16 millimetres, and write a `.db3` with a black colour stream (identity depth->colour
   extrinsics, so `align_to_color` runs) via `rs.software_device` + `rs.recorder`;
2. render the same scene live at 160x120 (the training camera, configs/cameras/fr3_d435.yaml);
3. each through the real contract (policy_node/config/franka_fr3.yaml) with the calibration's
   T_base_camera, and compare the two clouds point to nearest point (`cloud_distances`).

They cannot be equal: decimation averages 4x4 native pixels where the live render samples one
ray per pixel, Z16 quantises to 1 mm, and the spatial filter smooths; edges between surfaces get
averaged depths. The tolerance is stated where it is checked (tests/ros/test_ros_recorded_camera.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtdagger.perception.camera_model import CameraModel

NATIVE_FACTOR = 4  # realsense_d435.yaml: 640x480 decimated by 4 = the sim camera's 160x120


@dataclass(frozen=True)
class CellView:
    """One scene of the cell, seen by the live (training) camera and at the D435's native size."""

    live_depth_m: np.ndarray  # (120, 160) metres, as the closed-loop rehearsal publishes it
    live_camera: CameraModel
    native_z16: np.ndarray  # (480, 640) uint16 millimetres, what the recording holds
    native_camera: CameraModel
    task: str
    seed: int
    object_split: str


def native_camera_config(camera, factor: int = NATIVE_FACTOR):
    """The sim camera at `factor` x its resolution: same pose and field of view (pixel centres
    of the big image map onto the small one's as decimation does: (c + 0.5) x f - 0.5)."""
    return dataclasses.replace(
        camera, width=camera.width * factor, height=camera.height * factor,
        fx=camera.fx * factor, fy=camera.fy * factor,
        cx=(camera.cx + 0.5) * factor - 0.5, cy=(camera.cy + 0.5) * factor - 0.5,
    )  # fmt: skip


def render_cell_view(
    task: str = "drawer-open", seed: int = 0, objects: str = "seen",
    camera_config: str = "configs/cameras/fr3_d435.yaml",
    calibration_file: str = "configs/calibration/fr3_cell.yaml",
) -> CellView:  # fmt: skip
    """The reset scene of (task, seed) rendered twice, one backend (one GL context) at a time."""
    from mtdagger.messages.convert import depth_image_msg
    from mtdagger.messages.factory import RosbagsFactory
    from mtdagger.perception.pointcloud import depth_from_16uc1
    from sim_bridge.camera.sim_camera import SimCameraConfig
    from sim_bridge.fr3.backend import FR3Backend
    from sim_bridge.fr3.config import OBJECT_SPLIT, FR3BackendConfig

    camera = SimCameraConfig.from_yaml(camera_config)
    frames = []
    for cam in (camera, native_camera_config(camera)):
        backend = FR3Backend(FR3BackendConfig(
            tasks=(task,), objects=objects, camera=cam, calibration=calibration_file, render_depth=False,
        ))  # fmt: skip
        try:
            split = str(backend.reset(task, seed)[OBJECT_SPLIT])
            frames.append(backend.render_depth())
        finally:
            backend.close()
    live, native = frames
    # Z16 exactly as realsense-ros / the bag writer quantise (0 = no data).
    msg = depth_image_msg(RosbagsFactory(), native.depth_m, 0, "camera_color_optical_frame")
    z16 = np.frombuffer(bytes(msg.data), dtype="<u2").reshape(native.depth_m.shape)
    assert np.allclose(depth_from_16uc1(z16)[z16 > 0], native.depth_m[z16 > 0], atol=6e-4)
    return CellView(live.depth_m, live.camera, z16.copy(), native.camera, task, seed, split)


def write_cell_recording(path: str | Path, view: CellView, frames: int = 6, fps: int = 30) -> Path:
    """`frames` copies of the native view as a librealsense `.db3` (depth + black colour)."""
    from mtdagger.camera.recording import SyntheticStream, write_synthetic_depth_recording

    cam = view.native_camera
    stream = SyntheticStream(cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy)
    return write_synthetic_depth_recording(
        path, [view.native_z16] * frames, stream, fps=fps, color_stream=stream
    )


def cloud_distances(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Symmetric nearest-neighbour distances (m) between two clouds: median, p90, max, and the
    share of points with a neighbour within 1 cm, over both directions."""
    from scipy.spatial import cKDTree

    d_ab, _ = cKDTree(b).query(a)
    d_ba, _ = cKDTree(a).query(b)
    d = np.concatenate([d_ab, d_ba])
    return {
        "median_m": float(np.median(d)), "p90_m": float(np.percentile(d, 90)),
        "max_m": float(d.max()), "within_1cm": float(np.mean(d <= 0.01)),
    }  # fmt: skip
