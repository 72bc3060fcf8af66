"""The calibration YAML: `T_base_camera` with its frame ids and the id that names the calibration.

Why a file of our own rather than only /tf_static: evaluation bags and checkpoints record *which*
calibration a trial used (`calibration_id`), the in-process runtime needs the pose without ROS,
and a launch file can still publish it with `static_transform_args`.

Schema (one YAML mapping; unknown keys are refused, so a typo cannot silently drop a field):

    schema_version: 1                       # optional on load, always written
    calibration_id: lab-d435-2024-05-01     # required, non-empty
    created: '2024-05-01T10:00:00+00:00'    # optional, ISO 8601
    method: handeye-tsai                    # optional, free text
    base_frame: base_link                   # required: the parent (robot base)
    camera_frame: camera_color_optical_frame  # required: REP 103 optical frame (x right, y down, z fwd)
    translation: [x, y, z]                  # required, metres, camera origin in the base frame
    rotation_xyzw: [qx, qy, qz, qw]         # required, unit quaternion (ROS order), base <- camera
    residuals: {translation_rms_m: ..., rotation_rms_deg: ...}  # optional, finite numbers
    camera_serial: '123456789'              # optional, the camera that was calibrated
    optical_frame: camera_color_optical_frame  # optional, with camera_to_optical (below)
    camera_to_optical: {translation: [x, y, z], rotation_xyzw: [...]}  # optional: camera_frame <- optical

A hand-eye calibration (`calibration.solve`) writes camera_frame = the camera's *link* frame (the
parent of the driver's optical frames, REP 103 body axes) plus the link -> optical transform, so
`real.launch.py` can publish base -> camera_link while the camera driver keeps publishing
camera_link -> optical frames, and no frame gets two parents. Consumers that need the optical
frame's pose (point-cloud preprocessing) use `Extrinsics.T_base_optical` or `as_optical()`;
a file whose camera_frame already is the optical frame has T_base_optical == T_base_camera.

Quaternions: a norm within 1e-3 of one is normalised (YAML written by hand or with few digits);
anything further off is an error, because it means the numbers are not a rotation at all.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from mtdagger.files import atomic_write_text, load_yaml

SCHEMA_VERSION = 1
QUATERNION_NORM_TOLERANCE = 1e-3
_ROTATION_TOLERANCE = 1e-6

# A camera more than this far from the robot base is not on the same workcell: far more likely a
# translation written in millimetres (1200 for 1.2 m). Refused when a calibration file is read.
MAX_PLAUSIBLE_TRANSLATION_M = 5.0

_REQUIRED_KEYS = ("calibration_id", "base_frame", "camera_frame", "translation", "rotation_xyzw")
_OPTIONAL_KEYS = (
    "schema_version", "created", "method", "residuals", "camera_serial", "optical_frame", "camera_to_optical",
)  # fmt: skip


class ExtrinsicsError(ValueError):
    """A calibration file or transform that cannot be trusted; the message names the field."""


def quaternion_xyzw_to_matrix(q: Sequence[float]) -> np.ndarray:
    """3x3 rotation matrix of a unit quaternion in ROS order (x, y, z, w), which is scipy's order."""
    return Rotation.from_quat(np.asarray(q, dtype=np.float64)).as_matrix()


def matrix_to_quaternion_xyzw(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w) of a rotation matrix, with w >= 0 so that one rotation has one
    written form (scipy's canonical form; its matrix-to-quaternion method is accurate near 180 degrees)."""
    return Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_quat(canonical=True)


def _check_transform(T: np.ndarray) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise ExtrinsicsError(f"T_base_camera must be 4x4, got shape {T.shape}")
    if not np.all(np.isfinite(T)):
        raise ExtrinsicsError("T_base_camera contains non-finite numbers")
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0]):
        raise ExtrinsicsError(f"T_base_camera bottom row must be [0, 0, 0, 1], got {T[3].tolist()}")
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=_ROTATION_TOLERANCE) or np.linalg.det(R) < 0:
        raise ExtrinsicsError("T_base_camera rotation is not a proper rotation matrix")
    return T


@dataclass(frozen=True)
class Extrinsics:
    """Pose of the camera (its `camera_frame`) in the robot base frame, and where it came from.

    `T_camera_optical` (camera_frame <- optical_frame) is set when camera_frame is a link frame;
    None means camera_frame is itself the optical frame."""

    T_base_camera: np.ndarray  # 4x4, maps camera-optical-frame points into the base frame
    base_frame: str
    camera_frame: str
    calibration_id: str
    created: str = ""
    method: str = ""
    residuals: Mapping[str, float] = field(default_factory=dict)
    camera_serial: str = ""
    optical_frame: str = ""
    T_camera_optical: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "T_base_camera", _check_transform(self.T_base_camera))
        if (self.T_camera_optical is None) != (not self.optical_frame):
            raise ExtrinsicsError("optical_frame and camera_to_optical must be given together")
        if self.T_camera_optical is not None:
            object.__setattr__(self, "T_camera_optical", _check_transform(self.T_camera_optical))
            if self.optical_frame in (self.base_frame, self.camera_frame):
                raise ExtrinsicsError(f"optical_frame {self.optical_frame!r} repeats another frame")
        for name in ("base_frame", "camera_frame", "calibration_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ExtrinsicsError(f"{name} must be a non-empty string, got {value!r}")
        if self.base_frame == self.camera_frame:
            raise ExtrinsicsError(f"base_frame and camera_frame are both {self.base_frame!r}")
        residuals = {str(k): _finite_number(v, f"residuals.{k}") for k, v in dict(self.residuals).items()}
        object.__setattr__(self, "residuals", residuals)

    @classmethod
    def from_translation_quaternion(
        cls,
        translation: Sequence[float],
        rotation_xyzw: Sequence[float],
        *,
        base_frame: str,
        camera_frame: str,
        calibration_id: str,
        created: str = "",
        method: str = "",
        residuals: Mapping[str, float] | None = None,
    ) -> Extrinsics:
        t = _finite_vector(translation, 3, "translation")
        q = _unit_quaternion(rotation_xyzw)
        T = np.eye(4)
        T[:3, :3] = quaternion_xyzw_to_matrix(q)
        T[:3, 3] = t
        return cls(T, base_frame, camera_frame, calibration_id, created, method, dict(residuals or {}))

    @property
    def T_base_optical(self) -> np.ndarray:
        """Pose of the optical frame (x right, y down, z forward) in the base frame: the point
        cloud's camera pose."""
        if self.T_camera_optical is None:
            return self.T_base_camera.copy()
        return self.T_base_camera @ self.T_camera_optical

    def as_optical(self) -> Extrinsics:
        """The same calibration with the optical frame as its child (what a graph without the
        driver's camera_link -> optical transforms must publish); unchanged if it already is."""
        if self.T_camera_optical is None:
            return self
        return Extrinsics(
            self.T_base_optical, self.base_frame, self.optical_frame, self.calibration_id,
            self.created, self.method, dict(self.residuals), self.camera_serial,
        )  # fmt: skip

    @property
    def translation(self) -> np.ndarray:
        return self.T_base_camera[:3, 3].copy()

    @property
    def rotation_xyzw(self) -> np.ndarray:
        return matrix_to_quaternion_xyzw(self.T_base_camera[:3, :3])

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "calibration_id": self.calibration_id,
            "created": self.created,
            "method": self.method,
            "base_frame": self.base_frame,
            "camera_frame": self.camera_frame,
            "translation": [float(v) for v in self.translation],
            "rotation_xyzw": [float(v) for v in self.rotation_xyzw],
        }
        if self.residuals:
            data["residuals"] = {k: float(v) for k, v in self.residuals.items()}
        if self.camera_serial:
            data["camera_serial"] = self.camera_serial
        if self.T_camera_optical is not None:
            data["optical_frame"] = self.optical_frame
            data["camera_to_optical"] = {
                "translation": [float(v) for v in self.T_camera_optical[:3, 3]],
                "rotation_xyzw": [float(v) for v in matrix_to_quaternion_xyzw(self.T_camera_optical[:3, :3])],
            }
        return data

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "extrinsics") -> Extrinsics:
        if not isinstance(data, Mapping):
            raise ExtrinsicsError(f"{source}: expected a YAML mapping, got {type(data).__name__}")
        missing = [k for k in _REQUIRED_KEYS if k not in data]
        if missing:
            raise ExtrinsicsError(f"{source}: missing required key(s): {', '.join(missing)}")
        unknown = sorted(str(k) for k in data if k not in _REQUIRED_KEYS + _OPTIONAL_KEYS)
        if unknown:
            raise ExtrinsicsError(
                f"{source}: unknown key(s): {', '.join(unknown)} "
                f"(allowed: {', '.join(_REQUIRED_KEYS + _OPTIONAL_KEYS)})"
            )
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ExtrinsicsError(f"{source}: schema_version {version!r} is not supported ({SCHEMA_VERSION})")
        residuals = data.get("residuals") or {}
        if not isinstance(residuals, Mapping):
            raise ExtrinsicsError(f"{source}: residuals must be a mapping of name -> number")
        try:
            _check_plausible_translation(data["translation"])
            base = cls.from_translation_quaternion(
                data["translation"],
                data["rotation_xyzw"],
                base_frame=data["base_frame"],
                camera_frame=data["camera_frame"],
                calibration_id=_as_text(data["calibration_id"]),
                created=_as_text(data.get("created") or ""),
                method=_as_text(data.get("method") or ""),
                residuals=residuals,
            )
            T_camera_optical = _optical_transform(data.get("camera_to_optical"))
            return cls(
                base.T_base_camera, base.base_frame, base.camera_frame, base.calibration_id, base.created,
                base.method, base.residuals, _as_text(data.get("camera_serial") or ""),
                str(data.get("optical_frame") or ""), T_camera_optical,
            )  # fmt: skip
        except ExtrinsicsError as error:
            raise ExtrinsicsError(f"{source}: {error}") from None


def _optical_transform(optical: Any) -> np.ndarray | None:
    if optical is None:
        return None
    if not isinstance(optical, Mapping) or set(optical) != {"translation", "rotation_xyzw"}:
        raise ExtrinsicsError("camera_to_optical must be a mapping with translation and rotation_xyzw")
    T = np.eye(4)
    T[:3, :3] = quaternion_xyzw_to_matrix(_unit_quaternion(optical["rotation_xyzw"]))
    T[:3, 3] = _finite_vector(optical["translation"], 3, "camera_to_optical.translation")
    return T


def _check_plausible_translation(values: Any) -> None:
    t = _finite_vector(values, 3, "translation")
    norm = float(np.linalg.norm(t))
    if norm > MAX_PLAUSIBLE_TRANSLATION_M:
        raise ExtrinsicsError(
            f"translation {t.tolist()} is {norm:g} m from the base (> {MAX_PLAUSIBLE_TRANSLATION_M:g} m): "
            "the metres field looks like millimetres"
        )


def _as_text(value: Any) -> Any:
    """YAML turns unquoted timestamps/numbers into datetimes/ints; ids and dates are text to us."""
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _finite_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ExtrinsicsError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ExtrinsicsError(f"{name} must be finite, got {value!r}")
    return float(value)


def _finite_vector(values: Any, length: int, name: str) -> np.ndarray:
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise ExtrinsicsError(f"{name} must be a list of {length} numbers, got {values!r}")
    if len(values) != length:
        raise ExtrinsicsError(f"{name} must have {length} numbers, got {len(values)}")
    return np.array([_finite_number(v, f"{name}[{i}]") for i, v in enumerate(values)])


def _unit_quaternion(values: Any) -> np.ndarray:
    q = _finite_vector(values, 4, "rotation_xyzw")
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise ExtrinsicsError(
            f"rotation_xyzw must be a unit quaternion (x, y, z, w); its norm is {norm:.6g}, "
            f"more than {QUATERNION_NORM_TOLERANCE} from 1"
        )
    return q / norm


def load_extrinsics(path: str | os.PathLike[str]) -> Extrinsics:
    """Read and validate a calibration YAML; errors name the file and the offending key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"calibration file not found: {path}")
    with path.open("r", encoding="utf-8") as stream:
        try:
            data = load_yaml(stream, str(path))
        except yaml.YAMLError as error:
            raise ExtrinsicsError(str(error)) from None
    return Extrinsics.from_dict(data, source=str(path))


def save_extrinsics(path: str | os.PathLike[str], extrinsics: Extrinsics) -> Path:
    """Write atomically (temp file + rename), so a crash never leaves half a calibration behind."""
    text = yaml.safe_dump(extrinsics.to_dict(), sort_keys=False, default_flow_style=None)
    return atomic_write_text(path, text)


def static_transform_args(extrinsics: Extrinsics) -> list[str]:
    """Arguments for `ros2 run tf2_ros static_transform_publisher` (new flag style, §7).

    Publishes base_frame -> camera_frame. Only do this when nothing else gives camera_frame a
    parent: the realsense-ros driver publishes camera_link -> ..._optical_frame itself unless
    launched with `publish_tf:=false`, and a frame with two parents breaks TF lookups
    (moveit/moveit_calibration#115).
    """
    x, y, z = (repr(float(v)) for v in extrinsics.translation)
    qx, qy, qz, qw = (repr(float(v)) for v in extrinsics.rotation_xyzw)
    return [
        "--x", x, "--y", y, "--z", z,
        "--qx", qx, "--qy", qy, "--qz", qz, "--qw", qw,
        "--frame-id", extrinsics.base_frame,
        "--child-frame-id", extrinsics.camera_frame,
    ]  # fmt: skip
