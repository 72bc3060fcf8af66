"""ChArUco board: parameters, printable files at true scale, detection and board pose per view."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from calibration.board import BoardError, BoardSpec, board_from_dict, load_board, render_board, write_board
from calibration.detect import camera_matrix, detect_board

SPEC = BoardSpec(squares_x=7, squares_y=5, square_length_m=0.04, marker_length_m=0.03)
K = camera_matrix(600.0, 600.0, 320.0, 240.0)


def test_opencv_has_what_calibration_needs():
    assert hasattr(cv2.aruco, "CharucoDetector") and hasattr(cv2, "calibrateHandEye"), cv2.__version__


def test_board_files_are_at_true_scale_and_round_trip(tmp_path):
    paths = write_board(SPEC, tmp_path, dpi=300)
    assert load_board(tmp_path) == SPEC
    png = cv2.imread(str(paths["png"]), cv2.IMREAD_GRAYSCALE)
    # 4 cm at 300 dpi = 472 px per square; a 236 px (half-square) white margin on each side.
    assert png.shape == (5 * 472 + 472, 7 * 472 + 472)
    media_box = re.search(rb"MediaBox \[ 0 0 ([\d.]+) ([\d.]+) \]", paths["pdf"].read_bytes())
    width_pt, height_pt = (float(v) for v in media_box.groups())
    # True scale: one square of 472 px is 0.04 m on the page (PDF points are 1/72 inch).
    metres_per_pixel = 0.04 / 472
    assert width_pt / 72 * 0.0254 == pytest.approx(png.shape[1] * metres_per_pixel, rel=1e-9)
    assert height_pt / 72 * 0.0254 == pytest.approx(png.shape[0] * metres_per_pixel, rel=1e-9)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"squares_x": 1}, "squares_x must be an integer >= 2"),
        ({"marker_length_m": 0.05}, "marker_length_m .* must be smaller"),
        ({"square_length_m": -1.0}, "square_length_m must be a positive length"),
        ({"dictionary": "DICT_NOPE"}, "'DICT_NOPE' is not a cv2.aruco dictionary"),
        ({"squares_x": 20, "squares_y": 20, "dictionary": "DICT_4X4_50"}, "needs 200 markers"),
        ({"colour": "red"}, "unknown board key.*colour"),
    ],
)
def test_bad_board_parameters_are_named(change, message):
    data = {**SPEC.__dict__, **change}
    with pytest.raises(BoardError, match=message):
        board_from_dict(data)


def project_board(R: np.ndarray, t: np.ndarray, size=(640, 480)) -> np.ndarray:
    """The board image seen by camera K at pose (R, t) of the board frame, by a homography."""
    pps, margin = 100, 50
    image = render_board(SPEC, pps)
    scale = SPEC.square_length_m / pps
    board_from_pixels = np.array([[scale, 0, -margin * scale], [0, scale, -margin * scale], [0, 0, 1]])
    H = K @ np.column_stack([R[:, 0], R[:, 1], t]) @ board_from_pixels
    return cv2.warpPerspective(image, H, size, flags=cv2.INTER_AREA, borderValue=128)


def test_board_pose_is_recovered_from_a_projected_view():
    R = cv2.Rodrigues(np.array([0.3, -0.2, 0.1]))[0]
    t = np.array([-0.12, -0.08, 0.6])
    view = detect_board(project_board(R, t), K, None, SPEC)
    assert view.accepted and view.reason == ""
    assert view.num_corners == (SPEC.squares_x - 1) * (SPEC.squares_y - 1)
    assert view.reprojection_px < 0.5
    np.testing.assert_allclose(view.T_camera_board[:3, 3], t, atol=0.003)
    angle = np.linalg.norm(cv2.Rodrigues(view.T_camera_board[:3, :3].T @ R)[0])
    assert np.rad2deg(angle) < 1.0


def test_views_are_rejected_with_a_reason():
    blank = np.full((480, 640), 200, np.uint8)
    assert detect_board(blank, K, None, SPEC).reason.startswith("board not found")
    R, t = np.eye(3), np.array([-0.12, -0.08, 0.6])
    half = project_board(R, t)
    half[:, 250:] = 200  # only the left columns of the board stay visible
    view = detect_board(half, K, None, SPEC, min_corners=12)
    assert not view.accepted and re.match(r"only \d+ ChArUco corners \(need 12\)", view.reason)
    strict = detect_board(project_board(R, t), K, None, SPEC, max_reprojection_px=1e-4)
    assert not strict.accepted and "reprojection error" in strict.reason
