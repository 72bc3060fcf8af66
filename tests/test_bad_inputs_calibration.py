"""Calibration from data that cannot determine the camera pose is refused, not written (issue 21).

Before: eight identical capture images gave a camera pose ~30 cm wrong, exit code 0, written to
the YAML real.launch.py publishes; `--min-views 0` failed on an array shape. Now: degenerate
views and high residuals are refused in one line that prints the residuals, and nothing is
written. No MuJoCo: the capture is the printed board image itself, seen head-on.
"""

from __future__ import annotations

import numpy as np
import pytest
from bad_input_support import assert_refused
from scipy.spatial.transform import Rotation

from calibration.board import BoardSpec, render_board
from calibration.capture import CaptureSettings, CaptureWriter, solve_capture
from calibration.handeye import HandEyeError
from calibration.solve import solve_hand_eye
from mtdagger.cli import main


def _gripper_poses(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Well-spread gripper poses (rotations about several axes): valid robot data."""
    poses = []
    for _ in range(n):
        T = np.eye(4)
        turned = Rotation.from_rotvec(rng.normal(size=3) * 0.3) * Rotation.from_euler("x", np.pi)
        T[:3, :3] = turned.as_matrix()
        T[:3, 3] = np.array([0.5, 0.0, 0.4]) + rng.uniform(-0.15, 0.15, 3)
        poses.append(T)
    return poses


@pytest.fixture(scope="module")
def identical_capture(tmp_path_factory):
    """Eight samples whose images are one and the same frame, while the gripper moved."""
    spec = BoardSpec()
    image = np.pad(render_board(spec, 40), 60, constant_values=255)
    K = np.array([[600.0, 0.0, image.shape[1] / 2], [0.0, 600.0, image.shape[0] / 2], [0.0, 0.0, 1.0]])
    folder = tmp_path_factory.mktemp("capture") / "identical"
    writer = CaptureWriter(folder, CaptureSettings(), spec)
    for i, pose in enumerate(_gripper_poses(np.random.default_rng(0), 8)):
        writer.add(image, K, np.zeros(5), float(i), pose, float(i))
    return folder


def test_identical_capture_images_are_refused_and_no_yaml_is_written(capsys, identical_capture):
    out = identical_capture.parent / "calibration.yaml"
    line = assert_refused(
        capsys, ["calibrate", "solve", str(identical_capture), "--out", str(out)], "degenerate views",
        watch=(identical_capture,),
    )  # fmt: skip
    assert "identical" in line
    assert not out.exists() and not (identical_capture / "calibration.yaml").exists()


def test_views_that_disagree_with_the_robot_are_refused_with_every_methods_residuals():
    """Board poses that move (no degenerate views) but belong to another robot motion: each method
    finds a mount that spreads by centimetres; the refusal prints them all."""
    rng = np.random.default_rng(5)
    X = np.eye(4)
    X[:3, :3], X[:3, 3] = Rotation.from_rotvec([2.0, -0.6, 0.4]).as_matrix(), [1.2, 0.1, 0.6]
    G = _gripper_poses(rng, 10)
    C = [np.linalg.inv(X) @ g for g in _gripper_poses(rng, 10)]  # the images of another run
    with pytest.raises(HandEyeError) as refused:
        solve_hand_eye(G, C)
    message = str(refused.value)
    assert "residuals too high" in message and "limits 10 mm / 1 deg" in message
    assert "park" in message and " mm / " in message and "\n" not in message


def test_good_views_still_solve_within_the_residual_limits():
    rng = np.random.default_rng(6)
    X = np.eye(4)
    X[:3, 3] = [1.0, 0.0, 0.5]
    G = _gripper_poses(rng, 10)
    C = [np.linalg.inv(X) @ g for g in G]  # the board on the gripper's own frame
    report = solve_hand_eye(G, C, method="park")
    assert report.best.residuals["translation_rms_m"] < 1e-6
    np.testing.assert_allclose(report.best.X[:3, 3], X[:3, 3], atol=1e-6)


def test_min_views_below_three_is_a_clear_error(capsys, identical_capture):
    with pytest.raises(SystemExit) as refused:
        main(["calibrate", "solve", str(identical_capture), "--min-views", "0"])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and err.startswith("error:") and err.count("\n") == 1
    assert "--min-views" in err and ">= 3" in err and "shape" not in err
    with pytest.raises(HandEyeError, match=r"min_views must be an integer >= 3.*got 0"):
        solve_capture(identical_capture, min_views=0)
