"""A calibration error, as `deploy --calibration-error` and the rehearsed miscalibrated cell take it.

(dx, dy, dz) metres in the base frame + (roll, pitch, yaw) degrees about the camera's own origin:
the camera pose a hand-eye calibration reports when it is off by that much. `mtdagger gap` then
has to find it in the bag (table height and tilt against training's).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

# A calibration error beyond these is not a miscalibrated camera but another camera (or a value in
# millimetres): hand-eye calibrations are off by millimetres, a bad one by a few centimetres.
MAX_CALIBRATION_ERROR_M = 0.25
MAX_CALIBRATION_ERROR_DEG = 30.0


def check_pose_error(error: tuple[float, ...] | np.ndarray, where: str = "a pose error") -> np.ndarray:
    """(dx, dy, dz) metres + (roll, pitch, yaw) degrees, finite and within the bounds above;
    ValueError naming `where` otherwise."""
    values = np.asarray(error, dtype=np.float64)
    if values.shape != (6,) or not np.all(np.isfinite(values)):
        raise ValueError(f"{where} is 6 finite numbers dx,dy,dz (m),roll,pitch,yaw (deg), got {error}")
    too_far = np.abs(values[:3]) > MAX_CALIBRATION_ERROR_M
    too_turned = np.abs(values[3:]) > MAX_CALIBRATION_ERROR_DEG
    if too_far.any() or too_turned.any():
        raise ValueError(
            f"{where} {values.tolist()} is beyond a calibration error (at most "
            f"{MAX_CALIBRATION_ERROR_M} m and {MAX_CALIBRATION_ERROR_DEG:g} deg per axis; "
            "translations are in metres: 1 cm is 0.01)"
        )
    return values


def perturbed_pose(T: np.ndarray, error: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """`T` moved by (dx, dy, dz) metres in the base frame and rotated by (roll, pitch, yaw) degrees
    (extrinsic x-y-z, about the camera's own origin): a calibration that is off by that much."""
    error = check_pose_error(error)
    out = np.array(T, dtype=np.float64)
    out[:3, :3] = Rotation.from_euler("xyz", error[3:], degrees=True).as_matrix() @ out[:3, :3]
    out[:3, 3] += error[:3]
    return out
