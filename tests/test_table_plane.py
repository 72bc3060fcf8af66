"""The table-following crop (contract `table_band_m`, perception/table_plane.py).

It must remove a table that a calibration error lifted and tilted, keep what stands on it as tall
as a fixed floor on a calibrated table keeps it, fall back to the fixed floor when no table is in
view, and be a pure function of the depth image like every other stage of the contract.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mtdagger.config_validation import ConfigError
from mtdagger.perception.camera_model import CameraModel
from mtdagger.perception.contract import PointCloudContract
from mtdagger.perception.pointcloud import (
    EmptyPointCloudError,
    depth_to_point_cloud_with_counts,
    workspace_points,
    workspace_points_reference,
)
from mtdagger.perception.table_plane import NOMINAL_TABLE, above_table, fit_table_plane

BAND = 0.015
CONTRACT = PointCloudContract(
    num_points=256, workspace_min=(-0.6, 0.25, -0.05), workspace_max=(0.6, 0.97, 0.6), table_band_m=BAND
)


def _scene(rng: np.random.Generator, lift: float, tilt_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """A noisy table z = lift + tan(tilt)·x with a 4 cm puck and a gripper on it; (points, is_table)."""
    xy = rng.uniform((-0.6, 0.25), (0.6, 0.97), (6000, 2))
    slope = np.tan(np.radians(tilt_deg))
    table = np.column_stack([xy, lift + slope * xy[:, 0] + rng.normal(0, 0.002, len(xy))])
    puck = rng.uniform((0.0, 0.6, 0.0), (0.04, 0.64, 0.04), (300, 3))
    puck[:, 2] += lift + slope * puck[:, 0]
    gripper = rng.uniform((-0.2, 0.5, 0.05), (-0.1, 0.6, 0.2), (400, 3))
    points = np.concatenate([table, puck, gripper]).astype(np.float32)
    return points, np.arange(len(points)) < len(table)


@pytest.mark.parametrize(("lift", "tilt_deg"), [(0.0, 0.0), (0.012, 1.0), (-0.01, -1.5), (0.02, 2.0)])
def test_a_lifted_and_tilted_table_is_removed_and_the_puck_keeps_its_height(lift, tilt_deg):
    points, is_table = _scene(np.random.default_rng(3), lift, tilt_deg)
    a, b, c = fit_table_plane(points)
    assert abs(a - np.tan(np.radians(tilt_deg))) < 2e-3 and abs(b) < 2e-3 and abs(c - lift) < 2e-3
    kept = above_table(points, BAND)
    table_rows = {tuple(p) for p in points[is_table]}
    assert not any(tuple(p) in table_rows for p in kept), "table points survived the band"
    # The puck above the band survives as on a calibrated table: its height over the table decides.
    puck = points[~is_table][:300]
    height = puck[:, 2] - (lift + np.tan(np.radians(tilt_deg)) * puck[:, 0])
    kept_rows = {tuple(p) for p in kept}
    assert sum(tuple(p) in kept_rows for p in puck) == pytest.approx((height >= BAND).sum(), abs=3)


def test_the_order_of_the_survivors_is_kept_and_the_result_is_a_pure_function():
    points, _ = _scene(np.random.default_rng(5), 0.01, 1.0)
    first, second = above_table(points, BAND), above_table(points.copy(), BAND)
    np.testing.assert_array_equal(first, second)
    rows = {tuple(p): i for i, p in enumerate(points)}
    assert np.all(np.diff([rows[tuple(p)] for p in first]) > 0)


def test_no_table_in_view_falls_back_to_the_nominal_plane():
    rng = np.random.default_rng(0)
    high = rng.uniform((-0.5, 0.3, 0.1), (0.5, 0.9, 0.5), (2000, 3)).astype(np.float32)
    assert fit_table_plane(high) == NOMINAL_TABLE
    wall = np.column_stack([rng.uniform(-0.5, 0.5, 2000), np.full(2000, 0.6), rng.uniform(-0.04, 0.04, 2000)])
    assert fit_table_plane(wall.astype(np.float32)) == NOMINAL_TABLE  # vertical: never a table
    np.testing.assert_array_equal(above_table(high, BAND), high)


def _camera_over_table(error_deg: float, error_m: float) -> tuple[CameraModel, CameraModel, np.ndarray]:
    """A camera looking down at a table z = 0 from 1 m; its depth image, the TRUE camera, and the
    REPORTED one (off by error_deg about x and error_m in z, as a miscalibrated hand-eye)."""
    width, height = 64, 48
    true_pose = np.eye(4)
    true_pose[:3, :3] = Rotation.from_euler("x", 180, degrees=True).as_matrix()  # optical z points down
    true_pose[:3, 3] = (0.0, 0.6, 1.0)
    true = CameraModel(width, height, 40.0, 40.0, 31.5, 23.5, true_pose)
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    rays = np.stack([(u - true.cx) / true.fx, (v - true.cy) / true.fy, np.ones_like(u, dtype=float)])
    world_rays = np.einsum("ij,jhw->ihw", true_pose[:3, :3], rays)
    depth = (true_pose[2, 3] / -world_rays[2]).astype(np.float32)  # the ray meets z = 0 there
    reported_pose = true_pose.copy()
    reported_pose[:3, :3] = Rotation.from_euler("x", error_deg, degrees=True).as_matrix() @ true_pose[:3, :3]
    reported_pose[2, 3] += error_m
    return true, dataclasses.replace(true, T_base_camera=reported_pose), depth


def test_through_the_pipeline_a_miscalibrated_table_never_reaches_the_cloud():
    _, reported, depth = _camera_over_table(1.0, 0.01)
    fixed = dataclasses.replace(CONTRACT, workspace_min=(-0.6, 0.25, BAND), table_band_m=0.0)
    assert workspace_points(depth, reported, fixed)[1].in_workspace > 100  # the table leaks past a floor
    with pytest.raises(EmptyPointCloudError, match="table_band_m"):  # a bare table: nothing above it
        depth_to_point_cloud_with_counts(depth, reported, CONTRACT)


def test_the_compiled_and_reference_front_ends_agree_with_the_table_stage():
    _, reported, depth = _camera_over_table(1.0, 0.01)
    depth[20:28, 30:38] -= 0.03  # a 3 cm box on the table
    compiled, counts = workspace_points(depth, reported, CONTRACT)
    reference, reference_counts = workspace_points_reference(depth, reported, CONTRACT)
    np.testing.assert_array_equal(compiled, reference)
    assert counts == reference_counts and counts.after_table == 64 < counts.after_voxel
    assert counts.padding_for(256) == 256 - 64


def test_the_contract_refuses_a_band_without_the_table_in_the_box():
    with pytest.raises(ValueError, match="workspace_min z must lie below"):
        PointCloudContract(workspace_min=(-0.6, 0.25, 0.015), table_band_m=BAND)
    with pytest.raises(ConfigError, match=r"point_cloud\.table_band_m"):
        PointCloudContract.from_dict({**CONTRACT.to_dict(), "table_band_m": -0.01})


def test_a_checkpoint_contract_written_before_the_stage_reads_as_without_it():
    old = CONTRACT.to_dict()
    del old["table_band_m"]
    old["workspace_min"] = [-0.6, 0.25, 0.015]
    assert PointCloudContract.from_dict(old).table_band_m == 0.0


@pytest.mark.integration
def test_the_band_keeps_metaworlds_table_out_under_noise_and_a_calibration_error():
    """MetaWorld under `eval --robustness`'s noise + 1 cm / 1 deg calibration error, the clouds of
    the MT10 CPU preset's contract (the band) mapped back through the TRUE camera: no point from
    the table (true height < 8 mm), where the previous preset's fixed floor at 0.015 lets table
    points in on these seeds."""
    import json

    from mtdagger.training.config import load_train_config
    from mtdagger.training.robustness import CALIBRATION_ERROR
    from mtdagger.training.sim_setup import backend_config_for, expert_driven_frames

    overrides = ["sim.depth_noise=realsense", f"sim.randomize_camera={json.dumps(CALIBRATION_ERROR)}"]
    config = load_train_config("configs/mt10-pointcloud-cpu.yaml", overrides)
    contract = config.point_cloud  # the band, with the box's floor below the table
    assert contract.table_band_m == BAND and contract.workspace_min[2] < 0
    fixed_floor = (*contract.workspace_min[:2], 0.015)  # the previous preset's
    old_floor = dataclasses.replace(contract, workspace_min=fixed_floor, table_band_m=0)
    backend = backend_config_for(config.sim, ["push-v3"], render_depth=True).build()
    table_points = {"band": 0, "fixed floor": 0}
    try:
        for _, frame in expert_driven_frames(backend, "push-v3", range(10000, 10006), 25, 150):
            to_true = backend.camera.T_base_camera @ np.linalg.inv(frame.camera.T_base_camera)
            for name, crop in (("band", contract), ("fixed floor", old_floor)):
                points, _ = workspace_points(frame.depth_m, frame.camera, crop)
                table_points[name] += int((points @ to_true[2, :3] + to_true[2, 3] < 0.008).sum())
    finally:
        backend.close()
    assert table_points["fixed floor"] > 100, "these seeds no longer draw an error that lifts the table"
    assert table_points["band"] == 0, f"{table_points['band']} table points in the banded cloud"
