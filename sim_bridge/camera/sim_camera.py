"""The simulated depth camera's config: intrinsics, pose in the robot base frame, noise, randomisation.

Why this file exists: a point-cloud policy only transfers if the numbers used to RENDER the sim
depth and the numbers used to BACK-PROJECT it are the same. So the camera is described once, as a
`CameraModel` (intrinsics + REP 103 optical-frame pose in the robot base frame), and the renderer
(`mtdagger.perception.mujoco_camera.MujocoDepthCamera`, shared with the calibration cell) is
driven from exactly that object. `sim_camera_config` builds the camera a run asks for (a YAML file
plus a noise model name), for the in-process runtime and the simulator nodes alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from mtdagger.files import load_yaml
from mtdagger.perception.camera_model import CameraModel, look_at_rotation
from sim_bridge.camera.depth_noise import CameraRandomizationConfig, DepthNoiseConfig

_REPO_ROOT = Path(__file__).resolve().parents[2]


def resolve_config_path(path: str | Path) -> Path:
    """A config path as given (absolute or relative to the working directory), else relative to
    the repository root, so `configs/...` works from any directory of a source checkout."""
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    fallback = _REPO_ROOT / candidate
    if fallback.exists():
        return fallback
    raise FileNotFoundError(f"config file {str(path)!r} not found (also looked under the repository root)")


@dataclass(frozen=True)
class SimCameraConfig:
    """A simulated depth camera: intrinsics, pose in the robot base frame, noise, randomisation.

    The pose is given either by `look_at` (+ `up`, the base-frame direction that appears as "up"
    in the image) or by `quaternion_xyzw`, the orientation of the REP 103 optical frame (x right,
    y down, z forward) in the base frame. Frozen and picklable: rollout workers rebuild from it.
    """

    width: int = 160
    height: int = 120
    fx: float = 153.75
    fy: float = 153.75
    cx: float = 79.5
    cy: float = 59.5
    position: tuple[float, float, float] = (0.8, -0.05, 0.65)
    look_at: tuple[float, float, float] | None = (0.1, 0.65, 0.05)
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    quaternion_xyzw: tuple[float, float, float, float] | None = None
    noise: DepthNoiseConfig = field(default_factory=DepthNoiseConfig)
    randomization: CameraRandomizationConfig = field(default_factory=CameraRandomizationConfig)
    seed: int = 0  # combined with each episode's seed for noise and randomisation draws
    # Render MuJoCo sites (markers). MetaWorld's goal site is the only thing that shows the goal of
    # reach/push/pick-place in a cloud; a real setup needs a physical marker for the same reason.
    show_sites: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", _vec(self.position, 3, "position"))
        object.__setattr__(self, "up", _vec(self.up, 3, "up"))
        if (self.look_at is None) == (self.quaternion_xyzw is None):
            raise ValueError("give exactly one of look_at and quaternion_xyzw for the camera orientation")
        if self.look_at is not None:
            object.__setattr__(self, "look_at", _vec(self.look_at, 3, "look_at"))
        if self.quaternion_xyzw is not None:
            quaternion = _vec(self.quaternion_xyzw, 4, "quaternion_xyzw")
            if not np.isclose(np.linalg.norm(quaternion), 1.0, atol=1e-3):
                raise ValueError(f"quaternion_xyzw must be a unit quaternion, got {quaternion}")
            object.__setattr__(self, "quaternion_xyzw", quaternion)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"camera seed must be a non-negative integer, got {self.seed!r}")
        object.__setattr__(self, "noise", DepthNoiseConfig.from_value(self.noise))
        object.__setattr__(self, "randomization", CameraRandomizationConfig.from_value(self.randomization))
        self.camera_model()  # validates resolution, focal lengths and the orientation now, not mid-rollout

    def camera_model(self) -> CameraModel:
        """The nominal camera (before any per-episode randomisation)."""
        transform = np.eye(4)
        transform[:3, 3] = self.position
        if self.look_at is not None:
            transform[:3, :3] = look_at_rotation(self.position, self.look_at, self.up)
        else:
            transform[:3, :3] = quaternion_xyzw_to_matrix(self.quaternion_xyzw)
        return CameraModel(self.width, self.height, self.fx, self.fy, self.cx, self.cy, transform)

    def with_noise(self, noise: DepthNoiseConfig) -> SimCameraConfig:
        return _replace(self, noise=noise)

    def with_randomization(self, randomization: CameraRandomizationConfig) -> SimCameraConfig:
        return _replace(self, randomization=randomization)

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for key in ("position", "look_at", "up", "quaternion_xyzw"):
            if data[key] is not None:
                data[key] = list(data[key])
        data["noise"] = self.noise.to_dict()
        data["randomization"] = self.randomization.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimCameraConfig:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"unknown camera config keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}"
            )
        values = dict(data)
        if "quaternion_xyzw" in values and "look_at" not in values:
            values["look_at"] = None  # the dataclass default would otherwise conflict
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path) -> SimCameraConfig:
        resolved = resolve_config_path(path)
        with open(resolved, encoding="utf-8") as handle:
            data = load_yaml(handle, f"camera config {str(path)!r}")
        if not isinstance(data, dict):
            raise ValueError(f"camera config {str(path)!r} must be a YAML mapping, got {type(data).__name__}")
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as error:
            raise ValueError(f"invalid camera config {str(path)!r}: {error}") from error


def quaternion_xyzw_to_matrix(quaternion: tuple[float, float, float, float]) -> np.ndarray:
    """3x3 rotation of a quaternion in (x, y, z, w) order (scipy's), normalised first."""
    return Rotation.from_quat(np.asarray(quaternion, dtype=np.float64)).as_matrix()


def _vec(values: Any, size: int, name: str) -> tuple[float, ...]:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.shape != (size,) or not np.all(np.isfinite(array)):
        raise ValueError(f"camera {name} must be {size} finite numbers, got {values!r}")
    return tuple(float(v) for v in array)


def _replace(config: SimCameraConfig, **changes: Any) -> SimCameraConfig:
    from dataclasses import replace

    return replace(config, **changes)


def sim_camera_config(path: str, *, noise: str = "none", randomize: bool = False, seed: int = 0):
    """The camera YAML at `path` with noise model `noise` ('none' or 'realsense'), the default
    camera randomisation if `randomize`, and the noise seed."""
    camera = SimCameraConfig.from_yaml(path)
    if noise == "realsense":
        camera = _replace(camera, noise=DepthNoiseConfig.realsense())
    elif noise != "none":
        raise ValueError(f"unknown noise model {noise!r}; valid: none, realsense")
    if randomize:
        camera = _replace(camera, randomization=CameraRandomizationConfig.default())
    return _replace(camera, seed=seed)
