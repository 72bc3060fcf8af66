"""Pinhole camera model: intrinsics plus the camera pose in the robot base frame.

The same object describes a simulated camera and a calibrated RealSense, so the point-cloud
function (and every checkpoint that stores it) cannot tell which one produced a depth image.
The pose is that of the REP 103 *optical* frame: x right, y down, z forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CameraModel:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    # 4x4 homogeneous transform mapping optical-frame points into the robot base frame.
    T_base_camera: np.ndarray = field(default_factory=lambda: np.eye(4))

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera resolution must be positive, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        T = np.asarray(self.T_base_camera, dtype=np.float64)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise ValueError("T_base_camera must be a finite 4x4 matrix")
        R = T[:3, :3]
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-5) or np.linalg.det(R) < 0:
            raise ValueError("T_base_camera rotation is not a proper rotation matrix")
        object.__setattr__(self, "T_base_camera", T)

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @classmethod
    def from_fov(cls, width: int, height: int, fovy_deg: float, T_base_camera: np.ndarray) -> CameraModel:
        """Square pixels with a centred principal point, as MuJoCo renders: f = H / (2 tan(fovy/2))."""
        f = height / (2.0 * np.tan(np.deg2rad(fovy_deg) / 2.0))
        return cls(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0, T_base_camera)

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "T_base_camera": np.asarray(self.T_base_camera).tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraModel:
        return cls(
            int(data["width"]),
            int(data["height"]),
            float(data["fx"]),
            float(data["fy"]),
            float(data["cx"]),
            float(data["cy"]),
            np.asarray(data["T_base_camera"], dtype=np.float64),
        )


def look_at_rotation(
    position: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)
) -> np.ndarray:
    """Rotation whose columns are the optical x (right), y (down), z (forward) axes in the base frame
    of a camera at `position` looking at `target`; `up` (default base +z) appears as "up" in the image."""
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


def look_at_pose(position: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """T_base_camera (4x4) of a REP 103 optical frame at `position` looking at `target`."""
    transform = np.eye(4)
    transform[:3, :3] = look_at_rotation(position, target, up)
    transform[:3, 3] = position
    return transform
