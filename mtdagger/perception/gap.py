"""Sim-to-real gap statistics: what a cell's depth camera gives the contract vs what training saw.

For each depth frame (from an evaluation bag, or rendered by the simulator with the training
preset's camera) `frame_stats` measures:

- how many points survive each stage of the point-cloud contract (valid depth, in the workspace
  box, after the voxel grid, and how many the "repeat" rule would pad);
- where the voxel survivors lie: their share per cell of a coarse x-y grid over the workspace box;
- the table plane, fitted with RANSAC (Open3D's `segment_plane`) + least squares to the points
  near the box's floor: its height at the box centre and its tilt in the base frame (the
  calibration puts the table where training had it; a wrong camera pose moves and tilts it), and
  the residual std of its inliers (depth noise on a planar region);
- how many cloud points lie on that plane: the table the crop was meant to leave out, let in by
  a calibration error plus depth noise.

`compare` averages both sides and flags every statistic whose difference exceeds its tolerance
(`GapTolerances`). Nothing here knows about bags, ROS or simulators: frames come in as
(depth, CameraModel) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mtdagger.perception.camera_model import CameraModel
from mtdagger.perception.contract import PointCloudContract
from mtdagger.perception.pointcloud import EmptyPointCloudError, StageCounts, workspace_points

DENSITY_GRID = (4, 4)  # x, y cells over the workspace box
# The table is searched for within this distance (m) of the workspace box's floor: presets put
# the crop's z floor at or just above the table top.
TABLE_BAND_M = 0.15
PLANE_INLIER_M = 0.01
MAX_PLANE_POINTS = 20_000
# RANSAC only accepts planes within this angle of horizontal, so a cabinet front or the robot's
# body cannot be taken for the table.
MAX_TABLE_TILT_DEG = 30.0
# A plane (and the table band) needs this many points to count; steeper planes found first are set
# aside at most this many times before the search gives up (no table in view).
MIN_PLANE_POINTS = 100
MAX_PLANE_SEARCHES = 4
# A cloud point this close to the fitted table plane is the table (or an object's foot). The crop is
# meant to leave the table out; a calibration error plus depth noise can let it in, up to a third
# of the cloud (docs/results/student.md, "the table leaks into the cloud"). A frame whose cloud
# holds this many such points counts as holding the table.
TABLE_LEAK_BAND_M = 0.008
TABLE_LEAK_MIN_POINTS = 10


@dataclass(frozen=True)
class GapTolerances:
    """How far a cell may differ from training before a statistic is flagged, and why that far."""

    # Fraction of pixels with valid depth (real sensors lose a few % to holes and edges).
    valid_fraction: float = 0.10
    # Fraction of valid points inside the workspace box (camera placement / crop).
    in_box_fraction: float = 0.10
    # Relative difference of the points left after the voxel grid (what FPS chooses from).
    voxel_points_ratio: float = 0.30
    # Total-variation distance between the region shares (0 = same, 1 = disjoint).
    density_tv: float = 0.15
    # One region's share of the points, absolute.
    density_cell: float = 0.06
    # Plane residual std may exceed training's by this much (m) ...
    noise_std_m: float = 0.001
    # ... or by this fraction of training's, whichever is larger.
    noise_ratio: float = 0.5
    # Table height (m) and tilt (deg) against where training saw it: the calibration check.
    plane_height_m: float = 0.005
    plane_tilt_deg: float = 1.0
    # Share of frames whose cloud holds the table, above training's share.
    table_frames: float = 0.05


@dataclass(frozen=True)
class PlaneFit:
    normal: np.ndarray  # unit, pointing up (+z)
    height_m: float  # plane z at the workspace box's x-y centre, base frame
    tilt_deg: float  # angle between the normal and +z
    residual_std_m: float  # std of the inliers' distances to the least-squares plane
    camera_distance_m: float  # median distance of the inliers from the camera
    inliers: int


@dataclass(frozen=True)
class FrameStats:
    counts: StageCounts | None  # None: nothing survived (see `empty_reason`)
    padded: int
    density: np.ndarray  # DENSITY_GRID shares of the voxel survivors (sum 1), zeros if none
    plane: PlaneFit | None
    empty_reason: str = ""
    table_points: int = 0  # voxel survivors within TABLE_LEAK_BAND_M of the table plane


@dataclass(frozen=True)
class GapRow:
    statistic: str
    bag: float
    training: float
    tolerance: str
    flagged: bool
    note: str = ""


def frame_stats(
    depth_m: np.ndarray, camera: CameraModel, contract: PointCloudContract, seed: int = 0
) -> FrameStats:
    """The gap statistics of one depth frame under `contract` (see the module doc)."""
    try:
        survivors, counts = workspace_points(depth_m, camera, contract)
    except EmptyPointCloudError as error:
        survivors, counts, reason = np.zeros((0, 3), np.float32), None, str(error)
    else:
        reason = ""
    density = region_shares(survivors, contract)
    padded = 0 if counts is None else counts.padding_for(contract.num_points)
    plane = fit_table_plane(
        valid_points(depth_m, camera, contract),
        contract,
        camera.T_base_camera[:3, 3],
        np.random.default_rng(seed),
    )
    table = 0 if plane is None else points_on_plane(survivors, plane, contract)
    return FrameStats(counts, padded, density, plane, reason, table)


def points_on_plane(points: np.ndarray, plane: PlaneFit, contract: PointCloudContract) -> int:
    """How many of `points` lie within TABLE_LEAK_BAND_M of `plane` (the table in the cloud)."""
    centre = (np.asarray(contract.workspace_min[:2]) + np.asarray(contract.workspace_max[:2])) / 2
    on_plane = np.array([centre[0], centre[1], plane.height_m])
    return int((np.abs((points - on_plane) @ plane.normal) <= TABLE_LEAK_BAND_M).sum())


def valid_points(depth_m: np.ndarray, camera: CameraModel, contract: PointCloudContract) -> np.ndarray:
    """Every pixel with valid depth, back-projected into the base frame (no crop, no voxel grid)."""
    everywhere = replace(contract, workspace_min=(-1e3,) * 3, workspace_max=(1e3,) * 3, voxel_size_m=0.0)
    try:
        return workspace_points(depth_m, camera, everywhere)[0]
    except EmptyPointCloudError:
        return np.zeros((0, 3), np.float32)


def region_shares(points: np.ndarray, contract: PointCloudContract) -> np.ndarray:
    """Share of `points` per cell of the DENSITY_GRID over the workspace box's x-y extent."""
    low, high = np.asarray(contract.workspace_min[:2]), np.asarray(contract.workspace_max[:2])
    counts, _, _ = np.histogram2d(
        points[:, 0], points[:, 1], bins=DENSITY_GRID, range=[(low[0], high[0]), (low[1], high[1])]
    )
    total = counts.sum()
    return counts / total if total else counts


def fit_table_plane(
    points: np.ndarray,
    contract: PointCloudContract,
    camera_position: np.ndarray,
    rng: np.random.Generator,
    iterations: int = 300,
) -> PlaneFit | None:
    """RANSAC for the largest near-horizontal plane near the box floor, refined by least squares.

    None when fewer than MIN_PLANE_POINTS points support any such plane (no table in view).
    """
    floor = contract.workspace_min[2]
    low, high = np.asarray(contract.workspace_min[:2]), np.asarray(contract.workspace_max[:2])
    near = points[
        (np.abs(points[:, 2] - floor) <= TABLE_BAND_M)
        & np.all(points[:, :2] >= low, axis=1)
        & np.all(points[:, :2] <= high, axis=1)
    ]
    if len(near) < MIN_PLANE_POINTS:
        return None
    if len(near) > MAX_PLANE_POINTS:
        near = near[rng.choice(len(near), MAX_PLANE_POINTS, replace=False)]
    found = horizontal_ransac_plane(near, rng, iterations)
    if found is None:
        return None
    normal, anchor = found
    inliers = near[np.abs((near - anchor) @ normal) <= PLANE_INLIER_M]
    return _least_squares_plane(inliers, (low + high) / 2, camera_position)


def horizontal_ransac_plane(
    points: np.ndarray, rng: np.random.Generator, iterations: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(unit normal, a point on it) of the largest plane within MAX_TABLE_TILT_DEG of horizontal.

    Open3D's RANSAC (`segment_plane`, PLANE_INLIER_M, 3-point samples) finds the largest plane; a
    steeper one (a cabinet front, the robot's body) is set aside with its inliers and the search
    repeats on the rest, at most MAX_PLANE_SEARCHES times. Seeded from `rng`, so a given rng state
    gives a given plane (for a given OpenMP thread count: Open3D's threads draw their own samples).
    """
    import open3d as o3d  # imported here: only the gap check needs it

    min_up = np.cos(np.radians(MAX_TABLE_TILT_DEG))
    remaining = np.asarray(points, dtype=np.float64)
    for _ in range(MAX_PLANE_SEARCHES):
        if len(remaining) < MIN_PLANE_POINTS:
            return None
        o3d.utility.random.seed(int(rng.integers(2**31)))
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(remaining))
        model, inliers = cloud.segment_plane(PLANE_INLIER_M, 3, iterations)
        if len(inliers) < MIN_PLANE_POINTS:
            return None
        length = np.linalg.norm(model[:3])
        normal, offset = np.asarray(model[:3]) / length, model[3] / length  # n·x + offset = 0
        if abs(normal[2]) >= min_up:
            return normal, -offset * normal
        remaining = np.delete(remaining, inliers, axis=0)
    return None


def _least_squares_plane(inliers: np.ndarray, centre: np.ndarray, camera_position: np.ndarray) -> PlaneFit:
    """The total-least-squares plane through `inliers` (normal up), its height at the x-y `centre`."""
    centroid = inliers.mean(axis=0)
    normal = np.linalg.svd(inliers - centroid, full_matrices=False)[2][2]
    normal = normal if normal[2] > 0 else -normal
    residuals = (inliers - centroid) @ normal
    slope = normal[0] * (centre[0] - centroid[0]) + normal[1] * (centre[1] - centroid[1])
    height = centroid[2] - slope / normal[2]
    return PlaneFit(
        normal=normal,
        height_m=float(height),
        tilt_deg=float(np.degrees(np.arccos(np.clip(normal[2], -1.0, 1.0)))),
        residual_std_m=float(residuals.std()),
        camera_distance_m=float(np.median(np.linalg.norm(inliers - camera_position, axis=1))),
        inliers=len(inliers),
    )


def compare(
    bag: list[FrameStats],
    training: list[FrameStats],
    tol: GapTolerances,
    noise_sigma_at_1m_m: float = 0.0,
) -> list[GapRow]:
    """One row per statistic: the bag's mean, training's mean, the tolerance, and the verdict.

    `noise_sigma_at_1m_m`: the training camera's depth-noise model (σ along the ray, growing with
    z²); its prediction at the table's distance is noted beside the measured residuals.
    """
    if not bag or not training:
        raise ValueError("compare needs at least one frame on each side")
    return [
        *_count_rows(bag, training, tol),
        *_density_rows(bag, training, tol),
        *_plane_rows(bag, training, tol, noise_sigma_at_1m_m),
        _table_leak_row(bag, training, tol),
    ]


def _table_leak_row(bag: list[FrameStats], training: list[FrameStats], tol: GapTolerances) -> GapRow:
    """The share of frames whose cloud holds the table: the crop's floor too close to the table
    for this calibration and this sensor's noise."""

    def share(frames: list[FrameStats]) -> float:
        return float(np.mean([f.table_points >= TABLE_LEAK_MIN_POINTS for f in frames]))

    b, t = share(bag), share(training)
    note = (
        f"≥{TABLE_LEAK_MIN_POINTS} cloud points within {TABLE_LEAK_BAND_M * 1e3:g} mm of the table "
        "plane; check the calibration, or raise the contract's workspace_min z"
    )
    return GapRow(
        "frames whose cloud holds the table", b, t, f"+{tol.table_frames:g}", b - t > tol.table_frames, note
    )


def _counts_mean(frames: list[FrameStats], fn) -> float:
    """Mean of `fn(counts)` over the frames whose cloud was not empty (0.0 if none was)."""
    values = [fn(f.counts) for f in frames if f.counts is not None]
    return float(np.mean(values)) if values else 0.0


def _count_rows(bag: list[FrameStats], training: list[FrameStats], tol: GapTolerances) -> list[GapRow]:
    """The contract's stage counts: valid depth, in the box, after the voxel grid, padding, empty
    clouds. These say whether the sensor and the crop give the policy as many points as training."""
    rows: list[GapRow] = []

    def fraction_row(name: str, fn, limit: float) -> None:
        b, t = _counts_mean(bag, fn), _counts_mean(training, fn)
        rows.append(GapRow(name, b, t, f"±{limit:g}", abs(b - t) > limit))

    fraction_row("valid depth / pixels", lambda c: c.valid_depth / c.pixels, tol.valid_fraction)
    fraction_row(
        "in box / valid depth", lambda c: c.in_workspace / max(c.valid_depth, 1), tol.in_box_fraction
    )
    b, t = _counts_mean(bag, lambda c: c.after_voxel), _counts_mean(training, lambda c: c.after_voxel)
    rows.append(
        GapRow(
            "points after voxel grid (before padding)",
            b,
            t,
            f"±{tol.voxel_points_ratio:.0%}",
            abs(b - t) > tol.voxel_points_ratio * max(t, 1.0),
        )
    )
    b = float(np.mean([f.padded for f in bag]))
    t = float(np.mean([f.padded for f in training]))
    rows.append(GapRow("padded points", b, t, "0 when training had none", b > 0 and t == 0))
    empty = sum(f.counts is None for f in bag)
    rows.append(
        GapRow(
            "frames with an empty cloud",
            empty,
            sum(f.counts is None for f in training),
            "0",
            empty > 0,
            next((f.empty_reason for f in bag if f.empty_reason), ""),
        )
    )
    return rows


def _density_rows(bag: list[FrameStats], training: list[FrameStats], tol: GapTolerances) -> list[GapRow]:
    """Where the points lie: the total variation between the region shares, and the worst cell."""
    bag_density, training_density = mean_density(bag), mean_density(training)
    tv = 0.5 * float(np.abs(bag_density - training_density).sum())
    worst = np.unravel_index(np.argmax(np.abs(bag_density - training_density)), bag_density.shape)
    return [
        GapRow("region shares: total variation", tv, 0.0, f"≤{tol.density_tv:g}", tv > tol.density_tv),
        GapRow(
            f"region share, worst cell {tuple(int(i) for i in worst)}",
            float(bag_density[worst]),
            float(training_density[worst]),
            f"±{tol.density_cell:g}",
            abs(bag_density[worst] - training_density[worst]) > tol.density_cell,
        ),
    ]


def _plane_rows(
    bag: list[FrameStats], training: list[FrameStats], tol: GapTolerances, noise_sigma_at_1m_m: float
) -> list[GapRow]:
    """The table plane: depth noise (residual std), then the calibration checks (height, normal).
    One flagged "table plane found" row instead when either side has no plane to compare."""
    bag_planes = [f.plane for f in bag if f.plane is not None]
    training_planes = [f.plane for f in training if f.plane is not None]
    if not bag_planes or not training_planes:
        side = "bag" if not bag_planes else "training"
        note = f"no table plane near the box floor in the {side} frames"
        return [GapRow("table plane found", len(bag_planes), len(training_planes), "in both", True, note)]
    rows: list[GapRow] = []
    b = float(np.median([p.residual_std_m for p in bag_planes]))
    t = float(np.median([p.residual_std_m for p in training_planes]))
    allowed = max(tol.noise_std_m, tol.noise_ratio * t)
    distance = float(np.median([p.camera_distance_m for p in bag_planes]))
    model = noise_sigma_at_1m_m * distance**2
    note = f"training noise model: σ {model * 1e3:.2f} mm along the ray at {distance:.2f} m"
    rows.append(GapRow("table residual std (m), depth noise", b, t, f"+{allowed:.4f}", b - t > allowed, note))
    b = float(np.median([p.height_m for p in bag_planes]))
    t = float(np.median([p.height_m for p in training_planes]))
    rows.append(
        GapRow(
            "table height at box centre (m)",
            b,
            t,
            f"±{tol.plane_height_m:g}",
            abs(b - t) > tol.plane_height_m,
            "calibration translation or table moved",
        )
    )
    bag_normal = _mean_normal(bag_planes)
    training_normal = _mean_normal(training_planes)
    angle = float(np.degrees(np.arccos(np.clip(bag_normal @ training_normal, -1.0, 1.0))))
    rows.append(
        GapRow(
            "table normal: angle to training's (deg)",
            angle,
            0.0,
            f"≤{tol.plane_tilt_deg:g}",
            angle > tol.plane_tilt_deg,
            "calibration rotation",
        )
    )
    return rows


def mean_density(frames: list[FrameStats]) -> np.ndarray:
    return np.mean([f.density for f in frames], axis=0)


def _mean_normal(planes: list[PlaneFit]) -> np.ndarray:
    normal = np.mean([p.normal for p in planes], axis=0)
    return normal / np.linalg.norm(normal)
