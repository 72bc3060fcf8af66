"""Hand-eye solve: every method, both set-ups, outlier views, degenerate input, the YAML it writes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from calibration.extrinsics import load_extrinsics, save_extrinsics
from calibration.handeye import HandEyeError
from calibration.solve import METHODS, R_LINK_OPTICAL, report_to_extrinsics, solve_hand_eye


def pose(rotvec, t) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = Rotation.from_rotvec(rotvec).as_matrix(), t
    return T


def random_gripper_poses(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    down = Rotation.from_euler("x", np.pi)
    return [
        pose(
            (Rotation.from_rotvec(rng.normal(size=3) * 0.3) * down).as_rotvec(),
            np.array([0.5, 0.0, 0.4]) + rng.uniform(-0.15, 0.15, 3),
        )
        for _ in range(n)
    ]


def eye_to_hand(rng, n: int):
    X = pose([2.0, -0.6, 0.4], [1.2, 0.1, 0.6])  # T_base_camera (optical)
    Y = pose([0.0, 0.3, 0.0], [0.0, 0.02, 0.10])  # T_gripper_board
    G = random_gripper_poses(rng, n)
    return X, G, [np.linalg.inv(X) @ g @ Y for g in G]


def rotation_error_deg(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.rad2deg(Rotation.from_matrix(A[:3, :3].T @ B[:3, :3]).magnitude()))


def test_every_method_recovers_the_camera_eye_to_hand():
    X, G, C = eye_to_hand(np.random.default_rng(0), 10)
    report = solve_hand_eye(G, C, "eye_to_hand")
    assert set(report.results) == set(METHODS) and not report.removed
    for name, result in report.results.items():
        assert result.X is not None, f"{name}: {result.error}"
        np.testing.assert_allclose(result.X[:3, 3], X[:3, 3], atol=1e-5, err_msg=name)
        assert rotation_error_deg(result.X, X) < 1e-3, name
        assert result.residuals["translation_rms_m"] < 1e-5
    assert "chosen" in report.table()


def test_eye_in_hand_recovers_the_camera_on_the_gripper():
    rng = np.random.default_rng(1)
    X = pose([0.1, -0.2, 1.5], [0.05, 0.0, 0.08])  # T_gripper_camera
    W = pose([0.0, 0.0, 0.4], [0.6, 0.1, 0.0])  # T_base_board, lying on the table
    G = random_gripper_poses(rng, 12)
    C = [np.linalg.inv(X) @ np.linalg.inv(g) @ W for g in G]
    report = solve_hand_eye(G, C, "eye_in_hand")
    for name, result in report.results.items():
        assert result.X is not None, f"{name}: {result.error}"
        np.testing.assert_allclose(result.X[:3, 3], X[:3, 3], atol=1e-5, err_msg=name)


def test_an_outlier_view_is_removed_with_its_reason():
    rng = np.random.default_rng(2)
    X, G, C = eye_to_hand(rng, 14)
    C = [c @ pose(rng.normal(size=3) * 0.002, rng.normal(size=3) * 0.0005) for c in C]  # ~0.1 deg, 0.5 mm
    C[5] = C[5] @ pose([0.0, 0.03, 0.0], [0.03, 0.0, 0.0])  # one view 3 cm and 1.7 deg off
    report = solve_hand_eye(G, C, method="park")
    assert list(report.removed) == [5] and "inconsistent with the other views" in report.removed[5]
    assert np.linalg.norm(report.best.X[:3, 3] - X[:3, 3]) < 0.003
    kept = solve_hand_eye(G, C, method="park", outlier_k=1e9, outlier_floor_m=1.0, outlier_floor_deg=180.0)
    assert not kept.removed  # the same data without the outlier test is worse
    assert np.linalg.norm(kept.best.X[:3, 3] - X[:3, 3]) > np.linalg.norm(report.best.X[:3, 3] - X[:3, 3])


def test_bad_sample_sets_get_clear_errors():
    _, G, C = eye_to_hand(np.random.default_rng(3), 8)
    with pytest.raises(HandEyeError, match="too few views: 4 usable, need at least 5"):
        solve_hand_eye(G[:4], C[:4])
    translated = [pose([np.pi, 0, 0], [0.4 + 0.03 * i, 0.01 * i**2, 0.3]) for i in range(8)]
    with pytest.raises(HandEyeError, match="degenerate motion: the gripper only translated"):
        solve_hand_eye(translated, C)
    with pytest.raises(HandEyeError, match="setup must be one of"):
        solve_hand_eye(G, C, "eye_on_table")
    with pytest.raises(HandEyeError, match="unknown method 'magic'"):
        solve_hand_eye(G, C, method="magic")


def test_yaml_names_the_camera_link_and_keeps_the_optical_pose(tmp_path):
    X, G, C = eye_to_hand(np.random.default_rng(4), 8)
    report = solve_hand_eye(G, C, method="tsai")
    extrinsics = report_to_extrinsics(
        report, calibration_id="cell-1", parent_frame="fr3_link0", camera_serial="0123456789"
    )
    loaded = load_extrinsics(save_extrinsics(tmp_path / "cal.yaml", extrinsics))
    assert (loaded.base_frame, loaded.camera_frame, loaded.optical_frame) == (
        "fr3_link0", "camera_link", "camera_color_optical_frame",
    )  # fmt: skip
    assert loaded.method == "handeye eye_to_hand tsai" and loaded.camera_serial == "0123456789"
    assert loaded.created[:4].isdigit() and "park.translation_rms_m" in loaded.residuals
    np.testing.assert_allclose(loaded.T_base_optical, X, atol=1e-9)
    np.testing.assert_allclose(loaded.T_base_camera[:3, :3], X[:3, :3] @ R_LINK_OPTICAL.T, atol=1e-9)
    optical = loaded.as_optical()
    assert optical.camera_frame == "camera_color_optical_frame"
    np.testing.assert_allclose(optical.T_base_camera, X, atol=1e-9)


def test_optical_frame_fields_must_come_together_and_be_valid():
    from calibration.extrinsics import Extrinsics, ExtrinsicsError

    data = {
        "calibration_id": "c",
        "base_frame": "base_link",
        "camera_frame": "camera_link",
        "translation": [1.0, 0.0, 0.5],
        "rotation_xyzw": [0.0, 0.0, 0.0, 1.0],
        "optical_frame": "camera_color_optical_frame",
    }
    with pytest.raises(ExtrinsicsError, match="optical_frame and camera_to_optical must be given together"):
        Extrinsics.from_dict(data)
    data["camera_to_optical"] = {"translation": [0.0, 0.015, 0.0]}
    with pytest.raises(ExtrinsicsError, match="camera_to_optical must be a mapping with translation and"):
        Extrinsics.from_dict(data)
    data["camera_to_optical"] = {"translation": [0.0, 0.015, 0.0], "rotation_xyzw": [-0.5, 0.5, -0.5, 0.5]}
    extrinsics = Extrinsics.from_dict(data)
    # The optical frame sits 15 mm to the link's left (+y), looking along the link's +x.
    np.testing.assert_allclose(extrinsics.T_base_optical[:3, 3], [1.0, 0.015, 0.5], atol=1e-12)
    np.testing.assert_allclose(extrinsics.T_base_optical[:3, :3], R_LINK_OPTICAL, atol=1e-12)
    assert Extrinsics.from_dict(extrinsics.to_dict()).to_dict() == extrinsics.to_dict()


def test_launch_arguments_publish_the_link_or_the_optical_frame(tmp_path):
    from calibration.extrinsics import quaternion_xyzw_to_matrix, static_transform_args

    X, G, C = eye_to_hand(np.random.default_rng(5), 8)
    extrinsics = report_to_extrinsics(solve_hand_eye(G, C), calibration_id="c", parent_frame="fr3_link0")
    loaded = load_extrinsics(save_extrinsics(tmp_path / "cal.yaml", extrinsics))

    def published(args):
        values = dict(zip(args[0::2], args[1::2]))
        T = np.eye(4)
        T[:3, :3] = quaternion_xyzw_to_matrix([float(values[f"--q{a}"]) for a in "xyzw"])
        T[:3, 3] = [float(values[f"--{a}"]) for a in "xyz"]
        return values["--frame-id"], values["--child-frame-id"], T

    # With the driver publishing camera_link -> optical: base -> camera_link from the YAML.
    parent, child, T = published(static_transform_args(loaded))
    assert (parent, child) == ("fr3_link0", "camera_link")
    np.testing.assert_allclose(T @ loaded.T_camera_optical, X, atol=1e-9)
    # Without it (publish_tf:=false): base -> optical frame directly, the pose the cloud needs.
    parent, child, T = published(static_transform_args(loaded.as_optical()))
    assert (parent, child) == ("fr3_link0", "camera_color_optical_frame")
    np.testing.assert_allclose(T, X, atol=1e-9)
