"""The simulated depth camera: a CameraModel rendered by `mujoco.Renderer`, metric planar depth out.

Why this file exists: a point-cloud policy only transfers if the numbers used to RENDER the sim
depth and the numbers used to BACK-PROJECT it are the same. So the camera is described once, as a
`CameraModel` (intrinsics + REP 103 optical-frame pose in the robot base frame), and the renderer
is driven from exactly that object:

* pose: after `mjv_updateScene`, the scene's OpenGL camera is overwritten with the optical frame
  (OpenGL looks along -z with y up, so forward = optical +z and up = optical -y). No MuJoCo
  model camera is touched and no Euler/quaternion convention of MuJoCo's is involved;
* intrinsics: the OpenGL frustum on the near plane is set from fx, fy, cx, cy, using
  `frustum_width` for the horizontal half-width, so fx != fy and an off-centre principal point
  render exactly too. Pixel convention (the one OpenCV and depth_image_proc use): pixel (u, v) has
  its centre at integer coordinates, the image spans [-0.5, W-0.5] x [-0.5, H-0.5], so the ray of
  pixel (u, v) is ((u-cx)/fx, (v-cy)/fy, 1) in the optical frame. MuJoCo's own cameras put the
  principal point at the image centre, cx = (W-1)/2, cy = (H-1)/2 in this convention, with square
  pixels (fx = fy = H / (2 tan(fovy/2))); the default D435 config follows that, so it is also what
  a MuJoCo fixed camera with `fovy = 2 atan(H / (2 fy))` would render.

`mujoco.Renderer` depth is already metric PLANAR depth (distance along the optical axis, what a
RealSense reports), linearised from the reverse-Z float depth buffer with the scene's near/far
planes, which we leave as MuJoCo sets them (znear, zfar x extent). NOT gymnasium's `depth_array`,
which is the raw [0, 1] buffer. Pixels that hit nothing (the far plane) become 0.0, "no return".
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mtdagger.perception.camera_model import CameraModel
from sim_bridge.depth_noise import CameraRandomizationConfig, DepthNoiseConfig

_REPO_ROOT = Path(__file__).resolve().parents[1]


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
            data = yaml.safe_load(handle)
        if not isinstance(data, dict):
            raise ValueError(f"camera config {str(path)!r} must be a YAML mapping, got {type(data).__name__}")
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as error:
            raise ValueError(f"invalid camera config {str(path)!r}: {error}") from error


def look_at_rotation(position: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rotation whose columns are the optical x (right), y (down), z (forward) axes in the base frame."""
    forward = np.asarray(target, dtype=np.float64) - np.asarray(position, dtype=np.float64)
    norm = np.linalg.norm(forward)
    if norm < 1e-9:
        raise ValueError("camera look_at target coincides with its position")
    forward /= norm
    right = np.cross(forward, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(right) < 1e-6:
        raise ValueError("camera 'up' is parallel to the viewing direction; choose another up vector")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.column_stack([right, down, forward])


def quaternion_xyzw_to_matrix(quaternion: tuple[float, float, float, float]) -> np.ndarray:
    x, y, z, w = np.asarray(quaternion, dtype=np.float64) / np.linalg.norm(quaternion)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


class MujocoDepthCamera:
    """Renders metric depth and geom segmentation of one MuJoCo model from any CameraModel.

    One instance per model; it owns one OpenGL context. Several live contexts in one process are
    where MetaWorld's rendering corruption (#448) comes from, so the backend keeps only one alive
    and `close()` frees it deliberately (with its own context current) instead of leaving it to
    the garbage collector.
    """

    def __init__(self, model: Any, width: int, height: int, show_sites: bool = True) -> None:
        import mujoco  # imported here: MUJOCO_GL must be set before the first import

        self._mujoco = mujoco
        self.model = model
        self.width = width
        self.height = height
        if width > model.vis.global_.offwidth or height > model.vis.global_.offheight:
            raise ValueError(
                f"camera {width}x{height} exceeds the model's offscreen buffer "
                f"{model.vis.global_.offwidth}x{model.vis.global_.offheight}"
            )
        self._renderer = mujoco.Renderer(model, height=height, width=width)
        self._scene_option = mujoco.MjvOption()
        # Sites are markers, not matter; MetaWorld's goal sites are kept visible by default because
        # for reach/push/pick-place they are the only way a cloud can show where the goal is.
        if not show_sites:
            self._scene_option.sitegroup[:] = 0
        self._free_camera = mujoco.MjvCamera()
        mujoco.mjv_defaultFreeCamera(model, self._free_camera)
        self._finalizer = weakref.finalize(self, _close_renderer, self._renderer)

    def render_depth(self, data: Any, camera: CameraModel, T_world_base: np.ndarray) -> np.ndarray:
        """(H, W) float32 planar depth in metres; 0.0 where the ray hits nothing."""
        self._renderer.enable_depth_rendering()
        self._prepare(data, camera, T_world_base)
        depth = self._renderer.render()
        far = self.model.vis.map.zfar * self.model.stat.extent
        depth[~(depth < 0.999 * far)] = 0.0
        return depth

    def render_geom_ids(self, data: Any, camera: CameraModel, T_world_base: np.ndarray) -> np.ndarray:
        """(H, W) int32: the geom id seen at each pixel, -1 for background or a non-geom (site)."""
        self._renderer.enable_segmentation_rendering()
        self._prepare(data, camera, T_world_base)
        segmentation = self._renderer.render()
        is_geom = segmentation[..., 1] == int(self._mujoco.mjtObj.mjOBJ_GEOM)
        return np.where(is_geom, segmentation[..., 0], -1).astype(np.int32)

    def close(self) -> None:
        self._finalizer()

    def _prepare(self, data: Any, camera: CameraModel, T_world_base: np.ndarray) -> None:
        if (camera.width, camera.height) != (self.width, self.height):
            raise ValueError(
                f"camera is {camera.width}x{camera.height} but this renderer "
                f"was built for {self.width}x{self.height}"
            )
        self._renderer.update_scene(data, camera=self._free_camera, scene_option=self._scene_option)
        T_world_camera = np.asarray(T_world_base, dtype=np.float64) @ camera.T_base_camera
        rotation, origin = T_world_camera[:3, :3], T_world_camera[:3, 3]
        scene = self._renderer.scene
        for gl_camera in (scene.camera[0], scene.camera[1]):  # both eyes: mono rendering averages them
            near = float(gl_camera.frustum_near)  # keep MuJoCo's near/far: the depth linearisation uses them
            gl_camera.pos[:] = origin
            gl_camera.forward[:] = rotation[:, 2]
            gl_camera.up[:] = -rotation[:, 1]
            gl_camera.orthographic = 0
            gl_camera.frustum_width = near * camera.width / (2.0 * camera.fx)
            gl_camera.frustum_center = near * (camera.width - 1 - 2.0 * camera.cx) / (2.0 * camera.fx)
            gl_camera.frustum_top = near * (camera.cy + 0.5) / camera.fy
            gl_camera.frustum_bottom = -near * (camera.height - 0.5 - camera.cy) / camera.fy


def _close_renderer(renderer: Any) -> None:
    # mujoco.Renderer.close frees the GL objects on whatever context is current; make its own
    # context current first so closing one renderer can never corrupt another's framebuffer.
    context = getattr(renderer, "_gl_context", None)
    try:
        if context is not None:
            context.make_current()
        renderer.close()
    except Exception:  # at interpreter exit EGL may already be gone: nothing left to free
        pass


def _vec(values: Any, size: int, name: str) -> tuple[float, ...]:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.shape != (size,) or not np.all(np.isfinite(array)):
        raise ValueError(f"camera {name} must be {size} finite numbers, got {values!r}")
    return tuple(float(v) for v in array)


def _replace(config: SimCameraConfig, **changes: Any) -> SimCameraConfig:
    from dataclasses import replace

    return replace(config, **changes)
