"""`mtdagger gap`: the statistics on known geometry, and the command on small bags made here."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mtdagger.bench.perception import look_at
from mtdagger.cli import main
from mtdagger.perception import CameraModel, PointCloudContract
from mtdagger.perception.gap import (
    GapTolerances,
    compare,
    fit_table_plane,
    frame_stats,
)
from mtdagger.perception.pose_error import perturbed_pose

PRESET = "configs/mt10-pointcloud-tiny.yaml"
CONTRACT = PointCloudContract(
    num_points=256, workspace_min=(-0.6, 0.25, 0.015), workspace_max=(0.6, 0.97, 0.6)
)


def table_points(height: float, tilt_deg: float, noise_m: float, rng: np.random.Generator) -> np.ndarray:
    xy = rng.uniform([-0.6, 0.25], [0.6, 0.97], (20_000, 2))
    z = height + np.tan(np.radians(tilt_deg)) * (xy[:, 0] - 0.0) + rng.normal(0, noise_m, len(xy))
    return np.column_stack([xy, z]).astype(np.float32)


def test_plane_fit_recovers_height_tilt_and_noise_of_a_table():
    rng = np.random.default_rng(0)
    points = table_points(0.01, 2.0, 0.002, rng)
    clutter = rng.uniform([-0.6, 0.25, 0.05], [0.6, 0.97, 0.4], (4000, 3)).astype(np.float32)
    plane = fit_table_plane(np.vstack([points, clutter]), CONTRACT, np.array([0.8, -0.05, 0.65]), rng)
    assert plane is not None
    assert plane.height_m == pytest.approx(0.01, abs=1e-3)
    assert plane.tilt_deg == pytest.approx(2.0, abs=0.2)
    assert plane.residual_std_m == pytest.approx(0.002, rel=0.15)


def test_no_table_in_view_gives_no_plane():
    rng = np.random.default_rng(1)
    points = rng.uniform([-0.6, 0.25, 0.3], [0.6, 0.97, 0.5], (5000, 3)).astype(np.float32)
    assert fit_table_plane(points, CONTRACT, np.zeros(3), rng) is None


def test_perturbed_pose_moves_and_turns_the_camera_by_the_error():
    T = look_at(np.array([0.8, -0.05, 0.65]), np.array([0.1, 0.65, 0.05]))
    moved = perturbed_pose(T, (0.02, 0, 0, 0, 0, 3.0))
    assert np.allclose(moved[:3, 3] - T[:3, 3], [0.02, 0, 0])
    angle = np.degrees(np.arccos((np.trace(moved[:3, :3].T @ T[:3, :3]) - 1) / 2))
    assert angle == pytest.approx(3.0, abs=1e-6)
    with pytest.raises(ValueError, match="6 finite numbers"):
        perturbed_pose(T, (0.0, 0.0))


def plane_depth(camera: CameraModel, height: float) -> np.ndarray:
    """Analytic depth of the plane z=height seen by `camera` (inf where it is not seen)."""
    v, u = np.indices((camera.height, camera.width), dtype=np.float64)
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], axis=-1)
    rays = rays @ camera.T_base_camera[:3, :3].T
    t = (height - camera.T_base_camera[2, 3]) / rays[..., 2]
    return np.where(t > 0, t, np.inf).astype(np.float32)


def test_compare_flags_a_moved_table_and_only_that():
    T = look_at(np.array([0.8, -0.05, 0.65]), np.array([0.1, 0.65, 0.05]))
    camera = CameraModel(160, 120, 153.75, 153.75, 79.5, 59.5, T)
    contract = dataclasses.replace(CONTRACT, workspace_min=(-0.6, 0.25, -0.02))
    training = [frame_stats(plane_depth(camera, 0.0), camera, contract)]
    same = [frame_stats(plane_depth(camera, 0.0), camera, contract)]
    assert not any(row.flagged for row in compare(same, training, GapTolerances()))
    lifted = [frame_stats(plane_depth(camera, 0.01), camera, contract)]
    flagged = {row.statistic for row in compare(lifted, training, GapTolerances()) if row.flagged}
    assert "table height at box centre (m)" in flagged
    assert "table normal: angle to training's (deg)" not in flagged


def test_compare_flags_a_table_the_crop_lets_in():
    """Training's table lies below the crop's floor (z from 0.015); the cell's lies 2 cm higher (a
    calibration that lifts it), inside the box: its cloud holds the table, and the row says so."""
    T = look_at(np.array([0.8, -0.05, 0.65]), np.array([0.1, 0.65, 0.05]))
    camera = CameraModel(160, 120, 153.75, 153.75, 79.5, 59.5, T)
    training = [frame_stats(plane_depth(camera, 0.0), camera, CONTRACT)]
    lifted = [frame_stats(plane_depth(camera, 0.02), camera, CONTRACT)]
    assert training[0].plane is not None and training[0].table_points == 0
    assert lifted[0].table_points == lifted[0].counts.after_voxel > 1000
    rows = {row.statistic: row for row in compare(lifted, training, GapTolerances())}
    leak = rows["frames whose cloud holds the table"]
    assert leak.flagged and (leak.bag, leak.training) == (1.0, 0.0)
    same = {row.statistic: row for row in compare(training, training, GapTolerances())}
    assert not same["frames whose cloud holds the table"].flagged


def test_a_blind_camera_is_flagged_not_crashed():
    T = look_at(np.array([0.8, -0.05, 0.65]), np.array([0.1, 0.65, 0.05]))
    camera = CameraModel(160, 120, 153.75, 153.75, 79.5, 59.5, T)
    contract = dataclasses.replace(CONTRACT, workspace_min=(-0.6, 0.25, -0.02))
    training = [frame_stats(plane_depth(camera, 0.0), camera, contract)]
    blind = [frame_stats(np.zeros((120, 160), np.float32), camera, contract)]
    assert blind[0].counts is None and blind[0].plane is None and "no valid depth" in blind[0].empty_reason
    flagged = {row.statistic for row in compare(blind, training, GapTolerances()) if row.flagged}
    assert {"frames with an empty cloud", "table plane found"} <= flagged


# --- the command, on bags recorded here ------------------------------------------------------------


EPISODES = (("drawer-open-v3", 5), ("drawer-open-v3", 6))  # one task: one simulator env to build


def render_episodes(noise: str = "none"):
    """Per episode of EPISODES, two rendered 160x120 depth frames (reset, then one step)."""
    from sim_bridge.camera.depth_noise import DepthNoiseConfig
    from sim_bridge.camera.sim_camera import SimCameraConfig
    from sim_bridge.metaworld.backend import MetaWorldBackendConfig

    camera = SimCameraConfig.from_yaml("configs/cameras/metaworld_d435.yaml")
    if noise == "realsense":
        camera = dataclasses.replace(camera, noise=DepthNoiseConfig.realsense())
    tasks = tuple(sorted({task for task, _ in EPISODES}))
    backend = MetaWorldBackendConfig(tasks=tasks, camera=camera, render_depth=False).build()
    try:
        episodes = []
        for task, seed in EPISODES:
            backend.reset(task, seed)
            frames = [backend.render_depth()]
            backend.step(np.zeros(4, np.float32))
            frames.append(backend.render_depth())
            episodes.append((task, seed, frames))
        return episodes, camera.camera_model().T_base_camera
    finally:
        backend.close()


def record_bag(path, episodes, T_base_camera) -> None:
    """A small evaluation bag written the way `deploy --record` writes one, with `T_base_camera`
    on /tf_static."""
    from mtdagger.recording.bag_writer import BagMetadata, EvaluationBagWriter

    meta = BagMetadata(checkpoint_id="test", calibration_id="test", robot="sawyer", control_period_s=0.0125)
    stamp = 1
    with EvaluationBagWriter(path, metadata=meta) as writer:
        writer.write_static(T_base_camera)
        for index, (task, seed, frames) in enumerate(episodes):
            writer.start_episode(stamp, {"episode": index, "task": task, "seed": seed})
            for frame in frames:
                stamp += 12_500_000
                writer.write_step(
                    stamp, depth_m=frame.depth_m, camera=frame.camera, ee_position=np.zeros(3),
                    gripper=0.0, action=np.zeros(4), applied=np.zeros(4), safety_status="ok",
                )  # fmt: skip
            stamp += 12_500_000
            writer.end_episode(stamp, success=False)


@pytest.mark.integration
def test_gap_passes_a_calibrated_bag_and_flags_a_miscalibrated_one(tmp_path, capsys):
    good, bad = tmp_path / "good", tmp_path / "bad"
    episodes, T = render_episodes()
    record_bag(good, episodes, T)
    # The camera pose is off by 2 cm and 3° in the recorded calibration, not in the rendering.
    record_bag(bad, episodes, perturbed_pose(T, (0.02, 0.0, 0.0, 0.0, 3.0, 0.0)))

    assert main(["gap", str(good), "--config", PRESET, "--out", str(tmp_path / "good_gap")]) == 0
    out = capsys.readouterr().out
    assert "no statistic differs beyond tolerance" in out, out
    report = (tmp_path / "good_gap" / "gap.md").read_text()
    assert "None: every statistic is within tolerance." in report
    for png in ("density.png", "table_plane.png", "clouds.png"):
        assert (tmp_path / "good_gap" / png).stat().st_size > 1000

    assert main(["gap", str(bad), "--config", PRESET]) == 0  # default --out: beside the bag
    out = capsys.readouterr().out
    assert "FLAG table height at box centre (m)" in out, out
    assert "FLAG table normal: angle to training's (deg)" in out, out
    assert "FLAG frames whose cloud holds the table" in out, out  # 3° lift the far table into the box
    assert "**table normal" in (tmp_path / "bad_gap" / "gap.md").read_text()


def test_gap_refuses_bad_input_with_one_line(tmp_path, capsys):
    assert main(["gap", str(tmp_path / "missing"), "--config", PRESET]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing" in err and "Traceback" not in err
    (tmp_path / "bag").mkdir()
    assert main(["gap", str(tmp_path / "bag"), "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err
    assert main(["gap", str(tmp_path / "bag"), "--config", PRESET, "--episodes", "0"]) == 2
    assert "--episodes" in capsys.readouterr().err


def test_deploy_calibration_error_flag_is_parsed_or_refused_naming_the_flag():
    from mtdagger.commands.deploy import _calibration_error

    assert _calibration_error(None, None) is None
    assert _calibration_error("0.02,0,0,0,3,0", "bag") == (0.02, 0.0, 0.0, 0.0, 3.0, 0.0)
    for bad in ("0.02,0,0", "a,b,c,d,e,f", "0,0,0,0,0,nan"):
        with pytest.raises(ValueError, match="--calibration-error"):
            _calibration_error(bad, "bag")
