"""A capture folder: the (image, intrinsics, base -> gripper pose) samples a hand-eye solve reads.

Layout (plain files, so a capture from a robot can be inspected, copied and re-solved offline):

    capture.yaml        set-up, frames, camera serial, the board, optional link -> optical transform
    samples/000.png     colour image (what the camera driver published)
    samples/000.yaml    K, distortion, image size, image stamp, T_base_gripper and its stamp

Why stamps are kept: a gripper pose looked up at another instant than the image (a TF buffer
behind, a moving arm) is a silent calibration error. The writer refuses such a sample and the
solve re-checks, so a folder edited by hand cannot sneak one in either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from calibration.board import BoardSpec, board_from_dict, load_board
from calibration.detect import BoardView, detect_board, reprojection_rms_px
from calibration.extrinsics import Extrinsics, matrix_to_quaternion_xyzw, quaternion_xyzw_to_matrix
from calibration.handeye import HandEyeError, _board_pose_and_residuals
from calibration.solve import (
    MAX_RESIDUAL_DEG,
    MAX_RESIDUAL_M,
    MIN_VIEWS,
    SETUPS,
    SolveReport,
    check_min_views,
    motions,
    report_to_extrinsics,
    solve_hand_eye,
)
from mtdagger.files import atomic_write_bytes, load_yaml

CAPTURE_FILE = "capture.yaml"
MAX_STAMP_SKEW_S = 0.05


class CaptureError(ValueError):
    """A sample or capture folder that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class CaptureSettings:
    base_frame: str = "base_link"
    gripper_frame: str = "tool0"
    camera_frame: str = "camera_link"
    optical_frame: str = "camera_color_optical_frame"
    setup: str = "eye_to_hand"
    camera_serial: str = ""
    max_stamp_skew_s: float = MAX_STAMP_SKEW_S
    camera_to_optical: dict[str, list[float]] | None = None  # {translation, rotation_xyzw} if known

    def __post_init__(self) -> None:
        if self.setup not in SETUPS:
            raise CaptureError(f"setup must be one of {', '.join(SETUPS)}, got {self.setup!r}")
        if not self.max_stamp_skew_s > 0:
            raise CaptureError(f"max_stamp_skew_s must be > 0, got {self.max_stamp_skew_s!r}")


@dataclass(frozen=True)
class Sample:
    name: str
    image: np.ndarray
    K: np.ndarray
    distortion: np.ndarray
    image_stamp: float
    T_base_gripper: np.ndarray
    pose_stamp: float


def pose_to_dict(T: np.ndarray) -> dict[str, list[float]]:
    return {
        "translation": [float(v) for v in T[:3, 3]],
        "rotation_xyzw": [float(v) for v in matrix_to_quaternion_xyzw(T[:3, :3])],
    }


def pose_from_dict(data: Any, name: str) -> np.ndarray:
    if not isinstance(data, dict) or set(data) != {"translation", "rotation_xyzw"}:
        raise CaptureError(f"{name} must be a mapping with translation and rotation_xyzw")
    q = np.asarray(data["rotation_xyzw"], dtype=np.float64)
    t = np.asarray(data["translation"], dtype=np.float64)
    if q.shape != (4,) or t.shape != (3,) or not np.all(np.isfinite(q)) or not np.all(np.isfinite(t)):
        raise CaptureError(f"{name}: translation needs 3 and rotation_xyzw 4 finite numbers")
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = quaternion_xyzw_to_matrix(q / np.linalg.norm(q)), t
    return T


def _read_yaml(path: Path) -> Any:
    try:
        return load_yaml(path.read_text(encoding="utf-8"), str(path))
    except yaml.YAMLError as error:
        raise CaptureError(str(error)) from None


def _write_atomic(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data)


class CaptureWriter:
    """Appends samples to a capture folder (new or existing with the same settings)."""

    def __init__(self, folder: str | Path, settings: CaptureSettings, board: BoardSpec) -> None:
        self.folder = Path(folder)
        self.settings = settings
        (self.folder / "samples").mkdir(parents=True, exist_ok=True)
        meta = {"settings": asdict(settings), "board": asdict(board)}
        text = yaml.safe_dump(meta, sort_keys=False)
        existing = self.folder / CAPTURE_FILE
        if existing.is_file() and any((self.folder / "samples").glob("[0-9]*.yaml")):
            if _read_yaml(existing) != load_yaml(text):
                raise CaptureError(
                    f"{self.folder} already holds samples taken with other settings or another board; "
                    "use a new capture folder"
                )
        _write_atomic(existing, text.encode())
        self.count = len(list((self.folder / "samples").glob("[0-9]*.yaml")))

    def add(
        self,
        image: np.ndarray,
        K: np.ndarray,
        distortion: np.ndarray,
        image_stamp: float,
        T_base_gripper: np.ndarray,
        pose_stamp: float,
    ) -> str:
        """Write one sample; refuse it when the pose and the image are from different instants."""
        import cv2

        check_stamps(image_stamp, pose_stamp, self.settings.max_stamp_skew_s)
        name = f"{self.count:03d}"
        ok, png = cv2.imencode(".png", image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise CaptureError(f"could not encode image of shape {image.shape} as PNG")
        record = {
            "image": f"{name}.png",
            "image_stamp": float(image_stamp),
            "width": int(image.shape[1]),
            "height": int(image.shape[0]),
            "K": np.asarray(K, dtype=float).reshape(3, 3).tolist(),
            "distortion": [float(v) for v in np.asarray(distortion, dtype=float).ravel()],
            "T_base_gripper": pose_to_dict(np.asarray(T_base_gripper, dtype=float)),
            "pose_stamp": float(pose_stamp),
        }
        samples = self.folder / "samples"
        _write_atomic(samples / f"{name}.png", png.tobytes())
        _write_atomic(samples / f"{name}.yaml", yaml.safe_dump(record, sort_keys=False).encode())
        self.count += 1
        return name


_CHANNELS = {"mono8": 1, "rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4}


def image_from_fields(encoding: str, height: int, width: int, step: int, data: bytes) -> np.ndarray:
    """uint8 grey (H, W) or RGB (H, W, 3) from sensor_msgs/Image fields; honours row padding."""
    if encoding not in _CHANNELS:
        raise CaptureError(f"unsupported image encoding {encoding!r}; expected one of {sorted(_CHANNELS)}")
    channels = _CHANNELS[encoding]
    raw = np.frombuffer(bytes(data), dtype=np.uint8)
    if step < width * channels or raw.size < step * height:
        raise CaptureError(f"image of {width}x{height} {encoding} has step {step} and {raw.size} bytes")
    rows = raw[: step * height].reshape(height, step)[:, : width * channels]
    pixels = rows.reshape(height, width, channels)
    if channels == 1:
        return pixels[..., 0].copy()
    rgb = pixels[..., :3] if encoding.startswith("rgb") else pixels[..., 2::-1]
    return np.ascontiguousarray(rgb)


def check_stamps(image_stamp: float, pose_stamp: float, max_skew_s: float) -> None:
    skew = abs(float(image_stamp) - float(pose_stamp))
    if not skew <= max_skew_s:
        raise CaptureError(
            f"inconsistent timestamps: the gripper pose is stamped {skew:.3f} s from the image "
            f"(max {max_skew_s:.3f} s); hold the arm still and check the TF clock"
        )


def load_capture(folder: str | Path) -> tuple[CaptureSettings, BoardSpec, list[Sample]]:
    import cv2

    folder = Path(folder)
    meta_path = folder / CAPTURE_FILE
    if not meta_path.is_file():
        raise CaptureError(f"{folder} is not a capture folder (no {CAPTURE_FILE})")
    meta = _read_yaml(meta_path) or {}
    try:
        settings = CaptureSettings(**meta.get("settings", {}))
    except TypeError as error:
        raise CaptureError(f"{meta_path}: settings: {error}") from None
    board = board_from_dict(meta.get("board") or {}, source=str(meta_path))
    samples = []
    for path in sorted((folder / "samples").glob("[0-9]*.yaml")):
        record = _read_yaml(path)
        try:
            image = cv2.imread(str(path.parent / record["image"]), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise CaptureError(f"image {record['image']} is missing or unreadable")
            samples.append(
                Sample(
                    path.stem,
                    image,
                    np.asarray(record["K"], dtype=float),
                    np.asarray(record["distortion"], dtype=float),
                    float(record["image_stamp"]),
                    pose_from_dict(record["T_base_gripper"], "T_base_gripper"),
                    float(record["pose_stamp"]),
                )
            )
        except (KeyError, TypeError, CaptureError) as error:
            raise CaptureError(f"{path}: {error}") from None
    return settings, board, samples


def _add_reprojection_residuals(
    report: SolveReport, gripper: np.ndarray, targets: np.ndarray, cameras
) -> None:
    """Per method: RMS pixel error of every used view's corners at the board pose the solution
    predicts (C_i = X^-1 M_i Y), the residual a user can compare with the detector's own error."""
    M = motions(gripper, report.setup)[report.used]
    C = targets[report.used]
    for result in report.results.values():
        if result.X is None:
            continue
        Y, _ = _board_pose_and_residuals(result.X, M, C)
        predicted = np.linalg.inv(result.X) @ M @ Y
        errors = [
            reprojection_rms_px(T, K, dist, view)
            for T, (K, dist, view) in zip(predicted, [cameras[i] for i in report.used])
        ]
        result.residuals["reprojection_rms_px"] = float(np.sqrt(np.mean(np.square(errors))))


@dataclass(frozen=True)
class CaptureSolution:
    report: SolveReport
    views: dict[str, BoardView | str]  # sample name -> its board view, or why it was skipped
    extrinsics: Extrinsics
    accepted: list[str]  # names of the samples given to the solver (report indices refer to these)

    def removed_views(self) -> dict[str, str]:
        """Sample name -> why the solver dropped it as an outlier."""
        return {self.accepted[i]: reason for i, reason in self.report.removed.items()}


def solve_capture(
    folder: str | Path,
    *,
    calibration_id: str | None = None,
    board: BoardSpec | str | Path | None = None,
    method: str | None = None,
    min_views: int = MIN_VIEWS,
    max_reprojection_px: float = 1.0,
    max_residual_m: float = MAX_RESIDUAL_M,
    max_residual_deg: float = MAX_RESIDUAL_DEG,
) -> CaptureSolution:
    """Detect the board in every sample, drop the bad ones with a reason, solve, build the YAML."""
    check_min_views(min_views)
    settings, captured_board, samples = load_capture(folder)
    if isinstance(board, (str, Path)):
        board = load_board(board)
    board = board or captured_board
    views: dict[str, BoardView | str] = {}
    gripper, targets, accepted, cameras = [], [], [], []
    for sample in samples:
        try:
            check_stamps(sample.image_stamp, sample.pose_stamp, settings.max_stamp_skew_s)
        except CaptureError as error:
            views[sample.name] = str(error)
            continue
        view = detect_board(
            sample.image, sample.K, sample.distortion, board, max_reprojection_px=max_reprojection_px
        )
        views[sample.name] = view
        if view.accepted:
            gripper.append(sample.T_base_gripper)
            targets.append(view.T_camera_board)
            accepted.append(sample.name)
            cameras.append((sample.K, sample.distortion, view))
    if len(gripper) < min_views:
        reasons = "; ".join(f"{n}: {v if isinstance(v, str) else v.reason}" for n, v in views.items()
                            if isinstance(v, str) or not v.accepted)  # fmt: skip
        raise HandEyeError(
            f"too few views: {len(gripper)} of {len(samples)} usable, need at least {min_views}"
            + (f" (rejected: {reasons})" if reasons else "")
        )
    report = solve_hand_eye(
        gripper, targets, settings.setup, method=method, min_views=min_views,
        max_residual_m=max_residual_m, max_residual_deg=max_residual_deg,
    )  # fmt: skip
    _add_reprojection_residuals(report, np.asarray(gripper), np.asarray(targets), cameras)
    T_camera_optical = None
    if settings.camera_to_optical is not None:
        T_camera_optical = pose_from_dict(settings.camera_to_optical, "camera_to_optical")
    parent = settings.base_frame if settings.setup == "eye_to_hand" else settings.gripper_frame
    extrinsics = report_to_extrinsics(
        report,
        calibration_id=calibration_id or f"{Path(folder).resolve().name}",
        parent_frame=parent,
        camera_frame=settings.camera_frame,
        optical_frame=settings.optical_frame,
        T_camera_optical=T_camera_optical,
        camera_serial=settings.camera_serial,
    )
    return CaptureSolution(report, views, extrinsics, accepted)
