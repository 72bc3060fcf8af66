"""The table-following crop (contract stage 5, `table_band_m`): drop what lies on the table.

Why a fitted plane and not a higher crop floor: a fixed floor (z > 0.015 in the base frame)
assumes the table is exactly the plane z = 0. A 1 cm / 1° hand-eye calibration error lifts and
tilts the table by up to ~3 cm at the far edge of the workspace; depth noise scatters it across
the floor and farthest-point sampling favours scattered points, so up to a third of MT10's 512
points became table (docs/results/student.md). Raising the floor removes that table but also the
bottom of every object standing on it (MetaWorld's puck is 4 cm tall), and a student retrained
that way lost most of push. Fitting the table in each cloud and cutting a band above the fitted
plane removes the table wherever calibration put it, and leaves objects as tall as in training.

The fit is z = a·x + b·y + c over the points within TABLE_SEARCH_M of the nominal table (z = 0),
by SciPy's robust least squares (Cauchy loss at about the depth noise) started at the nominal
plane, so objects and the gripper on the table are outliers. It is a pure function of the points
(Open3D's RANSAC draws differently call to call even when seeded, and the contract promises the
same cloud for the same depth), on at most MAX_FIT_POINTS of them taken by a fixed stride (~2 ms).
A fit with too few points, tilted beyond MAX_TILT_DEG or moved beyond TABLE_SEARCH_M falls back to
the nominal plane: the stage is then a fixed floor at z = table_band_m.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

# A 1 cm / 1° calibration error moves the table at most ~2.7 cm over a 1 m workspace.
TABLE_SEARCH_M = 0.04
MAX_TILT_DEG = 5.0
MIN_FIT_POINTS = 64
MAX_FIT_POINTS = 2048
# Scale of the Cauchy loss: residuals well above it (an object's side) barely pull the plane.
CAUCHY_SCALE_M = 0.003

NOMINAL_TABLE = (0.0, 0.0, 0.0)


def fit_table_plane(points: np.ndarray) -> tuple[float, float, float]:
    """(a, b, c) of the table plane z = a·x + b·y + c in the base frame; the nominal (0, 0, 0) when
    the cloud does not show a table near z = 0 (see the module doc)."""
    near = points[np.abs(points[:, 2]) <= TABLE_SEARCH_M]
    if near.shape[0] < MIN_FIT_POINTS:
        return NOMINAL_TABLE
    stride = -(-near.shape[0] // MAX_FIT_POINTS)  # ceil: at most MAX_FIT_POINTS rows
    sample = near[::stride].astype(np.float64)
    design = np.column_stack([sample[:, 0], sample[:, 1], np.ones(sample.shape[0])])
    fit = least_squares(
        lambda w: design @ w - sample[:, 2], np.zeros(3), jac=lambda w: design,
        loss="cauchy", f_scale=CAUCHY_SCALE_M,
    )  # fmt: skip
    a, b, c = (float(v) for v in fit.x)
    tilt_deg = np.degrees(np.arctan(np.hypot(a, b)))
    if not fit.success or not np.all(np.isfinite(fit.x)) or tilt_deg > MAX_TILT_DEG:
        return NOMINAL_TABLE
    centre = sample[:, :2].mean(axis=0)
    if abs(a * centre[0] + b * centre[1] + c) > TABLE_SEARCH_M:
        return NOMINAL_TABLE
    return a, b, c


def above_table(points: np.ndarray, band_m: float) -> np.ndarray:
    """The rows of `points` ((K, 3), base frame) at least `band_m` above the table fitted in them,
    in their original order (the voxel stage's order, which FPS's start index relies on)."""
    a, b, c = fit_table_plane(points)
    height = points[:, 2] - (a * points[:, 0] + b * points[:, 1] + c)
    return points.take(np.flatnonzero(height >= band_m), axis=0)
