"""Eye-on-base hand-eye calibration: camera fixed in the room, calibration board on the gripper.

Inputs per sample: the gripper pose in the base frame (`T_base_gripper`, from the robot's forward
kinematics or TF `lookup_transform(base, effector)`) and the board pose in the camera optical frame
(`T_camera_target`, e.g. ChArUco + `cv2.solvePnP`, see `pose_from_rvec_tvec`). Output:
`T_base_camera`, ready for `calibration.extrinsics.save_extrinsics`.

Why two solvers: OpenCV's `cv2.calibrateHandEye(R_gripper2base, t_gripper2base, R_target2cam,
t_target2cam)` returns cam2gripper; fed base2gripper instead (eye-on-base), it returns cam2base
(ros2-conventions.md §7). We use it when the installed OpenCV has it (the project pins a 4.x wheel
for that reason). The opencv-python-headless 5.0.0 wheel exports the CALIB_HAND_EYE_* constants but
not the function, so the Park & Martin (1994) closed form, the same method as
CALIB_HAND_EYE_PARK, is built in (two SVDs and one least-squares solve) and is what runs where
OpenCV lacks it.

Geometry: with X = T_base_camera and Y = T_gripper_target (both constant),
G_i Y = X C_i for every sample (G = T_base_gripper, C = T_camera_target). For two samples,
A X = X B with A = G_j G_i^-1 and B = C_j C_i^-1.
"""

from __future__ import annotations

import datetime as _dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.spatial.transform import Rotation

from calibration.extrinsics import Extrinsics

HandEyeMethod = Literal["tsai", "park", "horaud", "andreff", "daniilidis"]
_OPENCV_METHOD_NAMES = {
    "tsai": "CALIB_HAND_EYE_TSAI",
    "park": "CALIB_HAND_EYE_PARK",
    "horaud": "CALIB_HAND_EYE_HORAUD",
    "andreff": "CALIB_HAND_EYE_ANDREFF",
    "daniilidis": "CALIB_HAND_EYE_DANIILIDIS",
}
MIN_SAMPLES = 3
MIN_ROTATION_RAD = np.deg2rad(1.0)  # relative motions smaller than this carry no axis information
MIN_AXIS_SPREAD = 0.05  # tan(half the angle) between the two most different axes: ~6 degrees


class HandEyeError(ValueError):
    """The samples cannot determine the camera pose (too few, inconsistent or degenerate)."""


@dataclass(frozen=True)
class HandEyeResult:
    T_base_camera: np.ndarray
    T_gripper_target: np.ndarray  # where the board sits on the gripper (a free by-product)
    method: str  # e.g. "park (built-in)" or "tsai (opencv 4.10.0)"
    residuals: dict[str, float] = field(default_factory=dict)

    def to_extrinsics(
        self,
        *,
        calibration_id: str,
        base_frame: str = "base_link",
        camera_frame: str = "camera_color_optical_frame",
    ) -> Extrinsics:
        return Extrinsics(
            self.T_base_camera,
            base_frame,
            camera_frame,
            calibration_id,
            created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            method=f"handeye eye-on-base {self.method}",
            residuals=self.residuals,
        )


def pose_from_rvec_tvec(rvec: Sequence[float], tvec: Sequence[float]) -> np.ndarray:
    """4x4 pose from OpenCV's (Rodrigues vector, translation), e.g. solvePnP's target-in-camera."""
    import cv2

    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(np.asarray(rvec, dtype=np.float64).reshape(3, 1))[0]
    T[:3, 3] = np.asarray(tvec, dtype=np.float64).reshape(3)
    return T


def calibrate_eye_on_base(
    T_base_gripper: Sequence[np.ndarray],
    T_camera_target: Sequence[np.ndarray],
    method: HandEyeMethod = "park",
    use_opencv: bool | None = None,
) -> HandEyeResult:
    """Solve for T_base_camera. `use_opencv`: None = when available, True = require it, False = built-in
    Park & Martin (only `method="park"`)."""
    gripper = _as_poses(T_base_gripper, "T_base_gripper")
    target = _as_poses(T_camera_target, "T_camera_target")
    if len(gripper) != len(target):
        raise HandEyeError(
            f"got {len(gripper)} gripper poses but {len(target)} target poses; they must pair up"
        )
    if len(gripper) < MIN_SAMPLES:
        raise HandEyeError(f"need at least {MIN_SAMPLES} samples, got {len(gripper)}")
    if method not in _OPENCV_METHOD_NAMES:
        raise HandEyeError(f"unknown method {method!r}; choose one of {', '.join(_OPENCV_METHOD_NAMES)}")
    _check_rotation_diversity(gripper)

    opencv_solver = _opencv_hand_eye()
    if use_opencv is None:
        use_opencv = opencv_solver is not None or method != "park"
    if use_opencv:
        if opencv_solver is None:
            import cv2

            raise HandEyeError(
                f"OpenCV {cv2.__version__} has no calibrateHandEye; use method='park' (built in) "
                "or install opencv-python-headless<5"
            )
        X = _solve_opencv(opencv_solver, gripper, target, method)
        import cv2

        label = f"{method} (opencv {cv2.__version__})"
    else:
        if method != "park":
            raise HandEyeError(f"the built-in solver implements method='park' only, got {method!r}")
        X = _solve_park_martin(gripper, target)
        label = "park (built-in)"
    Y, residuals = _board_pose_and_residuals(X, gripper, target)
    return HandEyeResult(X, Y, label, residuals)


def _as_poses(poses: Sequence[np.ndarray], name: str) -> np.ndarray:
    array = np.asarray(poses, dtype=np.float64)
    if array.ndim != 3 or array.shape[1:] != (4, 4):
        raise HandEyeError(f"{name} must be a sequence of 4x4 matrices, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise HandEyeError(f"{name} contains non-finite numbers")
    R = array[:, :3, :3]
    orthonormal = np.allclose(R @ np.swapaxes(R, 1, 2), np.eye(3), atol=1e-6)
    if not orthonormal or np.any(np.linalg.det(R) < 0):
        raise HandEyeError(f"{name} contains a matrix whose rotation is not a proper rotation")
    return array


def _rotation_vector(R: np.ndarray) -> np.ndarray:
    """Axis * angle, angle in [0, π] (scipy goes through the quaternion: stable at 0 and 180 degrees,
    unlike arccos of the trace)."""
    return Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_rotvec()


def _check_rotation_diversity(gripper: np.ndarray) -> None:
    """Rotations about a single axis leave the camera position along that axis undetermined;
    every solver then returns a confident-looking wrong answer, so refuse instead."""
    axes = []
    for i, j in itertools.combinations(range(len(gripper)), 2):
        v = _rotation_vector(gripper[j, :3, :3] @ gripper[i, :3, :3].T)
        angle = np.linalg.norm(v)
        if angle > MIN_ROTATION_RAD:
            axes.append(v / angle)
    singular = np.linalg.svd(np.asarray(axes), compute_uv=False) if len(axes) >= 2 else np.zeros(2)
    if len(axes) < 2 or singular[1] / singular[0] < MIN_AXIS_SPREAD:
        raise HandEyeError(
            "the gripper rotations need at least two clearly different rotation axes "
            "(tilt the board about different axes between samples)"
        )


def _solve_park_martin(gripper: np.ndarray, target: np.ndarray) -> np.ndarray:
    alphas, betas, A_list, B_list = [], [], [], []
    for i, j in itertools.combinations(range(len(gripper)), 2):
        A = gripper[j] @ np.linalg.inv(gripper[i])
        B = target[j] @ np.linalg.inv(target[i])
        alphas.append(_rotation_vector(A[:3, :3]))
        betas.append(_rotation_vector(B[:3, :3]))
        A_list.append(A)
        B_list.append(B)
    # R_A = R_X R_B R_X^T  =>  alpha = R_X beta: orthogonal Procrustes on the rotation vectors.
    M = np.asarray(alphas).T @ np.asarray(betas)
    U, _, Vt = np.linalg.svd(M)
    R_X = U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt
    # (R_A - I) t_X = R_X t_B - t_A, stacked over all pairs.
    lhs = np.concatenate([A[:3, :3] - np.eye(3) for A in A_list])
    rhs = np.concatenate([R_X @ B[:3, 3] - A[:3, 3] for A, B in zip(A_list, B_list)])
    t_X = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
    X = np.eye(4)
    X[:3, :3], X[:3, 3] = R_X, t_X
    return X


def _opencv_hand_eye():
    import cv2

    return getattr(cv2, "calibrateHandEye", None)


def _solve_opencv(solver, gripper: np.ndarray, target: np.ndarray, method: str) -> np.ndarray:
    import cv2

    base_to_gripper = np.linalg.inv(gripper)  # eye-on-base: pass base2gripper, get cam2base
    R, t = solver(
        [m[:3, :3] for m in base_to_gripper],
        [m[:3, 3] for m in base_to_gripper],
        [m[:3, :3] for m in target],
        [m[:3, 3] for m in target],
        method=getattr(cv2, _OPENCV_METHOD_NAMES[method]),
    )
    X = np.eye(4)
    X[:3, :3], X[:3, 3] = R, np.asarray(t).reshape(3)
    return X


def _board_pose_and_residuals(
    X: np.ndarray, gripper: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, dict[str, float]]:
    """The board pose on the gripper implied by each sample, Y_i = G_i^-1 X C_i, should be one
    constant pose: its spread is the calibration's self-consistency (not its absolute accuracy)."""
    Y_samples = np.linalg.inv(gripper) @ X @ target
    U, _, Vt = np.linalg.svd(Y_samples[:, :3, :3].sum(axis=0))
    Y = np.eye(4)
    Y[:3, :3] = U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt
    Y[:3, 3] = Y_samples[:, :3, 3].mean(axis=0)
    angles = [np.linalg.norm(_rotation_vector(Y[:3, :3].T @ Yi[:3, :3])) for Yi in Y_samples]
    offsets = np.linalg.norm(Y_samples[:, :3, 3] - Y[:3, 3], axis=1)
    residuals = {
        "num_samples": float(len(gripper)),
        "rotation_rms_deg": float(np.rad2deg(np.sqrt(np.mean(np.square(angles))))),
        "translation_rms_m": float(np.sqrt(np.mean(np.square(offsets)))),
    }
    return Y, residuals
