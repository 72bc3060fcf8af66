"""Find the ChArUco board in an image and its pose in the camera optical frame.

`cv2.aruco.CharucoDetector` finds the markers and interpolates the chessboard corners (sub-pixel),
`cv2.solvePnP` fits the board pose to them, and the RMS reprojection error says how well. A view
is rejected, with the reason kept, when the board is not found, too few corners are seen, the
corners lie on one line (the pose is then ambiguous) or the fit is poor: a bad view would pull the
hand-eye solution more than a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.board import BoardSpec

MIN_CORNERS = 6
MAX_REPROJECTION_PX = 1.0


@dataclass(frozen=True)
class BoardView:
    """One image's result: a pose (`T_camera_board`) or the reason there is none."""

    T_camera_board: np.ndarray | None
    num_corners: int
    reprojection_px: float
    reason: str = ""  # empty when accepted
    object_points: np.ndarray | None = None  # (K, 3) board-frame corners that were seen
    image_points: np.ndarray | None = None  # (K, 2) where they were seen (pixels)

    @property
    def accepted(self) -> bool:
        return self.T_camera_board is not None


def reprojection_rms_px(
    T_camera_board: np.ndarray, K: np.ndarray, distortion: np.ndarray | None, view: BoardView
) -> float:
    """RMS pixel distance between a view's detected corners and their projection at a given pose
    (e.g. the pose a hand-eye solution predicts for this view)."""
    import cv2

    if view.object_points is None or view.image_points is None:
        raise ValueError("the view has no detected corners")
    rvec = cv2.Rodrigues(np.asarray(T_camera_board[:3, :3], dtype=np.float64))[0]
    dist = np.zeros(5) if distortion is None else np.asarray(distortion, dtype=np.float64)
    projected = cv2.projectPoints(view.object_points, rvec, T_camera_board[:3, 3], K, dist)[0].reshape(-1, 2)
    return float(np.sqrt(np.mean(np.sum((projected - view.image_points) ** 2, axis=1))))


def camera_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def detect_board(
    image: np.ndarray,
    K: np.ndarray,
    distortion: np.ndarray | None,
    board: BoardSpec,
    *,
    min_corners: int = MIN_CORNERS,
    max_reprojection_px: float = MAX_REPROJECTION_PX,
) -> BoardView:
    """Board pose in the camera optical frame from one colour or grey image."""
    import cv2

    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    cv_board = board.opencv_board()
    corners, ids, _, marker_ids = cv2.aruco.CharucoDetector(cv_board).detectBoard(gray)
    if marker_ids is None or len(marker_ids) == 0:
        return BoardView(None, 0, float("nan"), "board not found (no ArUco marker of its dictionary)")
    count = 0 if ids is None else len(ids)
    if count < min_corners:
        return BoardView(None, count, float("nan"), f"only {count} ChArUco corners (need {min_corners})")
    object_points, image_points = cv_board.matchImagePoints(corners, ids)
    object_points = object_points.reshape(-1, 3).astype(np.float64)
    image_points = image_points.reshape(-1, 2).astype(np.float64)
    spread = np.linalg.svd(object_points[:, :2] - object_points[:, :2].mean(axis=0), compute_uv=False)
    if spread[1] < 0.5 * board.square_length_m:
        return BoardView(None, count, float("nan"), f"the {count} corners lie on one line")
    K = np.asarray(K, dtype=np.float64)
    dist = np.zeros(5) if distortion is None else np.asarray(distortion, dtype=np.float64)
    ok, rvec, tvec = cv2.solvePnP(object_points, image_points, K, dist, flags=cv2.SOLVEPNP_IPPE)
    if ok:
        rvec, tvec = cv2.solvePnPRefineLM(object_points, image_points, K, dist, rvec, tvec)
    if not ok:
        return BoardView(None, count, float("nan"), "solvePnP found no pose")
    projected = cv2.projectPoints(object_points, rvec, tvec, K, dist)[0].reshape(-1, 2)
    error = float(np.sqrt(np.mean(np.sum((projected - image_points) ** 2, axis=1))))
    if error > max_reprojection_px:
        return BoardView(None, count, error, f"reprojection error {error:.2f} px > {max_reprojection_px} px")
    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(rvec)[0]
    T[:3, 3] = tvec.reshape(3)
    return BoardView(T, count, error, "", object_points, image_points)
