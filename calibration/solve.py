"""Hand-eye solve with every method, outlier views removed, and the calibration YAML it produces.

Two set-ups, one equation. With M_i the robot motion and C_i = T_camera_board of sample i:
- eye-to-hand (camera fixed, board on the gripper): M_i = T_base_gripper, unknown X = T_base_camera,
  constant Y = T_gripper_board;
- eye-in-hand (camera on the gripper, board fixed): M_i = T_gripper_base (the inverse), unknown
  X = T_gripper_camera, constant Y = T_base_board.
Both read M_i Y = X C_i, which is `calibration.handeye.calibrate_eye_on_base`'s form. We run the
five `cv2.calibrateHandEye` methods, the two `cv2.calibrateRobotWorldHandEye` methods (Shah, Li:
they solve X and Y together) and the built-in Park-Martin solver, and compare them on one
residual: how constant the board's mount Y_i = M_i^-1 X C_i is across the samples.

Outliers (a board pose from a blurred frame, a TF sample from the wrong instant) show up as one
sample whose Y_i is far from the others; the worst one is dropped and the solve repeated while
its offset exceeds `k` times the median offset (and an absolute floor), keeping at least
`min_views` samples and dropping at most a quarter of them.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from calibration.extrinsics import Extrinsics
from calibration.handeye import (
    MIN_SAMPLES,
    HandEyeError,
    _as_poses,
    _board_pose_and_residuals,
    _check_rotation_diversity,
    _rotation_vector,
    calibrate_eye_on_base,
)

Setup = Literal["eye_to_hand", "eye_in_hand"]
SETUPS = ("eye_to_hand", "eye_in_hand")
HANDEYE_METHODS = ("tsai", "park", "horaud", "andreff", "daniilidis")
ROBOT_WORLD_METHODS = ("shah", "li")
METHODS = ("builtin-park", *HANDEYE_METHODS, *ROBOT_WORLD_METHODS)
MIN_VIEWS = 5
MIN_MOTION_DEG = 2.0
# A solution whose board mount Y_i = M_i^-1 X C_i spreads more than this across the views is not a
# calibration: the robot poses and the images disagree (identical or stale frames, a TF from the
# wrong instant, a board that slipped, the wrong frames). Good captures give ~1 mm / 0.1 deg.
MAX_RESIDUAL_M = 0.01
MAX_RESIDUAL_DEG = 1.0
# REP 103: camera_link has x forward, y left, z up; the optical frame x right, y down, z forward.
R_LINK_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class MethodResult:
    name: str
    X: np.ndarray | None  # T_base_camera (eye-to-hand) or T_gripper_camera (eye-in-hand), optical
    residuals: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def score(self) -> float:
        """One number to rank methods: 1 mm of board-offset spread weighs as much as 0.1 degree."""
        if self.X is None:
            return float("inf")
        return self.residuals["translation_rms_m"] / 1e-3 + self.residuals["rotation_rms_deg"] / 0.1


@dataclass(frozen=True)
class SolveReport:
    setup: str
    results: dict[str, MethodResult]
    chosen: str
    used: list[int]  # sample indices that entered the final solve
    removed: dict[int, str]  # sample index -> why it was dropped

    @property
    def best(self) -> MethodResult:
        return self.results[self.chosen]

    def table(self) -> str:
        lines = [f"{'method':<14} {'trans rms mm':>12} {'rot rms deg':>11} {'reproj px':>9}  note"]
        for name, result in self.results.items():
            if result.X is None:
                lines.append(f"{name:<14} {'-':>12} {'-':>11} {'-':>9}  failed: {result.error}")
                continue
            note = "chosen" if name == self.chosen else ""
            r = result.residuals
            px = f"{r['reprojection_rms_px']:.3f}" if "reprojection_rms_px" in r else "-"
            t_mm, r_deg = 1e3 * r["translation_rms_m"], r["rotation_rms_deg"]
            lines.append(f"{name:<14} {t_mm:>12.3f} {r_deg:>11.4f} {px:>9}  {note}")
        return "\n".join(lines)


def motions(T_base_gripper: np.ndarray, setup: str) -> np.ndarray:
    if setup not in SETUPS:
        raise HandEyeError(f"setup must be one of {', '.join(SETUPS)}, got {setup!r}")
    return T_base_gripper if setup == "eye_to_hand" else np.linalg.inv(T_base_gripper)


def check_motion(T_base_gripper: np.ndarray) -> None:
    """Refuse sample sets that cannot determine the camera pose, with the reason in words."""
    rotations = T_base_gripper[:, :3, :3]
    largest = max(
        np.rad2deg(np.linalg.norm(_rotation_vector(rotations[j] @ rotations[i].T)))
        for i in range(len(rotations))
        for j in range(i + 1, len(rotations))
    )
    if largest < MIN_MOTION_DEG:
        raise HandEyeError(
            f"degenerate motion: the gripper only translated between samples (largest rotation "
            f"{largest:.2f} deg < {MIN_MOTION_DEG} deg); rotate the board about two different axes"
        )
    _check_rotation_diversity(T_base_gripper)


def check_views(T_camera_board: np.ndarray) -> None:
    """Refuse board poses that cannot go with a moving gripper: the same pose in every image
    (identical or repeated frames) or rotations about one axis only, with the reason in words."""
    rotations = T_camera_board[:, :3, :3]
    largest = max(
        np.rad2deg(np.linalg.norm(_rotation_vector(rotations[j] @ rotations[i].T)))
        for i in range(len(rotations))
        for j in range(i + 1, len(rotations))
    )
    spread_mm = 1e3 * float(np.ptp(T_camera_board[:, :3, 3], axis=0).max())
    if largest < MIN_MOTION_DEG:
        raise HandEyeError(
            f"degenerate views: the board barely turns between the images (largest rotation "
            f"{largest:.2f} deg < {MIN_MOTION_DEG} deg, positions within {spread_mm:.1f} mm) while the "
            "gripper moved; are the images identical or repeated frames?"
        )
    try:
        _check_rotation_diversity(T_camera_board)
    except HandEyeError:
        raise HandEyeError(
            "degenerate views: the board turns about one axis only in the images while the gripper "
            "rotated about several; the images and the robot poses do not belong together"
        ) from None


def check_residuals(results: dict[str, MethodResult], chosen: str, max_m: float, max_deg: float) -> None:
    """Refuse a solution whose board-mount residuals exceed the limits, printing every method's."""
    best = results[chosen].residuals
    t_mm, r_deg = 1e3 * best["translation_rms_m"], best["rotation_rms_deg"]
    if t_mm <= 1e3 * max_m and r_deg <= max_deg:
        return
    each = ", ".join(
        f"{name} {1e3 * r.residuals['translation_rms_m']:.1f} mm / {r.residuals['rotation_rms_deg']:.2f} deg"
        for name, r in results.items()
        if r.X is not None
    )
    raise HandEyeError(
        f"residuals too high: the board mount spreads {t_mm:.1f} mm / {r_deg:.2f} deg rms across the views "
        f"with {chosen} (limits {1e3 * max_m:g} mm / {max_deg:g} deg; per method: {each}); the robot poses "
        "and the images disagree (stale TF, wrong frames, a board or camera that moved). Nothing was written"
    )


def solve_method(M: np.ndarray, C: np.ndarray, name: str) -> MethodResult:
    try:
        if name == "builtin-park":
            X = calibrate_eye_on_base(M, C, method="park", use_opencv=False).T_base_camera
        elif name in HANDEYE_METHODS:
            X = calibrate_eye_on_base(M, C, method=name, use_opencv=True).T_base_camera
        elif name in ROBOT_WORLD_METHODS:
            X = _robot_world(M, C, name)
        else:
            raise HandEyeError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    except (HandEyeError, ArithmeticError) as error:
        return MethodResult(name, None, error=str(error))
    except Exception as error:  # cv2.error: a method that fails must not hide the others
        return MethodResult(name, None, error=f"{type(error).__name__}: {str(error).strip()[:200]}")
    if not np.all(np.isfinite(X)):
        return MethodResult(name, None, error="non-finite result")
    _, residuals = _board_pose_and_residuals(X, M, C)
    return MethodResult(name, X, residuals)


def _robot_world(M: np.ndarray, C: np.ndarray, name: str) -> np.ndarray:
    """cv2.calibrateRobotWorldHandEye solves cTw_i = cTg gTb_i bTw. With world := board,
    gTb_i := M_i: cTg = X^-1 and bTw = Y."""
    import cv2

    _, _, R_gripper2cam, t_gripper2cam = cv2.calibrateRobotWorldHandEye(
        [c[:3, :3] for c in C], [c[:3, 3] for c in C], [m[:3, :3] for m in M], [m[:3, 3] for m in M],
        method=getattr(cv2, f"CALIB_ROBOT_WORLD_HAND_EYE_{name.upper()}"),
    )  # fmt: skip
    cam_T_x = np.eye(4)
    cam_T_x[:3, :3], cam_T_x[:3, 3] = R_gripper2cam, np.asarray(t_gripper2cam).reshape(3)
    return np.linalg.inv(cam_T_x)


def sample_offsets(X: np.ndarray, M: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: translation (m) and rotation (deg) of its board mount Y_i from the consensus."""
    Y, _ = _board_pose_and_residuals(X, M, C)
    Y_samples = np.linalg.inv(M) @ X @ C
    offsets = np.linalg.norm(Y_samples[:, :3, 3] - Y[:3, 3], axis=1)
    angles = np.array(
        [np.rad2deg(np.linalg.norm(_rotation_vector(Y[:3, :3].T @ Yi[:3, :3]))) for Yi in Y_samples]
    )
    return offsets, angles


def solve_hand_eye(
    T_base_gripper: Sequence[np.ndarray],
    T_camera_board: Sequence[np.ndarray],
    setup: str = "eye_to_hand",
    *,
    methods: Sequence[str] = METHODS,
    method: str | None = None,
    min_views: int = MIN_VIEWS,
    outlier_k: float = 3.0,
    outlier_floor_m: float = 0.002,
    outlier_floor_deg: float = 0.2,
    max_residual_m: float = MAX_RESIDUAL_M,
    max_residual_deg: float = MAX_RESIDUAL_DEG,
) -> SolveReport:
    """Every method on the inlier samples; `method` forces the choice, else the lowest score wins."""
    G, C = _checked_samples(T_base_gripper, T_camera_board, min_views, [*methods, method or METHODS[0]])
    M = motions(G, setup)
    used = list(range(len(G)))
    removed: dict[int, str] = {}
    max_removed = len(G) // 4
    while len(used) > min_views and len(removed) < max_removed:
        reference = solve_method(M[used], C[used], "builtin-park")
        if reference.X is None:
            break
        offsets, angles = sample_offsets(reference.X, M[used], C[used])
        limit_m = max(outlier_floor_m, outlier_k * float(np.median(offsets)))
        limit_deg = max(outlier_floor_deg, outlier_k * float(np.median(angles)))
        excess = np.maximum(offsets / limit_m, angles / limit_deg)
        worst = int(np.argmax(excess))
        if excess[worst] <= 1.0:
            break
        index = used.pop(worst)
        removed[index] = (
            f"inconsistent with the other views: board mount off by {1e3 * offsets[worst]:.1f} mm / "
            f"{angles[worst]:.2f} deg (limits {1e3 * limit_m:.1f} mm / {limit_deg:.2f} deg)"
        )
    results = {name: solve_method(M[used], C[used], name) for name in methods}
    if method is not None:
        results.setdefault(method, solve_method(M[used], C[used], method))
        if results[method].X is None:
            raise HandEyeError(f"method {method!r} failed: {results[method].error}")
        chosen = method
    else:
        chosen = min(results, key=lambda name: results[name].score)
        if results[chosen].X is None:
            errors = "; ".join(f"{n}: {r.error}" for n, r in results.items())
            raise HandEyeError(f"every hand-eye method failed: {errors}")
    check_residuals(results, chosen, max_residual_m, max_residual_deg)
    return SolveReport(setup, results, chosen, used, removed)


def _checked_samples(
    T_base_gripper: Sequence[np.ndarray], T_camera_board: Sequence[np.ndarray], min_views: int, methods: list
) -> tuple[np.ndarray, np.ndarray]:
    """The samples as arrays, refused (HandEyeError, the reason in words) when they cannot give a
    calibration: too few, unpaired, an unknown method, degenerate motion or degenerate views."""
    check_min_views(min_views)
    G = _as_poses(T_base_gripper, "T_base_gripper")
    C = _as_poses(T_camera_board, "T_camera_board")
    if len(G) != len(C):
        raise HandEyeError(f"got {len(G)} gripper poses but {len(C)} board poses; they must pair up")
    if len(G) < min_views:
        raise HandEyeError(f"too few views: {len(G)} usable, need at least {min_views}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise HandEyeError(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    check_motion(G)
    check_views(C)
    return G, C


def check_min_views(min_views: int) -> None:
    """Fewer than three views cannot determine a camera pose (two relative motions, two axes)."""
    if isinstance(min_views, bool) or not isinstance(min_views, int) or min_views < MIN_SAMPLES:
        raise HandEyeError(
            f"min_views must be an integer >= {MIN_SAMPLES} (a hand-eye solve needs at least "
            f"{MIN_SAMPLES} views rotated about two axes), got {min_views!r}"
        )


def report_to_extrinsics(
    report: SolveReport,
    *,
    calibration_id: str,
    parent_frame: str,
    camera_frame: str = "camera_link",
    optical_frame: str = "camera_color_optical_frame",
    T_camera_optical: np.ndarray | None = None,
    camera_serial: str = "",
) -> Extrinsics:
    """The calibration YAML's content: parent (robot base, or the gripper for eye-in-hand) ->
    camera link, the link -> optical transform, the chosen method and every method's residuals."""
    if T_camera_optical is None:
        T_camera_optical = np.eye(4)
        T_camera_optical[:3, :3] = R_LINK_OPTICAL
    best = report.best
    residuals = {**best.residuals, "num_removed_views": float(len(report.removed))}
    for name, result in report.results.items():
        if result.X is not None:
            for key in ("translation_rms_m", "rotation_rms_deg", "reprojection_rms_px"):
                if key in result.residuals:
                    residuals[f"{name}.{key}"] = result.residuals[key]
    return Extrinsics(
        best.X @ np.linalg.inv(T_camera_optical),
        parent_frame,
        camera_frame,
        calibration_id,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        method=f"handeye {report.setup} {report.chosen}",
        residuals=residuals,
        camera_serial=camera_serial,
        optical_frame=optical_frame,
        T_camera_optical=T_camera_optical,
    )
