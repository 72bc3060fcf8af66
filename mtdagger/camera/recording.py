"""Write real librealsense recordings from synthetic depth frames (no camera needed).

`rs.software_device` + `rs.recorder` produce a `.db3` file that `RealSenseCamera` plays back through
the very same `rs.pipeline` as a live device, so the camera core and the ROS camera node are tested
on their real code path. Kept apart from realsense.py: this is test tooling, not the driver.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyrealsense2 as rs


@dataclass(frozen=True)
class SyntheticStream:
    """Pinhole intrinsics of one synthetic stream (zero distortion, like a D4xx)."""

    width: int
    height: int
    fx: float
    fy: float
    ppx: float
    ppy: float


def _rs_intrinsics(stream: SyntheticStream) -> rs.intrinsics:
    import pyrealsense2 as rs

    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height = stream.width, stream.height
    intrinsics.fx, intrinsics.fy = stream.fx, stream.fy
    intrinsics.ppx, intrinsics.ppy = stream.ppx, stream.ppy
    intrinsics.model = rs.distortion.brown_conrady
    intrinsics.coeffs = [0.0] * 5
    return intrinsics


def _video_stream(
    stream: SyntheticStream, kind: Any, fmt: Any, bpp: int, uid: int, fps: int
) -> rs.video_stream:
    import pyrealsense2 as rs

    video = rs.video_stream()
    video.type, video.index, video.uid = kind, 0, uid
    video.width, video.height, video.fps = stream.width, stream.height, fps
    video.bpp, video.fmt = bpp, fmt
    video.intrinsics = _rs_intrinsics(stream)
    return video


def write_synthetic_depth_recording(
    path: str | os.PathLike[str],
    depth_frames_z16: Sequence[np.ndarray],
    depth_stream: SyntheticStream,
    *,
    fps: int = 30,
    depth_units_m: float = 0.001,
    color_stream: SyntheticStream | None = None,
    serial: str = "000000000000",
    frame_timeout_ms: int = 1000,
) -> Path:
    """Write a real librealsense recording of the given Z16 frames, via `rs.software_device` +
    `rs.recorder`: the file plays back through `rs.pipeline` exactly like one from a camera.

    This pyrealsense2 (2.59) records rosbag2/SQLite and insists on a `.db3` name; older builds
    wrote ROS1 `.bag`. With `color_stream`, a black RGB8 stream is recorded beside depth with
    identity depth-to-colour extrinsics, so alignment can be exercised.
    """
    path = Path(path)
    if path.suffix != ".db3":
        raise ValueError(f"this pyrealsense2 records rosbag2 (.db3) files; got {path.name!r}")
    frames = [np.ascontiguousarray(f) for f in depth_frames_z16]
    for index, frame in enumerate(frames):
        if frame.dtype != np.uint16 or frame.shape != (depth_stream.height, depth_stream.width):
            raise ValueError(
                f"depth frame {index} must be uint16 of shape {(depth_stream.height, depth_stream.width)}, "
                f"got {frame.dtype} {frame.shape}"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    _record(path, frames, depth_stream, fps, depth_units_m, color_stream, serial, frame_timeout_ms)
    # The recorder finalises the file when destroyed; every librealsense object of the recording
    # lived in _record's frame, so after this collection the file is complete and closed.
    gc.collect()
    return path


def _record(
    path: Path,
    frames: Sequence[np.ndarray],
    depth_stream: SyntheticStream,
    fps: int,
    depth_units_m: float,
    color_stream: SyntheticStream | None,
    serial: str,
    frame_timeout_ms: int,
) -> None:
    import pyrealsense2 as rs

    device = rs.software_device()
    device.register_info(rs.camera_info.name, "Synthetic RealSense (mtdagger)")
    device.register_info(rs.camera_info.serial_number, serial)
    depth_sensor = device.add_sensor("Stereo Module")
    depth_profile = depth_sensor.add_video_stream(
        _video_stream(depth_stream, rs.stream.depth, rs.format.z16, 2, 0, fps)
    )
    depth_sensor.add_read_only_option(rs.option.depth_units, depth_units_m)
    streams: list[tuple[Any, Any, int, np.ndarray | None]] = [(depth_sensor, depth_profile, 2, None)]
    if color_stream is not None:
        color_sensor = device.add_sensor("RGB Camera")
        color_profile = color_sensor.add_video_stream(
            _video_stream(color_stream, rs.stream.color, rs.format.rgb8, 3, 1, fps)
        )
        identity = rs.extrinsics()
        identity.rotation = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        identity.translation = [0.0, 0.0, 0.0]
        depth_profile.register_extrinsics_to(color_profile, identity)
        black = np.zeros((color_stream.height, color_stream.width, 3), np.uint8)
        streams.append((color_sensor, color_profile, 3, black))
    device.create_matcher(rs.matchers.dlr_c if color_stream is not None else rs.matchers.default)

    recorder = rs.recorder(str(path), device)  # noqa: F841 (must stay alive while frames flow)
    syncer = rs.syncer()
    for sensor, profile, _, _ in streams:
        sensor.open(profile)
        sensor.start(syncer)
    for number, depth in enumerate(frames):
        for sensor, profile, bpp, fixed_pixels in streams:
            pixels = depth if fixed_pixels is None else fixed_pixels
            frame = rs.software_video_frame()
            frame.pixels = pixels.tobytes()
            frame.stride = pixels.shape[1] * bpp
            frame.bpp = bpp
            frame.timestamp = number * 1000.0 / fps
            frame.domain = rs.timestamp_domain.hardware_clock
            frame.frame_number = number
            frame.profile = profile.as_video_stream_profile()
            if fixed_pixels is None:
                frame.depth_units = depth_units_m
            sensor.on_video_frame(frame)
        syncer.wait_for_frames(frame_timeout_ms)
    for sensor, _, _, _ in streams:
        sensor.stop()
        sensor.close()
