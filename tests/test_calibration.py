"""Calibration YAML, quaternion conversions, tf2 arguments and the eye-on-base hand-eye solver."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from calibration.extrinsics import (
    Extrinsics,
    ExtrinsicsError,
    load_extrinsics,
    matrix_to_quaternion_xyzw,
    quaternion_xyzw_to_matrix,
    save_extrinsics,
    static_transform_args,
)
from calibration.handeye import HandEyeError, calibrate_eye_on_base, pose_from_rvec_tvec
from mtdagger.perception.camera_model import CameraModel

REPO = Path(__file__).resolve().parents[1]


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    return quaternion_xyzw_to_matrix(q / np.linalg.norm(q))


def rotation_about(axis, angle_rad: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    return quaternion_xyzw_to_matrix([*(axis * np.sin(angle_rad / 2)), np.cos(angle_rad / 2)])


def pose(R: np.ndarray, t) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def valid_dict() -> dict:
    return {
        "calibration_id": "lab-d435-001",
        "created": "2024-05-01T10:00:00+00:00",
        "method": "handeye-park",
        "base_frame": "base_link",
        "camera_frame": "camera_color_optical_frame",
        "translation": [1.2, 0.0, 0.6],
        "rotation_xyzw": [-0.642416, -0.642416, 0.295469, 0.295469],
    }


# ------------------------------------------------------------------------------ quaternions


def test_quaternion_matrix_round_trips_including_near_180_degrees():
    rng = np.random.default_rng(0)
    rotations = [random_rotation(rng) for _ in range(200)]
    rotations += [rotation_about(axis, np.pi - 1e-9) for axis in ([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0])]
    rotations += [
        np.eye(3),
        np.diag([1.0, -1.0, -1.0]),
        np.diag([-1.0, 1.0, -1.0]),
        np.diag([-1.0, -1.0, 1.0]),
    ]
    for R in rotations:
        q = matrix_to_quaternion_xyzw(R)
        assert np.linalg.norm(q) == pytest.approx(1.0)
        assert q[3] >= 0.0  # one written form per rotation
        np.testing.assert_allclose(quaternion_xyzw_to_matrix(q), R, atol=1e-9)


def test_quaternion_conventions_match_ros_order_and_direction():
    # +90 degrees about z, ROS order (x, y, z, w): maps the x axis onto the y axis.
    q = [0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)]
    R = quaternion_xyzw_to_matrix(q)
    np.testing.assert_allclose(R @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(matrix_to_quaternion_xyzw(R), q, atol=1e-12)
    # q and -q are the same rotation; the canonical form has w >= 0.
    np.testing.assert_allclose(
        matrix_to_quaternion_xyzw(quaternion_xyzw_to_matrix(-np.asarray(q))), q, atol=1e-12
    )


# ----------------------------------------------------------------------------- YAML schema


def test_save_then_load_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(1)
    original = Extrinsics(
        pose(random_rotation(rng), [0.31, -0.42, 0.93]),
        "base_link",
        "camera_color_optical_frame",
        "cal-2024-05-01",
        created="2024-05-01T10:00:00+00:00",
        method="handeye-park",
        residuals={"rotation_rms_deg": 0.21, "translation_rms_m": 0.0013},
    )
    path = save_extrinsics(tmp_path / "sub" / "cal.yaml", original)
    loaded = load_extrinsics(path)
    np.testing.assert_allclose(loaded.T_base_camera, original.T_base_camera, atol=1e-12)
    assert (loaded.base_frame, loaded.camera_frame, loaded.calibration_id) == (
        "base_link",
        "camera_color_optical_frame",
        "cal-2024-05-01",
    )
    assert loaded.created == original.created and loaded.method == original.method
    assert loaded.residuals == original.residuals
    written = yaml.safe_load(path.read_text())
    assert list(written)[:2] == ["schema_version", "calibration_id"]
    assert written["translation"] == [0.31, -0.42, 0.93]
    assert not list(path.parent.glob(".*.tmp"))  # atomic write leaves no temp file


def test_nearly_unit_quaternion_is_normalised_but_a_wrong_one_is_refused():
    data = valid_dict()
    data["rotation_xyzw"] = [0.0, 0.0, 0.0, 1.0005]
    loaded = Extrinsics.from_dict(data)
    np.testing.assert_allclose(loaded.T_base_camera[:3, :3], np.eye(3), atol=1e-12)
    data["rotation_xyzw"] = [0.0, 0.0, 0.0, 1.01]
    with pytest.raises(ExtrinsicsError, match=r"rotation_xyzw.*norm is 1\.01"):
        Extrinsics.from_dict(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"translation": [0.0, float("nan"), 0.0]}, r"translation\[1\] must be finite"),
        ({"translation": [0.0, 0.0]}, "translation must have 3 numbers"),
        ({"translation": "1 2 3"}, "translation must be a list"),
        ({"rotation_xyzw": [0.0, 0.0, "a", 1.0]}, r"rotation_xyzw\[2\] must be a number"),
        ({"rotation_xyzw": [0.0, 0.0, float("inf"), 1.0]}, r"rotation_xyzw\[2\] must be finite"),
        ({"camera_frame": ""}, "camera_frame must be a non-empty string"),
        ({"camera_frame": "base_link"}, "both 'base_link'"),
        ({"rotation_wxyz": [1, 0, 0, 0]}, "unknown key.*rotation_wxyz"),
        ({"schema_version": 2}, "schema_version 2"),
        ({"residuals": {"rms": float("nan")}}, r"residuals\.rms must be finite"),
    ],
)
def test_bad_fields_are_named_in_the_error(change, message):
    data = valid_dict()
    data.update(change)
    with pytest.raises(ExtrinsicsError, match=message):
        Extrinsics.from_dict(data)


@pytest.mark.parametrize(
    "key", ["calibration_id", "base_frame", "camera_frame", "translation", "rotation_xyzw"]
)
def test_missing_required_key_is_named(key, tmp_path):
    data = valid_dict()
    del data[key]
    path = tmp_path / "cal.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ExtrinsicsError, match=f"cal.yaml: missing required key.*{key}"):
        load_extrinsics(path)


def test_load_errors_for_missing_file_bad_yaml_and_non_mapping(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"absent\.yaml"):
        load_extrinsics(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("translation: [1, 2\n")
    with pytest.raises(ExtrinsicsError, match="not valid YAML"):
        load_extrinsics(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ExtrinsicsError, match="expected a YAML mapping"):
        load_extrinsics(listing)


def test_unquoted_yaml_timestamp_and_numeric_id_are_kept_as_text(tmp_path):
    path = tmp_path / "cal.yaml"
    text = yaml.safe_dump(valid_dict()).replace("'2024-05-01T10:00:00+00:00'", "2024-05-01 10:00:00")
    path.write_text(text.replace("calibration_id: lab-d435-001", "calibration_id: 17"))
    loaded = load_extrinsics(path)
    assert loaded.calibration_id == "17"
    assert loaded.created.startswith("2024-05-01")


def test_improper_transform_is_refused():
    reflection = np.diag([1.0, 1.0, -1.0, 1.0])
    with pytest.raises(ExtrinsicsError, match="not a proper rotation"):
        Extrinsics(reflection, "base_link", "camera_color_optical_frame", "x")
    skewed = np.eye(4)
    skewed[3, 0] = 1.0
    with pytest.raises(ExtrinsicsError, match="bottom row"):
        Extrinsics(skewed, "base_link", "camera_color_optical_frame", "x")


def test_example_calibration_loads_and_looks_at_the_table():
    extrinsics = load_extrinsics(REPO / "configs" / "calibration" / "example_eye_on_base.yaml")
    assert extrinsics.camera_frame.endswith("_optical_frame")
    # The optical axis (z) points from the camera at (1.2, 0, 0.6) to the table point (0.5, 0, 0).
    optical_axis = extrinsics.T_base_camera[:3, 2]
    expected = np.array([0.5 - 1.2, 0.0, -0.6])
    np.testing.assert_allclose(optical_axis, expected / np.linalg.norm(expected), atol=1e-5)
    # Usable as the pose of the point-cloud contract's camera model.
    CameraModel(160, 120, 153.75, 153.75, 79.5, 59.5, extrinsics.T_base_camera)


# --------------------------------------------------------------------------------- tf2 args


def test_static_transform_args_use_new_flag_style_and_round_trip():
    extrinsics = Extrinsics.from_dict(valid_dict())
    args = static_transform_args(extrinsics)
    flags = args[0::2]
    assert flags == ["--x", "--y", "--z", "--qx", "--qy", "--qz", "--qw", "--frame-id", "--child-frame-id"]
    values = dict(zip(flags, args[1::2]))
    assert values["--frame-id"] == "base_link" and values["--child-frame-id"] == "camera_color_optical_frame"
    t = [float(values[f]) for f in ("--x", "--y", "--z")]
    q = [float(values[f]) for f in ("--qx", "--qy", "--qz", "--qw")]
    np.testing.assert_array_equal(t, extrinsics.translation)  # repr() keeps every digit
    np.testing.assert_allclose(pose(quaternion_xyzw_to_matrix(q), t), extrinsics.T_base_camera, atol=1e-15)


# -------------------------------------------------------------------------------- hand-eye


def synthetic_samples(rng, n: int, noise_deg: float = 0.0, noise_m: float = 0.0):
    """Eye-on-base scene: a camera 1.2 m in front of the base, a board 10 cm from the flange."""
    X = pose(rotation_about([1.0, -0.3, 0.2], 2.4), [1.2, 0.1, 0.6])  # T_base_camera
    Y = pose(rotation_about([0.0, 1.0, 0.0], 0.3), [0.0, 0.02, 0.10])  # T_gripper_target
    gripper, target = [], []
    for _ in range(n):
        R = rotation_about(rng.normal(size=3), rng.uniform(0.2, 0.8)) @ rotation_about([1, 0, 0], np.pi)
        G = pose(R, np.array([0.5, 0.0, 0.4]) + rng.uniform(-0.15, 0.15, size=3))
        C = np.linalg.inv(X) @ G @ Y
        if noise_deg or noise_m:
            C = C @ pose(
                rotation_about(rng.normal(size=3), np.deg2rad(noise_deg)), rng.normal(scale=noise_m, size=3)
            )
        gripper.append(G)
        target.append(C)
    return X, Y, gripper, target


def test_hand_eye_recovers_exact_pose_from_noise_free_samples():
    X, Y, gripper, target = synthetic_samples(np.random.default_rng(2), 8)
    result = calibrate_eye_on_base(gripper, target, method="park", use_opencv=False)
    np.testing.assert_allclose(result.T_base_camera, X, atol=1e-9)
    np.testing.assert_allclose(result.T_gripper_target, Y, atol=1e-9)
    assert result.residuals["translation_rms_m"] < 1e-9 and result.residuals["rotation_rms_deg"] < 1e-6
    assert result.residuals["num_samples"] == 8.0
    assert result.method == "park (built-in)"


def test_hand_eye_with_measurement_noise_is_close_and_residuals_show_it(tmp_path):
    X, _, gripper, target = synthetic_samples(np.random.default_rng(3), 20, noise_deg=0.2, noise_m=0.001)
    result = calibrate_eye_on_base(gripper, target, use_opencv=False)
    assert np.linalg.norm(result.T_base_camera[:3, 3] - X[:3, 3]) < 0.005
    cos_angle = (np.trace(result.T_base_camera[:3, :3].T @ X[:3, :3]) - 1) / 2
    assert np.rad2deg(np.arccos(np.clip(cos_angle, -1, 1))) < 0.5
    assert 1e-4 < result.residuals["translation_rms_m"] < 0.01
    # Straight into the YAML and back.
    extrinsics = result.to_extrinsics(calibration_id="noisy-test")
    loaded = load_extrinsics(save_extrinsics(tmp_path / "cal.yaml", extrinsics))
    np.testing.assert_allclose(loaded.T_base_camera, result.T_base_camera, atol=1e-12)
    assert loaded.method.startswith("handeye eye-on-base park") and loaded.residuals == result.residuals


def test_hand_eye_matches_opencv_when_opencv_has_it():
    import cv2

    if not hasattr(cv2, "calibrateHandEye"):
        pytest.skip(f"OpenCV {cv2.__version__} has no calibrateHandEye (the built-in solver covers it)")
    X, _, gripper, target = synthetic_samples(np.random.default_rng(4), 10)
    for method in ("park", "tsai"):
        result = calibrate_eye_on_base(gripper, target, method=method, use_opencv=True)
        np.testing.assert_allclose(result.T_base_camera, X, atol=1e-6)


def test_hand_eye_refuses_rotations_about_a_single_axis():
    rng = np.random.default_rng(5)
    _, _, gripper, target = synthetic_samples(rng, 6)
    flange = gripper[0]
    single_axis = [
        flange @ pose(rotation_about([0, 0, 1], a), [0.05 * a, 0, 0]) for a in np.linspace(0, 1, 6)
    ]
    with pytest.raises(HandEyeError, match="two clearly different rotation axes"):
        calibrate_eye_on_base(single_axis, target, use_opencv=False)


def test_hand_eye_input_errors_are_clear():
    _, _, gripper, target = synthetic_samples(np.random.default_rng(6), 4)
    with pytest.raises(HandEyeError, match="4 gripper poses but 3 target poses"):
        calibrate_eye_on_base(gripper, target[:3])
    with pytest.raises(HandEyeError, match="at least 3 samples"):
        calibrate_eye_on_base(gripper[:2], target[:2])
    with pytest.raises(HandEyeError, match="unknown method 'magic'"):
        calibrate_eye_on_base(gripper, target, method="magic")
    with pytest.raises(HandEyeError, match="4x4"):
        calibrate_eye_on_base([g[:3] for g in gripper], target)
    bad = [g.copy() for g in gripper]
    bad[1][0, 0] = np.nan
    with pytest.raises(HandEyeError, match="non-finite"):
        calibrate_eye_on_base(bad, target)
    with pytest.raises(HandEyeError, match="built-in solver implements method='park' only"):
        calibrate_eye_on_base(gripper, target, method="tsai", use_opencv=False)


def test_pose_from_rvec_tvec_matches_rotation_about_axis():
    T = pose_from_rvec_tvec([0.0, 0.0, np.pi / 2], [0.1, 0.2, 0.3])
    np.testing.assert_allclose(T, pose(rotation_about([0, 0, 1], np.pi / 2), [0.1, 0.2, 0.3]), atol=1e-12)
