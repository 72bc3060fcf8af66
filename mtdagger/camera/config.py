"""RealSense camera configuration: the filter settings, `RealSenseCameraConfig`, its YAML loader
(configs/cameras/*.yaml) and its translation into realsense-ros launch parameters.

Kept apart from the driver (mtdagger.camera.realsense) so launch files, the ROS camera node's
parameter handling and config checks can read a camera config without pyrealsense2: nothing here
imports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from mtdagger.files import load_yaml

HoleFillingMode = Literal["fill_from_left", "farthest_from_around", "nearest_from_around"]
_HOLE_FILLING_MODES: tuple[str, ...] = ("fill_from_left", "farthest_from_around", "nearest_from_around")


@dataclass(frozen=True)
class SpatialFilterConfig:
    """librealsense spatial edge-preserving filter (options as in realsense-ros `spatial_filter.*`)."""

    enable: bool = False
    magnitude: int = 2  # iterations, 1..5
    smooth_alpha: float = 0.5  # 0.25..1
    smooth_delta: float = 20.0  # 1..50 (disparity steps)
    holes_fill: int = 0  # 0 off .. 5 unlimited

    def __post_init__(self) -> None:
        _check_range("spatial.magnitude", self.magnitude, 1, 5)
        _check_range("spatial.smooth_alpha", self.smooth_alpha, 0.25, 1.0)
        _check_range("spatial.smooth_delta", self.smooth_delta, 1.0, 50.0)
        _check_range("spatial.holes_fill", self.holes_fill, 0, 5)


@dataclass(frozen=True)
class TemporalFilterConfig:
    """librealsense temporal filter. Off by default: it blends past frames, so a moving arm or object
    leaves a short ghost, and the simulated camera the policy trained on has no such memory."""

    enable: bool = False
    smooth_alpha: float = 0.4  # 0..1, weight of the current frame
    smooth_delta: float = 20.0  # 1..100
    persistence_control: int = 3  # `holes_fill` option, 0..8

    def __post_init__(self) -> None:
        _check_range("temporal.smooth_alpha", self.smooth_alpha, 0.0, 1.0)
        _check_range("temporal.smooth_delta", self.smooth_delta, 1.0, 100.0)
        _check_range("temporal.persistence_control", self.persistence_control, 0, 8)


@dataclass(frozen=True)
class HoleFillingFilterConfig:
    """librealsense hole filling: each invalid pixel takes a neighbour's depth."""

    enable: bool = False
    mode: HoleFillingMode = "farthest_from_around"

    def __post_init__(self) -> None:
        if self.mode not in _HOLE_FILLING_MODES:
            raise ValueError(f"hole_filling.mode must be one of {_HOLE_FILLING_MODES}, got {self.mode!r}")


@dataclass(frozen=True)
class RealSenseCameraConfig:
    """What to open and how to process it. `recording_file` wins over a device: it replays a
    librealsense recording (.db3 from librealsense >= 2.56, ROS1 .bag from older ones)."""

    serial_no: str | None = None  # None: the only connected device (several connected => error)
    recording_file: str | None = None
    # Live streams only: a recording plays at the size and rate it was recorded at.
    width: int = 640
    height: int = 480
    fps: int = 30
    # Depth in the colour optical frame (the frame hand-eye calibrates). Ignored, with a log line,
    # when the device/recording has no colour stream: the output is then in the depth optical frame.
    align_to_color: bool = True
    decimation: int = 4  # 0 or 1 = off; 2..8 divides width/height (padded up to a multiple of 4)
    # Run spatial/temporal/hole filling on disparity (1/z), as librealsense recommends and
    # realsense-ros's `disparity_filter` does; only used when one of those filters is on.
    disparity_domain: bool = True
    spatial: SpatialFilterConfig = field(default_factory=SpatialFilterConfig)
    temporal: TemporalFilterConfig = field(default_factory=TemporalFilterConfig)
    hole_filling: HoleFillingFilterConfig = field(default_factory=HoleFillingFilterConfig)
    # Depth beyond this (metres) becomes 0 = invalid, like realsense-ros `clip_distance`; None = off.
    clip_distance_m: float | None = None
    # Recordings: False delivers every recorded frame (deterministic replay); True drops frames
    # the consumer is too slow for, like a live camera.
    playback_real_time: bool = False

    def __post_init__(self) -> None:
        for name in ("width", "height", "fps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.decimation, bool) or not isinstance(self.decimation, int):
            raise ValueError(f"decimation must be an integer, got {self.decimation!r}")
        _check_range("decimation", self.decimation, 0, 8)
        if self.clip_distance_m is not None and not (0 < float(self.clip_distance_m) < float("inf")):
            raise ValueError(
                f"clip_distance_m must be a positive number or None, got {self.clip_distance_m!r}"
            )
        if self.serial_no is not None and (not isinstance(self.serial_no, str) or not self.serial_no):
            raise ValueError(f"serial_no must be a non-empty string or None, got {self.serial_no!r}")
        for name, cls in (
            ("spatial", SpatialFilterConfig),
            ("temporal", TemporalFilterConfig),
            ("hole_filling", HoleFillingFilterConfig),
        ):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, _dataclass_from_dict(cls, value, name))
            elif not isinstance(value, cls):
                raise ValueError(f"{name} must be a {cls.__name__} or a mapping, got {value!r}")

    @property
    def decimation_factor(self) -> int:
        return self.decimation if self.decimation >= 2 else 1

    def expected_output_size(self, input_size: tuple[int, int] | None = None) -> tuple[int, int]:
        """(width, height) of the frames `read()` returns for an input stream of `input_size`
        (default: the configured width/height; a recording plays at the size it was recorded).
        librealsense's decimation keeps floor(size / factor) pixels, padded up to a multiple of 4."""
        width, height = input_size if input_size is not None else (self.width, self.height)
        factor = self.decimation_factor
        if factor == 1:
            return width, height
        return _pad4(width // factor), _pad4(height // factor)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RealSenseCameraConfig:
        return _dataclass_from_dict(cls, data, "camera config")


def _pad4(n: int) -> int:
    return (n + 3) // 4 * 4


def _check_range(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")


def _dataclass_from_dict(cls: type, data: Mapping[str, Any], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    return cls(**dict(data))


def load_camera_config(path: str | os.PathLike[str]) -> RealSenseCameraConfig:
    """Read configs/cameras/*.yaml (keys = RealSenseCameraConfig fields; filters as sub-mappings)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"camera config not found: {path}")
    data = load_yaml(path.read_text(encoding="utf-8"), str(path))
    try:
        return RealSenseCameraConfig.from_dict(data or {})
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None


def realsense_ros_parameters(config: RealSenseCameraConfig) -> dict[str, Any]:
    """The same settings as realsense-ros 4.5x launch parameters, for the official-driver launch.

    Caveat: the official driver aligns *after* filtering, so its aligned_depth_to_color topic has
    the colour resolution (640x480), not the decimated one; the geometry stays right because the
    point-cloud stage reads K from CameraInfo, only the pixel density differs.
    """
    profile = f"{config.width},{config.height},{config.fps}"
    params: dict[str, Any] = {
        "enable_depth": True,
        "enable_color": config.align_to_color,
        "depth_module.depth_profile": profile,
        "rgb_camera.color_profile": profile,
        "align_depth.enable": config.align_to_color,
        "decimation_filter.enable": config.decimation_factor > 1,
        "decimation_filter.filter_magnitude": config.decimation_factor,
        "disparity_filter.enable": config.disparity_domain and _any_smoothing(config),
        "spatial_filter.enable": config.spatial.enable,
        "spatial_filter.filter_magnitude": config.spatial.magnitude,
        "spatial_filter.filter_smooth_alpha": float(config.spatial.smooth_alpha),
        "spatial_filter.filter_smooth_delta": int(config.spatial.smooth_delta),
        "spatial_filter.holes_fill": config.spatial.holes_fill,
        "temporal_filter.enable": config.temporal.enable,
        "temporal_filter.filter_smooth_alpha": float(config.temporal.smooth_alpha),
        "temporal_filter.filter_smooth_delta": int(config.temporal.smooth_delta),
        "temporal_filter.holes_fill": config.temporal.persistence_control,
        "hole_filling_filter.enable": config.hole_filling.enable,
        "hole_filling_filter.holes_fill": _HOLE_FILLING_MODES.index(config.hole_filling.mode),
        "clip_distance": float(config.clip_distance_m) if config.clip_distance_m is not None else -2.0,
    }
    if config.serial_no is not None:
        params["serial_no"] = config.serial_no
    return params


def _any_smoothing(config: RealSenseCameraConfig) -> bool:
    return config.spatial.enable or config.temporal.enable or config.hole_filling.enable
