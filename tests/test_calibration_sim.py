"""Hand-eye verification in a simulated MuJoCo cell: capture folder -> solve -> YAML -> point cloud.

The camera pose is known (the truth); the board is a textured plane on a mocap "gripper". Prints
the verification table (run with -s to see it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from calibration.capture import CaptureError, CaptureSettings, CaptureWriter, solve_capture
from calibration.handeye import HandEyeError
from calibration.sim_cell import SimCalibrationCell, SimNoise
from calibration.verify import format_table, pose_error, simulate_capture, table_plane_check, verify_methods
from mtdagger.cli import main

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cell():
    cell = SimCalibrationCell()
    yield cell
    cell.close()


@pytest.fixture(scope="module")
def verification(tmp_path_factory):
    return verify_methods(tmp_path_factory.mktemp("verify"), setups=("eye_to_hand", "eye_in_hand"))


@pytest.mark.parametrize("setup", ["eye_to_hand", "eye_in_hand"])
def test_recovered_camera_pose_per_method_noise_off_and_on(verification, setup):
    rows, planes = verification
    if setup == "eye_to_hand":
        print("\n" + format_table(rows, planes))
    off = {row.method: row for row in rows if row.noise == "off" and row.setup == setup}
    on = {row.method: row for row in rows if row.noise == "on" and row.setup == setup}
    assert len(off) == 9 and len(on) == 9  # 8 methods + the written YAML
    for name, row in off.items():  # the acceptance bar: 5 mm and 0.5 degrees without noise
        assert row.translation_mm < 5.0 and row.rotation_deg < 0.5, (name, row)
    chosen_on = next(row for row in on.values() if row.chosen)
    assert chosen_on.translation_mm < 5.0 and chosen_on.rotation_deg < 0.5, chosen_on
    assert on["yaml"].translation_mm == pytest.approx(chosen_on.translation_mm, abs=1e-6)


def test_table_plane_from_the_calibrated_cloud_is_at_the_base_frame_height(verification, cell):
    _, planes = verification
    for level, plane in planes.items():
        assert plane.num_points > 10_000
        assert plane.height_error_mm < 2.0 and plane.tilt_deg < 0.2, (level, plane)
    # The check can fail: a camera 1 cm too high puts the table 1 cm off, and using the camera
    # *link* pose where the optical pose belongs puts it nowhere near.
    high = cell.config.T_base_optical.copy()
    high[2, 3] += 0.01
    assert table_plane_check(cell, high).height_error_mm == pytest.approx(10.0, abs=1.0)


def test_verify_command_writes_the_table(tmp_path, capsys):
    assert main(["calibrate", "verify", "--out", str(tmp_path), "--poses", "15"]) == 0
    table = (tmp_path / "verification.md").read_text()
    assert table in capsys.readouterr().out
    assert "| shah |" in table and "table plane, noise on" in table and "eye_in_hand:" in table
    written = yaml.safe_load((tmp_path / "calibration-off.yaml").read_text())
    assert (
        written["camera_frame"] == "camera_link" and written["optical_frame"] == "camera_color_optical_frame"
    )
    assert main(["calibrate", "verify", "--out", str(tmp_path), "--setups", "eye_on_table"]) == 2
    assert "--setups takes eye_to_hand, eye_in_hand" in capsys.readouterr().err
    residuals = written["residuals"]
    assert residuals["shah.reprojection_rms_px"] < 1.0 and residuals["num_samples"] >= 15


def test_bad_captures_get_clear_errors(tmp_path, cell, capsys):
    cfg = cell.config
    rng = np.random.default_rng(7)
    poses = cell.gripper_poses(rng, 8)
    # Board not found: the board is out of view in every image.
    writer = CaptureWriter(tmp_path / "empty", CaptureSettings(), cfg.board)
    for i in range(6):
        writer.add(cell.render(None, SimNoise(), rng), cfg.camera().K, np.zeros(5), i, poses[i], i)
    with pytest.raises(HandEyeError, match=r"too few views: 0 of 6 usable.*000: board not found"):
        solve_capture(tmp_path / "empty")
    assert main(["calibrate", "solve", str(tmp_path / "empty")]) == 2
    assert "error: too few views" in capsys.readouterr().err
    # A folder with samples is not silently continued with other settings.
    with pytest.raises(CaptureError, match="already holds samples taken with other settings"):
        CaptureWriter(tmp_path / "empty", CaptureSettings(base_frame="fr3_link0"), cfg.board)
    assert CaptureWriter(tmp_path / "empty", CaptureSettings(), cfg.board).count == 6  # same: appends
    # Inconsistent TF timestamps: refused when captured, and when a folder is edited by hand.
    with pytest.raises(CaptureError, match=r"inconsistent timestamps: .* 0\.300 s from the image"):
        writer.add(cell.render(poses[0], SimNoise(), rng), cfg.camera().K, np.zeros(5), 1.0, poses[0], 1.3)
    folder = simulate_capture(cell, tmp_path / "stale", SimNoise(), seed=3, count=6)
    record = folder / "samples" / "002.yaml"
    record.write_text(record.read_text().replace("pose_stamp: 2.0", "pose_stamp: 2.5"))
    with pytest.raises(HandEyeError, match=r"too few views: 5 of 6 .*002: inconsistent timestamps"):
        solve_capture(folder, min_views=6)
    # Pure translation of the board between samples: no rotation, no hand-eye solution.
    writer = CaptureWriter(tmp_path / "translated", CaptureSettings(), cfg.board)
    for i in range(6):
        shifted = poses[0].copy()
        shifted[:3, 3] += [0.02 * i, 0.01 * (i % 2), 0.0]
        writer.add(cell.render(shifted, SimNoise(), rng), cfg.camera().K, np.zeros(5), i, shifted, i)
    with pytest.raises(HandEyeError, match="degenerate motion: the gripper only translated"):
        solve_capture(tmp_path / "translated")


def test_pose_error_measures_translation_and_rotation():
    T = np.eye(4)
    T[:3, 3] = [0.003, 0.004, 0.0]
    from scipy.spatial.transform import Rotation

    T[:3, :3] = Rotation.from_euler("z", 0.25, degrees=True).as_matrix()
    t_mm, r_deg = pose_error(T, np.eye(4))
    assert t_mm == pytest.approx(5.0) and r_deg == pytest.approx(0.25)


def test_verify_with_the_camera_where_the_fr3_cell_calibration_puts_it(tmp_path):
    from calibration.extrinsics import load_extrinsics

    nominal = load_extrinsics(REPO / "configs" / "calibration" / "fr3_cell.yaml")
    args = ["calibrate", "verify", "--out", str(tmp_path), "--poses", "15", "--setups", "eye_to_hand"]
    assert main([*args, "--camera-calibration", str(REPO / "configs" / "calibration" / "fr3_cell.yaml")]) == 0
    for level in ("off", "on"):
        solved = load_extrinsics(tmp_path / f"calibration-{level}.yaml")
        assert solved.base_frame == nominal.base_frame == "fr3_link0"
        t_mm, r_deg = pose_error(solved.T_base_optical, nominal.T_base_optical)
        assert t_mm < 5.0 and r_deg < 0.5, (level, t_mm, r_deg)
