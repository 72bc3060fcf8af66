"""Intel RealSense depth camera core: a live device or a librealsense recording -> `DepthFrame`.

The ROS camera node and the in-process runtime both call this class; the node only converts the
`DepthFrame` to Image + CameraInfo. Because pyrealsense2 plays a recording through the very same
`rs.pipeline` as a live camera, everything here except device enumeration is exercised in the tests
with synthetic recordings (`mtdagger.camera.recording`, no camera needed).

Processing order, and one deliberate difference from realsense-ros (ros2-conventions.md §1):
realsense-ros runs decimation -> threshold (clip) -> disparity -> spatial -> temporal -> hole_filling
-> disparity^-1 and *then* aligns depth to colour. Alignment re-projects depth onto the colour
grid, so its output has the colour resolution and the decimation is undone (checked with
pyrealsense2 2.59: 4x-decimated 64x48 depth aligned to a 128x96 colour stream comes back 128x96).
Our contract needs depth that is both in the colour optical frame (the frame hand-eye calibrates)
and at the decimated size the simulated camera renders (640x480 / 4 = 160x120). So when
`align_to_color` is on and the recording/device has colour, we align the raw depth first and then
run the realsense-ros filter chain, in realsense-ros order, on the aligned depth. With
`align_to_color` off the order is exactly realsense-ros's. (Decimation's block median ignores
zeros, so the sparse holes that alignment leaves when it up-samples do not survive it: tested.)

Units: Z16 counts x the frame's depth units. D4xx cameras default to 0.001 m (1 mm); L515 uses
0.00025 m; realsense-ros rescales everything to mm. We always read the units from each frame
(`depth_frame.get_units()`), so any setting gives metres; 0 stays 0 = invalid.

Intrinsics: taken from the *processed* frame's stream profile, never from the configured stream,
because decimation divides fx, fy, ppx, ppy by the factor and pads width/height up to a multiple
of 4 with invalid (0) pixels, and alignment swaps in the colour intrinsics. librealsense scales the
principal point as ppx / factor (not the pixel-centre-exact (ppx + 0.5) / factor - 0.5); the
resulting shift is 1.5 full-resolution pixels at factor 4 (about 2.4 mm at 1 m on a D435). We keep
librealsense's numbers, the convention every realsense-ros CameraInfo follows too, rather than
invent a third one.

Distortion: D4xx depth (and the aligned depth, which takes the colour intrinsics) is rectified;
librealsense reports brown_conrady / inverse_brown_conrady with all-zero coefficients. The
point-cloud contract is pinhole, so non-zero coefficients (e.g. a D455 colour stream used for
alignment) trigger a `DistortedIntrinsicsWarning`: the cloud would be slightly bent near the edges.
"""

from __future__ import annotations

import gc
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtdagger.camera.config import _HOLE_FILLING_MODES, RealSenseCameraConfig, _any_smoothing
from mtdagger.camera.config import HoleFillingFilterConfig as HoleFillingFilterConfig
from mtdagger.camera.config import HoleFillingMode as HoleFillingMode
from mtdagger.camera.config import SpatialFilterConfig as SpatialFilterConfig
from mtdagger.camera.config import TemporalFilterConfig as TemporalFilterConfig
from mtdagger.camera.config import load_camera_config as load_camera_config
from mtdagger.camera.config import realsense_ros_parameters as realsense_ros_parameters
from mtdagger.perception.camera_model import CameraModel
from mtdagger.perception.frames import DepthFrame

# `X as X` above: re-exports, importable from here as before the config moved to config.py.

if TYPE_CHECKING:
    import pyrealsense2 as rs

    from calibration.extrinsics import Extrinsics

log = logging.getLogger(__name__)

_ZERO_DISTORTION_ATOL = 1e-9


class CameraError(RuntimeError):
    """The camera or recording could not be opened or read; the message says which and why."""


class CameraNotFoundError(CameraError):
    """No connected RealSense matches the request; names the serial asked for and those found."""

    def __init__(self, requested: str | None, found: Sequence[str]) -> None:
        found_text = ", ".join(found) if found else "none"
        if requested is None:
            message = (
                f"no unique RealSense device to open: serial_no not set, connected serials: {found_text}"
            )
        else:
            message = f"RealSense with serial {requested!r} not found; connected serials: {found_text}"
        super().__init__(message)
        self.requested = requested
        self.found = list(found)


class DistortedIntrinsicsWarning(UserWarning):
    """The depth image carries lens distortion that the pinhole point-cloud contract ignores."""


# ------------------------------------------------------------------------------ pure conversions


def depth_frame_to_metres(
    z16: np.ndarray, depth_scale: float, clip_distance_m: float | None = None
) -> np.ndarray:
    """Z16 counts -> float32 metres. 0 (no data) stays 0; beyond `clip_distance_m` becomes 0."""
    z16 = np.asarray(z16)
    if z16.dtype != np.uint16 or z16.ndim != 2:
        raise ValueError(f"expected a 2-D uint16 (Z16) depth image, got {z16.dtype} with shape {z16.shape}")
    if not (np.isfinite(depth_scale) and depth_scale > 0):
        raise ValueError(f"depth_scale must be a positive number of metres per unit, got {depth_scale!r}")
    metres = (z16.astype(np.float64) * float(depth_scale)).astype(np.float32)
    if clip_distance_m is not None:
        metres[metres > clip_distance_m] = 0.0
    return metres


def camera_model_from_intrinsics(
    intrinsics: rs.intrinsics, T_base_camera: np.ndarray | None = None
) -> CameraModel:
    """Pinhole `CameraModel` from librealsense intrinsics; warns if they carry real distortion."""
    coeffs = np.asarray(list(intrinsics.coeffs), dtype=np.float64)
    if coeffs.size and not np.allclose(coeffs, 0.0, atol=_ZERO_DISTORTION_ATOL):
        warnings.warn(
            f"depth intrinsics carry distortion ({intrinsics.model}, coeffs {coeffs.tolist()}); the "
            "point-cloud contract is pinhole, so points near the image edges will be slightly off",
            DistortedIntrinsicsWarning,
            stacklevel=2,
        )
    return CameraModel(
        width=int(intrinsics.width),
        height=int(intrinsics.height),
        fx=float(intrinsics.fx),
        fy=float(intrinsics.fy),
        cx=float(intrinsics.ppx),
        cy=float(intrinsics.ppy),
        T_base_camera=np.eye(4) if T_base_camera is None else T_base_camera,
    )


def select_serial(requested: str | None, found: Sequence[str]) -> str:
    """The serial to open: the requested one if connected, else the single connected device."""
    if requested is not None:
        if requested in found:
            return requested
        raise CameraNotFoundError(requested, found)
    if len(found) == 1:
        return found[0]
    raise CameraNotFoundError(None, found)


def connected_serials(context: rs.context | None = None) -> list[str]:
    import pyrealsense2 as rs

    context = context if context is not None else rs.context()
    return [device.get_info(rs.camera_info.serial_number) for device in context.query_devices()]


# ----------------------------------------------------------------------------------------- camera


class RealSenseCamera:
    """Opens a RealSense (or a recording), filters depth, and returns metric `DepthFrame`s.

    Use as a context manager, or call `start()` / `stop()`. `read()` returns None on timeout and
    once a recording has been played to its end.
    """

    def __init__(self, config: RealSenseCameraConfig, extrinsics: Extrinsics | None = None) -> None:
        self.config = config
        # A hand-eye YAML names the camera link as its child: depth lives in the optical frame.
        self.extrinsics = None if extrinsics is None else extrinsics.as_optical()
        # Identity = points stay in the camera optical frame; the runtime passes the calibration.
        self._T_base_camera = np.eye(4) if self.extrinsics is None else self.extrinsics.T_base_camera
        self._pipeline: rs.pipeline | None = None
        self._align: rs.align | None = None
        self._filters: list[Any] = []
        self._aligned = False
        self._model_cache: dict[tuple, CameraModel] = {}

    # -- lifecycle
    @property
    def is_started(self) -> bool:
        return self._pipeline is not None

    @property
    def aligned_to_color(self) -> bool:
        """True once started if depth is being aligned to a colour stream (colour optical frame)."""
        return self._aligned

    def start(self) -> RealSenseCamera:
        import pyrealsense2 as rs

        if self._pipeline is not None:
            return self
        rs_config = rs.config()
        pipeline = rs.pipeline()
        source = self.config.recording_file or f"RealSense {self.config.serial_no or '(the only one)'}"
        try:
            # Streams and calibration frame are checked on the resolved profile BEFORE streaming:
            # stopping a playback pipeline right after it started aborted the process (SIGABRT in
            # librealsense's playback thread) on a loaded CI machine.
            if self.config.recording_file is not None:
                planned = self._configure_playback(rs_config, pipeline)
            else:
                planned = self._configure_device(rs_config, pipeline)
            streams = {s.stream_type() for s in planned.get_streams()}
            if rs.stream.depth not in streams:
                raise CameraError(f"{source} has no depth stream")
            self._aligned = self.config.align_to_color and rs.stream.color in streams
            if self.config.align_to_color and not self._aligned:
                log.warning(
                    "align_to_color requested, but %s has no colour stream: depth stays in its own frame",
                    source,
                )
            self._check_calibration_frame()
            pipeline.start(rs_config)
        except RuntimeError as error:
            if isinstance(error, CameraError):
                raise
            raise CameraError(f"could not start streaming from {source}: {error}") from None
        self._align = rs.align(rs.stream.color) if self._aligned else None
        self._filters = build_filter_chain(self.config)
        self._pipeline = pipeline
        return self

    def _configure_playback(self, rs_config: rs.config, pipeline: rs.pipeline) -> rs.pipeline_profile:
        import pyrealsense2 as rs

        path = Path(self.config.recording_file or "")
        if not path.is_file():
            raise FileNotFoundError(f"RealSense recording not found: {path}")
        # No enable_stream(): a recording plays the streams it has, at the size it was recorded.
        rs_config.enable_device_from_file(str(path), repeat_playback=False)
        # Real-time mode must be chosen on the resolved playback device BEFORE pipeline.start():
        # the usual "start, then set_real_time(False)" races with the first frames and, with
        # pyrealsense2 2.59, lost all but the last frame of a short recording in about half the runs
        # (and seeking back to 0 afterwards segfaulted). Setting it here delivered every frame in
        # 30 of 30 runs, also with a consumer slower than the recording's frame rate.
        resolved = rs_config.resolve(rs.pipeline_wrapper(pipeline))
        resolved.get_device().as_playback().set_real_time(self.config.playback_real_time)
        return resolved

    def _configure_device(self, rs_config: rs.config, pipeline: rs.pipeline) -> rs.pipeline_profile:
        import pyrealsense2 as rs

        context = rs.context()
        devices = {d.get_info(rs.camera_info.serial_number): d for d in context.query_devices()}
        serial = select_serial(self.config.serial_no, sorted(devices))
        rs_config.enable_device(serial)
        cfg = self.config
        rs_config.enable_stream(rs.stream.depth, cfg.width, cfg.height, rs.format.z16, cfg.fps)
        if cfg.align_to_color and _has_stream(devices[serial], rs.stream.color):
            rs_config.enable_stream(rs.stream.color, cfg.width, cfg.height, rs.format.rgb8, cfg.fps)
        return rs_config.resolve(rs.pipeline_wrapper(pipeline))

    def _check_calibration_frame(self) -> None:
        """A colour-frame calibration on unaligned depth (or the reverse) is off by the depth-to-colour
        baseline (~15 mm on a D435): refuse it rather than build a shifted cloud."""
        if self.extrinsics is None:
            return
        frame = self.extrinsics.camera_frame
        expected, other = ("color", "depth") if self._aligned else ("depth", "color")
        if frame.endswith(f"_{other}_optical_frame"):
            raise CameraError(
                f"calibration {self.extrinsics.calibration_id!r} is for {frame!r}, but depth is in the "
                f"{expected} optical frame (align_to_color={self.config.align_to_color}, "
                f"aligned to a colour stream: {self._aligned})"
            )

    def stop(self) -> None:
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            _pause_playback(pipeline)
            pipeline.stop()
            self._filters, self._align = [], None
            # Release librealsense's hold on the device/recording file right away.
            del pipeline
            gc.collect()

    def __enter__(self) -> RealSenseCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- frames
    def read(self, timeout_ms: int = 1000) -> DepthFrame | None:
        """Next processed depth frame, or None if none arrives within `timeout_ms` (or the recording
        has ended). `stamp_s` is librealsense's frame timestamp in seconds, in the frame's own clock
        domain (D4xx: host-synchronised global time by default; recordings: as recorded)."""
        if self._pipeline is None:
            raise CameraError("camera is not started: call start() or use it as a context manager")
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            ok, frames = self._pipeline.try_wait_for_frames(max(remaining_ms, 1))
            if not ok:
                return None
            depth = self._process(frames)
            if depth is not None:
                return depth
            if time.monotonic() >= deadline:
                return None

    def _process(self, frames: rs.composite_frame) -> DepthFrame | None:
        if self._align is not None:
            # A frameset without both streams cannot be aligned; rs.align would pass depth through
            # unaligned (wrong frame, wrong size), so skip it and wait for a complete one.
            if not frames.get_depth_frame() or not frames.get_color_frame():
                return None
            frames = self._align.process(frames)
        depth = frames.get_depth_frame()
        if not depth:
            return None
        processed = depth
        for rs_filter in self._filters:
            processed = rs_filter.process(processed)
        video = processed.as_video_frame()
        intrinsics = video.get_profile().as_video_stream_profile().get_intrinsics()
        z16 = np.asanyarray(video.get_data())
        metres = depth_frame_to_metres(
            z16, processed.as_depth_frame().get_units(), self.config.clip_distance_m
        )
        return DepthFrame(
            depth_m=metres, camera=self._camera_model(intrinsics), stamp_s=video.get_timestamp() / 1e3
        )

    def _camera_model(self, intrinsics: rs.intrinsics) -> CameraModel:
        key = (
            intrinsics.width,
            intrinsics.height,
            intrinsics.fx,
            intrinsics.fy,
            intrinsics.ppx,
            intrinsics.ppy,
            tuple(intrinsics.coeffs),
        )
        model = self._model_cache.get(key)
        if model is None:
            model = camera_model_from_intrinsics(intrinsics, self._T_base_camera)
            self._model_cache[key] = model
        return model


def _has_stream(device: rs.device, stream: rs.stream) -> bool:
    return any(
        p.stream_type() == stream for sensor in device.query_sensors() for p in sensor.get_stream_profiles()
    )


def build_filter_chain(config: RealSenseCameraConfig) -> list[Any]:
    """librealsense filters in realsense-ros `setupFilters` order (hdr_merge and sequence_id, which
    only matter for HDR multi-exposure streams, are left out); alignment is handled by the caller."""
    import pyrealsense2 as rs

    chain: list[Any] = []
    if config.decimation_factor > 1:
        decimation = rs.decimation_filter()
        decimation.set_option(rs.option.filter_magnitude, config.decimation_factor)
        chain.append(decimation)
    if config.clip_distance_m is not None:
        threshold = rs.threshold_filter()
        threshold.set_option(rs.option.min_distance, 0.0)
        threshold.set_option(rs.option.max_distance, min(float(config.clip_distance_m), 16.0))
        chain.append(threshold)
    use_disparity = config.disparity_domain and _any_smoothing(config)
    if use_disparity:
        chain.append(rs.disparity_transform(True))
    if config.spatial.enable:
        spatial = rs.spatial_filter()
        spatial.set_option(rs.option.filter_magnitude, config.spatial.magnitude)
        spatial.set_option(rs.option.filter_smooth_alpha, config.spatial.smooth_alpha)
        spatial.set_option(rs.option.filter_smooth_delta, config.spatial.smooth_delta)
        spatial.set_option(rs.option.holes_fill, config.spatial.holes_fill)
        chain.append(spatial)
    if config.temporal.enable:
        temporal = rs.temporal_filter()
        temporal.set_option(rs.option.filter_smooth_alpha, config.temporal.smooth_alpha)
        temporal.set_option(rs.option.filter_smooth_delta, config.temporal.smooth_delta)
        temporal.set_option(rs.option.holes_fill, config.temporal.persistence_control)
        chain.append(temporal)
    if config.hole_filling.enable:
        hole_filling = rs.hole_filling_filter()
        hole_filling.set_option(rs.option.holes_fill, _HOLE_FILLING_MODES.index(config.hole_filling.mode))
        chain.append(hole_filling)
    if use_disparity:
        chain.append(rs.disparity_transform(False))
    return chain


def _pause_playback(pipeline) -> None:
    """Pause a recording's playback before `pipeline.stop()`: stopping while a non-real-time
    playback thread is still pushing frames aborted the process (SIGABRT inside librealsense
    2.59) in about 1 run in 5 on a loaded machine. A live device has no playback to pause."""
    try:
        device = pipeline.get_active_profile().get_device()
        if device.is_playback():
            device.as_playback().pause()
    except RuntimeError:
        pass  # pipeline not started / device gone: nothing is playing
