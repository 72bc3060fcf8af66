"""RealSense-like depth noise and per-episode camera randomisation for the simulated camera.

Both are OFF by default: a rendered MuJoCo depth image is exact, and tests of geometry need it
exact. `deploy --noise realsense` / `--randomize` switch them on through the presets below.

Noise model (applied in this order, all vectorised over the image):
1. axial Gaussian noise whose standard deviation grows with the square of the depth,
   sigma(z) = sigma_at_1m_m * z**2. That is the stereo-matching error law: depth RMS error =
   z**2 * subpixel / (focal_px * baseline) (Intel, "Tuning depth cameras for best performance",
   RealSense white paper). With a D435's 50 mm baseline, ~0.08 px subpixel accuracy and a ~425 px
   focal length at 848x480, sigma(1 m) is about 3.8 mm, so the preset uses 4 mm. This is an
   assumption from the datasheet formula, not a measurement of a particular unit;
2. edge dropout: pixels next to a depth discontinuity (a 4-neighbour differs by more than
   `edge_threshold_m`) are invalidated with probability `edge_dropout_prob`. Stereo matching fails
   on occlusion boundaries, which is where real RealSense images lose pixels first;
3. random pixel dropout with probability `dropout_prob` (specular / low-texture holes);
4. quantisation to `quantization_m` (RealSense Z16 at the default depth unit is 1 mm).
An invalid pixel becomes 0.0, RealSense's "no measurement" value, which the point-cloud function
drops. Already-invalid pixels (0, NaN, inf) stay invalid and never gain noise.

Randomisation perturbs the camera pose (translation and a rotation about a random axis) and the
focal length once per reset, to model mounting and calibration differences between setups.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from mtdagger.perception.camera_model import CameraModel


@dataclass(frozen=True)
class DepthNoiseConfig:
    """Depth noise parameters; the defaults (all zero) leave the depth image untouched."""

    sigma_at_1m_m: float = 0.0  # Gaussian sigma at 1 m depth; grows with z**2
    quantization_m: float = 0.0  # depth step (0: no quantisation)
    dropout_prob: float = 0.0  # probability that any valid pixel is lost
    edge_dropout_prob: float = 0.0  # probability that a pixel on a depth discontinuity is lost
    edge_threshold_m: float = 0.02  # neighbour depth difference that counts as a discontinuity
    # Share of episodes rendered with this noise; the others get clean depth (drawn per reset).
    # Below 1, a student trained on noisy clouds cannot come to depend on their artefacts, which
    # a filtered or better sensor would not have (`mtdagger eval --robustness`, clean column).
    episode_share: float = 1.0

    def __post_init__(self) -> None:
        for name in ("sigma_at_1m_m", "quantization_m", "edge_threshold_m"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"DepthNoiseConfig.{name} must be a finite number >= 0, got {value}")
        for name in ("dropout_prob", "edge_dropout_prob", "episode_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"DepthNoiseConfig.{name} must be a probability in [0, 1], got {value}")

    @classmethod
    def realsense(cls) -> DepthNoiseConfig:
        """D435-like preset: 4 mm at 1 m (z**2 law), 1 mm steps, 0.5% holes, half of the edge pixels lost."""
        return cls(
            sigma_at_1m_m=0.004,
            quantization_m=0.001,
            dropout_prob=0.005,
            edge_dropout_prob=0.5,
            edge_threshold_m=0.02,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.sigma_at_1m_m or self.quantization_m or self.dropout_prob or self.edge_dropout_prob)

    def for_episode(self, rng: np.random.Generator) -> DepthNoiseConfig:
        """This episode's noise: self, or no noise for the clean share (one draw per reset, and
        none at all when every episode is noisy, so existing seeds keep their noise streams)."""
        if not self.enabled or self.episode_share >= 1.0:
            return self
        return self if rng.random() < self.episode_share else DepthNoiseConfig()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_value(cls, value: Any) -> DepthNoiseConfig:
        """YAML value -> config: None/'none' (off), 'realsense' (preset) or a mapping of fields."""
        return _config_from_value(cls, value, "realsense", "depth noise", convert=float)


@dataclass(frozen=True)
class CameraRandomizationConfig:
    """Per-reset camera perturbation bounds; the defaults (all zero) keep the nominal camera."""

    translation_m: float = 0.0  # each axis uniform in [-translation_m, translation_m] (base frame)
    rotation_deg: float = 0.0  # rotation about a uniformly random axis, angle uniform in [0, rotation_deg]
    focal_scale: float = 0.0  # fx and fy scaled together by a factor uniform in [1 - s, 1 + s]
    # False: the depth frame carries the perturbed (true) camera, so clouds stay right in the base
    # frame and only the viewpoint changes. True: it carries the nominal camera, so clouds carry the
    # perturbation as a calibration error, as on a robot whose calibration is slightly off.
    report_nominal_camera: bool = False

    def __post_init__(self) -> None:
        if not (np.isfinite(self.translation_m) and self.translation_m >= 0):
            raise ValueError(f"translation_m must be >= 0, got {self.translation_m}")
        if not 0 <= self.rotation_deg <= 180:
            raise ValueError(f"rotation_deg must lie in [0, 180], got {self.rotation_deg}")
        if not 0 <= self.focal_scale < 1:
            raise ValueError(f"focal_scale must lie in [0, 1), got {self.focal_scale}")

    @classmethod
    def default(cls) -> CameraRandomizationConfig:
        """`--randomize` preset: 2 cm, 2 degrees, 2% focal length."""
        return cls(translation_m=0.02, rotation_deg=2.0, focal_scale=0.02)

    @property
    def enabled(self) -> bool:
        return bool(self.translation_m or self.rotation_deg or self.focal_scale)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_value(cls, value: Any) -> CameraRandomizationConfig:
        """YAML value -> config: None/'none' (off), 'default' (preset) or a mapping of fields."""
        return _config_from_value(cls, value, "default", "camera randomisation")


def _config_from_value(cls: type, value: Any, preset: str, what: str, convert=lambda v: v) -> Any:
    """None/'none' -> cls(); `preset` -> getattr(cls, preset)(); a mapping -> cls(**fields), strictly;
    a mapping with `preset: <preset>` starts from the preset and overrides the fields it gives."""
    if value is None or value == "none":
        return cls()
    if value == preset:
        return getattr(cls, preset)()
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        fields = dict(value)
        base = fields.pop("preset", None)
        if base not in (None, preset):
            raise ValueError(f"{what} preset must be {preset!r}, got {base!r}")
        unknown = set(fields) - set(cls.__dataclass_fields__)
        if unknown:
            known = sorted(cls.__dataclass_fields__)
            raise ValueError(f"unknown {what} fields {sorted(unknown)}; known: {known} (and 'preset')")
        converted = {k: convert(v) for k, v in fields.items()}
        return replace(getattr(cls, preset)(), **converted) if base else cls(**converted)
    raise ValueError(f"{what} must be 'none', {preset!r} or a mapping of fields, got {value!r}")


def apply_depth_noise(depth_m: np.ndarray, config: DepthNoiseConfig, rng: np.random.Generator) -> np.ndarray:
    """Return a noisy copy of a planar metric depth image (invalid pixels = 0.0); see module doc."""
    depth = np.asarray(depth_m, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D image, got shape {depth.shape}")
    if not config.enabled:
        return depth.copy()
    valid = np.isfinite(depth) & (depth > 0)
    noisy = np.where(valid, depth, np.float32(0.0)).astype(np.float64)

    if config.sigma_at_1m_m > 0:
        noisy += rng.standard_normal(noisy.shape) * (config.sigma_at_1m_m * noisy**2)
    lost = np.zeros_like(valid)
    if config.edge_dropout_prob > 0:
        edges = depth_discontinuities(np.where(valid, depth, np.float32(np.inf)), config.edge_threshold_m)
        lost |= edges & (rng.random(noisy.shape) < config.edge_dropout_prob)
    if config.dropout_prob > 0:
        lost |= rng.random(noisy.shape) < config.dropout_prob
    if config.quantization_m > 0:
        noisy = np.round(noisy / config.quantization_m) * config.quantization_m
    keep = valid & ~lost & (noisy > 0)
    return np.where(keep, noisy, 0.0).astype(np.float32)


def depth_discontinuities(depth_m: np.ndarray, threshold_m: float) -> np.ndarray:
    """Pixels whose depth differs from a 4-neighbour by more than `threshold_m` (both sides marked).

    Invalid pixels should be passed as +inf so that the border of a hole counts as an edge.
    """
    depth = np.asarray(depth_m, dtype=np.float64)
    edges = np.zeros(depth.shape, dtype=bool)
    with np.errstate(invalid="ignore"):  # inf - inf at the inside of a hole is NaN: not an edge
        vertical = np.abs(np.diff(depth, axis=0)) > threshold_m
        horizontal = np.abs(np.diff(depth, axis=1)) > threshold_m
    edges[:-1] |= vertical
    edges[1:] |= vertical
    edges[:, :-1] |= horizontal
    edges[:, 1:] |= horizontal
    return edges


def randomize_camera(
    nominal: CameraModel, config: CameraRandomizationConfig, rng: np.random.Generator
) -> CameraModel:
    """A perturbed copy of `nominal` within the configured bounds (the nominal camera if disabled).

    The rotation is applied about the camera's own optical centre, so translation and rotation
    bounds are independent: the optical centre moves by at most translation_m per axis.
    """
    if not config.enabled:
        return nominal
    transform = np.array(nominal.T_base_camera, dtype=np.float64)
    transform[:3, 3] += rng.uniform(-config.translation_m, config.translation_m, size=3)
    if config.rotation_deg > 0:
        axis = rng.standard_normal(3)
        axis /= np.linalg.norm(axis)
        angle = np.deg2rad(rng.uniform(0.0, config.rotation_deg))
        transform[:3, :3] = transform[:3, :3] @ axis_angle_matrix(axis, angle)
    scale = rng.uniform(1.0 - config.focal_scale, 1.0 + config.focal_scale) if config.focal_scale else 1.0
    return replace(nominal, fx=nominal.fx * scale, fy=nominal.fy * scale, T_base_camera=transform)


def axis_angle_matrix(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rotation matrix of `angle_rad` about the unit vector `axis` (Rodrigues, via scipy)."""
    return Rotation.from_rotvec(np.asarray(axis, dtype=np.float64) * angle_rad).as_matrix()


def rotation_angle_deg(rotation: np.ndarray) -> float:
    """Angle of a rotation matrix in degrees, in [0, 180] (used to check randomisation bounds)."""
    return float(np.rad2deg(Rotation.from_matrix(np.asarray(rotation, dtype=np.float64)).magnitude()))
