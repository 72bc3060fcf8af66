"""Verification in simulation: capture -> solve -> YAML against a camera pose we know.

The simulated capture goes through the same files and code as a real one (`CaptureWriter`,
`solve_capture`, the calibration YAML), so what is verified is the whole path, not only the
maths. Two checks:
1. per hand-eye method and noise level, the recovered camera pose against the truth
   (translation mm, rotation deg);
2. the table plane fitted from a point cloud made by the preprocessing core
   (`mtdagger.perception.pointcloud.workspace_points`) with the *calibrated* camera pose lies at
   the height the robot's base frame says, and is level.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from calibration.capture import CaptureSettings, CaptureWriter, solve_capture
from calibration.extrinsics import load_extrinsics, save_extrinsics
from calibration.sim_cell import SimCalibrationCell, SimCellConfig, SimNoise, jitter_pose

NOISE_LEVELS = {"off": SimNoise(), "on": SimNoise.realistic()}


def pose_error(T_estimate: np.ndarray, T_truth: np.ndarray) -> tuple[float, float]:
    """(translation error mm, rotation error deg)."""
    translation = 1e3 * float(np.linalg.norm(T_estimate[:3, 3] - T_truth[:3, 3]))
    rotation = float(np.rad2deg(Rotation.from_matrix(T_truth[:3, :3].T @ T_estimate[:3, :3]).magnitude()))
    return translation, rotation


def simulate_capture(
    cell: SimCalibrationCell,
    folder: str | Path,
    noise: SimNoise,
    seed: int = 0,
    count: int | None = None,
    setup: str = "eye_to_hand",
) -> Path:
    """Write a capture folder from the simulated cell: what the capture node records on a robot."""
    rng = np.random.default_rng(seed)
    cfg = cell.config
    settings = CaptureSettings(
        base_frame=cfg.base_frame, gripper_frame="tool0", camera_serial="sim", setup=setup
    )
    writer = CaptureWriter(folder, settings, cfg.board)
    K = cfg.camera().K
    poses = cell.gripper_poses if setup == "eye_to_hand" else cell.eye_in_hand_gripper_poses
    for index, T_base_gripper in enumerate(poses(rng, count or cfg.num_poses)):
        image = cell.render(T_base_gripper, noise, rng, setup)
        reported = jitter_pose(T_base_gripper, noise, rng)
        writer.add(image, K, np.zeros(5), float(index), reported, float(index))
    return Path(folder)


@dataclass(frozen=True)
class Row:
    setup: str
    noise: str
    method: str
    translation_mm: float
    rotation_deg: float
    chosen: bool
    note: str = ""


@dataclass(frozen=True)
class TablePlane:
    fitted_height_m: float
    true_height_m: float
    tilt_deg: float
    num_points: int

    @property
    def height_error_mm(self) -> float:
        return 1e3 * abs(self.fitted_height_m - self.true_height_m)


def verify_methods(
    workdir: str | Path,
    config: SimCellConfig | None = None,
    noise_levels: dict[str, SimNoise] | None = None,
    seed: int = 0,
    setups: tuple[str, ...] = ("eye_to_hand",),
) -> tuple[list[Row], dict[str, TablePlane]]:
    """Table rows per set-up, noise level and method, and the table-plane check of each
    eye-to-hand YAML. Eye-in-hand recovers T_gripper_optical (the YAML's parent is the gripper)."""
    workdir = Path(workdir)
    cell = SimCalibrationCell(config)
    rows: list[Row] = []
    planes: dict[str, TablePlane] = {}
    try:
        for setup in setups:
            truth = cell.config.T_base_optical if setup == "eye_to_hand" else cell.config.T_gripper_optical
            for level, noise in (noise_levels or NOISE_LEVELS).items():
                tag = level if setup == "eye_to_hand" else f"{setup}-{level}"
                folder = simulate_capture(cell, workdir / f"capture-{tag}", noise, seed, setup=setup)
                solution = solve_capture(folder, calibration_id=f"sim-{tag}")
                report = solution.report
                for name, result in report.results.items():
                    if result.X is None:
                        rows.append(Row(setup, level, name, float("nan"), float("nan"), False, result.error))
                        continue
                    t_mm, r_deg = pose_error(result.X, truth)
                    rows.append(Row(setup, level, name, t_mm, r_deg, name == report.chosen))
                yaml_path = save_extrinsics(workdir / f"calibration-{tag}.yaml", solution.extrinsics)
                # The YAML as a consumer reads it: the optical pose the point-cloud core will use.
                loaded = load_extrinsics(yaml_path)
                t_mm, r_deg = pose_error(loaded.T_base_optical, truth)
                note = f"{loaded.method}, {len(report.removed)} removed"
                rows.append(Row(setup, level, "yaml", t_mm, r_deg, False, note))
                if setup == "eye_to_hand":
                    planes[level] = table_plane_check(cell, loaded.T_base_optical)
    finally:
        cell.close()
    return rows, planes


def table_plane_check(cell: SimCalibrationCell, T_base_optical: np.ndarray) -> TablePlane:
    """Fit the table top from the cloud the preprocessing core makes with this camera pose."""
    from mtdagger.perception.contract import PointCloudContract
    from mtdagger.perception.pointcloud import workspace_points

    depth = cell.render_depth(None)  # the real scene, seen by the real camera
    true_height = cell.config.table_height_in_base
    contract = PointCloudContract(
        num_points=512,
        workspace_min=(0.1, -0.5, true_height - 0.05),
        workspace_max=(1.0, 0.5, true_height + 0.05),
        voxel_size_m=0.0,
    )
    points, _ = workspace_points(depth, cell.config.camera(T_base_optical), contract)
    points = points.astype(np.float64)
    centre = points.mean(axis=0)
    normal = np.linalg.svd(points - centre, full_matrices=False)[2][2]
    tilt = float(np.rad2deg(np.arccos(min(1.0, abs(normal[2])))))
    # Height of the fitted plane above the base origin's vertical (x = y = 0 would be off the
    # table): evaluate it at the cloud's centre, where the fit is best constrained.
    return TablePlane(float(centre[2]), true_height, tilt, len(points))


def format_table(rows: list[Row], planes: dict[str, TablePlane]) -> str:
    """Markdown table per set-up: one line per method, noise levels side by side."""
    lines = []
    for setup in dict.fromkeys(row.setup for row in rows):
        mine = [row for row in rows if row.setup == setup]
        levels = list(dict.fromkeys(row.noise for row in mine))
        methods = list(dict.fromkeys(row.method for row in mine))
        cells = {(row.noise, row.method): row for row in mine}
        lines.append(f"{setup}: camera pose error against the truth")
        lines.append("| method | " + " | ".join(f"t mm ({lv}) | R deg ({lv})" for lv in levels) + " |")
        lines.append("|" + "---|" * (1 + 2 * len(levels)))
        for method in methods:
            values = []
            for level in levels:
                row = cells.get((level, method))
                if row is None or not np.isfinite(row.translation_mm):
                    values += ["failed", "failed"]
                else:
                    mark = "*" if row.chosen else ""
                    values += [f"{row.translation_mm:.2f}{mark}", f"{row.rotation_deg:.3f}{mark}"]
            lines.append(f"| {method} | " + " | ".join(values) + " |")
        lines.append("")
    lines.append("(* = the method the solve chose; 'yaml' = the written file's optical-frame pose)")
    for level, plane in planes.items():
        lines.append(
            f"table plane, noise {level}: fitted {1e3 * plane.fitted_height_m:.2f} mm vs base frame "
            f"{1e3 * plane.true_height_m:.2f} mm (error {plane.height_error_mm:.2f} mm), "
            f"tilt {plane.tilt_deg:.3f} deg, {plane.num_points} points"
        )
    return "\n".join(lines)
