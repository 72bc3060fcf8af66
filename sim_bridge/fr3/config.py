"""How an FR3 drawer-cell backend is built: `FR3BackendConfig`, the cell's constants, the camera pose.

Separate from `sim_bridge.fr3.backend` so the config (frozen, picklable, handed to rollout
workers, the sim bridge and the rehearsal tools) reads alone: it validates tasks, the object
split and the camera calibration without touching MuJoCo, and `build()` imports the backend
only when called. The constants (observation keys, default camera and calibration files) go
with it because the config and the code around the backend both use them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sim_bridge.backend import UnknownTaskError
from sim_bridge.camera.sim_camera import SimCameraConfig
from sim_bridge.fr3.drawer_suite import DEFAULT_SUITE, TASKS, load_drawer_split
from sim_bridge.fr3.model import BASE_LINK

if TYPE_CHECKING:
    from sim_bridge.fr3.backend import FR3Backend

# Before mujoco's first import; every FR3 path (backend, cell, config-only tools) imports this.
os.environ.setdefault("MUJOCO_GL", "egl")

OBJECT_ID = "object.id"  # observation keys: which cabinet, and its split label
OBJECT_SPLIT = "object.split"
DEFAULT_CAMERA = "configs/cameras/fr3_d435.yaml"
DEFAULT_CALIBRATION = "configs/calibration/fr3_cell.yaml"


def camera_from_calibration(camera: SimCameraConfig, calibration: str) -> SimCameraConfig:
    """`camera` with its pose replaced by the calibration file's T_base_camera."""
    from calibration.extrinsics import load_extrinsics, matrix_to_quaternion_xyzw
    from sim_bridge.camera.sim_camera import resolve_config_path

    extrinsics = load_extrinsics(resolve_config_path(calibration))
    if extrinsics.base_frame != BASE_LINK:
        raise ValueError(
            f"calibration {calibration}: base_frame is {extrinsics.base_frame!r}, expected {BASE_LINK!r}"
        )
    T = extrinsics.T_base_camera
    return dataclasses.replace(
        camera,
        position=tuple(float(v) for v in T[:3, 3]),
        look_at=None,
        quaternion_xyzw=tuple(float(v) for v in matrix_to_quaternion_xyzw(T[:3, :3])),
    )


@dataclass(frozen=True)
class FR3BackendConfig:
    """Everything a worker needs to build an identical FR3 backend (frozen, picklable)."""

    tasks: tuple[str, ...] = TASKS
    objects: str = "seen"  # which ids of the suite's split episodes draw from: seen | unseen | all
    suite: str = DEFAULT_SUITE
    camera: SimCameraConfig = field(default_factory=lambda: SimCameraConfig.from_yaml(DEFAULT_CAMERA))
    calibration: str = DEFAULT_CALIBRATION  # the camera's pose; overrides the camera YAML's
    render_depth: bool = True
    max_episode_steps: int = 120
    robot_config: str = "franka_fr3"
    # time_from_start of each joint target. None: the robot config's
    # controllers.trajectory_time_from_start_s, what the real arm controller sends (0.15 s for the
    # FR3: the arm covers about half of each step before the next target replaces it); 0: one
    # control period. Recorded in the action convention, so the real launch refuses a checkpoint
    # trained with another value.
    trajectory_time_s: float | None = None

    def __post_init__(self) -> None:
        tasks = tuple(self.tasks)
        unknown = [t for t in tasks if t not in TASKS]
        if unknown or not tasks:
            raise UnknownTaskError(str(unknown[0] if unknown else ""), list(TASKS))
        object.__setattr__(self, "tasks", tasks)
        load_drawer_split(self.suite).ids(self.objects)  # validates the split and the choice now
        if not isinstance(self.camera, SimCameraConfig):
            raise TypeError(f"camera must be a SimCameraConfig, got {type(self.camera).__name__}")
        object.__setattr__(self, "camera", camera_from_calibration(self.camera, self.calibration))
        if int(self.max_episode_steps) <= 0:
            raise ValueError(f"max_episode_steps must be positive, got {self.max_episode_steps}")
        if self.trajectory_time_s is not None and not (
            np.isfinite(self.trajectory_time_s) and self.trajectory_time_s >= 0
        ):
            raise ValueError(f"trajectory_time_s must be >= 0, got {self.trajectory_time_s!r}")

    def build(self) -> FR3Backend:
        from sim_bridge.fr3.backend import FR3Backend

        return FR3Backend(self)
