"""The library maths (scipy, Open3D) that replaced hand-written formulas gives the same numbers.

Each reference below is the hand-written formula as it was before the change, kept here only to
compare against, on random inputs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from calibration.extrinsics import matrix_to_quaternion_xyzw, quaternion_xyzw_to_matrix
from calibration.handeye import _rotation_vector
from mtdagger.bench.perception import look_at
from mtdagger.control.kinematics import _rotation_angle_between
from mtdagger.perception.contract import PointCloudContract
from mtdagger.perception.gap import fit_table_plane
from mtdagger.scheduling.allocation import average_ranks
from mtdagger.stats import wilson_interval
from sim_bridge.camera.depth_noise import axis_angle_matrix, rotation_angle_deg
from sim_bridge.camera.sim_camera import quaternion_xyzw_to_matrix as sim_quaternion_to_matrix

RNG_SEEDS = range(5)


# ------------------------------------------------------------------ the formulas as they were


def old_quaternion_to_matrix(q) -> np.ndarray:
    x, y, z, w = (float(v) for v in q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def old_matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """Shepperd's method, w >= 0."""
    trace = R[0, 0] + R[1, 1] + R[2, 2]
    if trace > max(R[0, 0], R[1, 1], R[2, 2]):
        s = 2.0 * math.sqrt(1.0 + trace)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, s / 4]
    elif R[0, 0] >= R[1, 1] and R[0, 0] >= R[2, 2]:
        s = 2.0 * math.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [s / 4, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif R[1, 1] >= R[2, 2]:
        s = 2.0 * math.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 1] + R[1, 0]) / s, s / 4, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, s / 4, (R[1, 0] - R[0, 1]) / s]
    quat = np.asarray(q) / np.linalg.norm(q)
    return -quat if quat[3] < 0 else quat


def old_rodrigues(axis: np.ndarray, angle: float) -> np.ndarray:
    x, y, z = axis
    skew = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * skew + (1.0 - np.cos(angle)) * (skew @ skew)


def old_rotation_angle(R: np.ndarray) -> float:
    return float(np.arccos(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0)))


def old_rotation_vector(R: np.ndarray) -> np.ndarray:
    q = old_matrix_to_quaternion(R)
    sin_half = np.linalg.norm(q[:3])
    return np.zeros(3) if sin_half < 1e-12 else 2.0 * np.arctan2(sin_half, q[3]) * q[:3] / sin_half


def old_look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    forward = target - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    transform = np.eye(4)
    transform[:3, :3] = np.column_stack([right, np.cross(forward, right), forward])
    transform[:3, 3] = position
    return transform


def old_average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    bounds = np.r_[np.flatnonzero(starts), values.size]
    ranks = np.empty(values.size)
    ranks[order] = ((bounds[:-1] + bounds[1:] - 1) / 2.0 + 1.0)[np.cumsum(starts) - 1]
    return ranks


def old_wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if k == 0 else min(max(0.0, centre - half), p)
    high = 1.0 if k == n else max(min(1.0, centre + half), p)
    return low, high


def random_rotations(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    quaternions = rng.normal(size=(count, 4))
    rotations = [old_quaternion_to_matrix(q / np.linalg.norm(q)) for q in quaternions]
    near_half_turn = [old_rodrigues(a / np.linalg.norm(a), np.pi - 1e-7) for a in rng.normal(size=(8, 3))]
    return rotations + near_half_turn


# ------------------------------------------------------------------------------ rotations


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_quaternion_to_matrix_matches_the_old_formula(seed):
    rng = np.random.default_rng(seed)
    for q in rng.normal(size=(200, 4)):
        unit = q / np.linalg.norm(q)
        np.testing.assert_allclose(
            quaternion_xyzw_to_matrix(unit), old_quaternion_to_matrix(unit), atol=1e-14
        )
        # the simulated camera's version normalised its input first, as scipy does
        np.testing.assert_allclose(sim_quaternion_to_matrix(q), old_quaternion_to_matrix(unit), atol=1e-14)


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_matrix_to_quaternion_matches_shepperds_method(seed):
    for R in random_rotations(np.random.default_rng(seed), 200):
        np.testing.assert_allclose(matrix_to_quaternion_xyzw(R), old_matrix_to_quaternion(R), atol=1e-12)


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_rodrigues_angle_and_rotation_vector_match_the_old_formulas(seed):
    rng = np.random.default_rng(seed)
    for axis, angle in zip(rng.normal(size=(200, 3)), rng.uniform(0.0, np.pi, 200)):
        axis /= np.linalg.norm(axis)
        np.testing.assert_allclose(axis_angle_matrix(axis, angle), old_rodrigues(axis, angle), atol=1e-14)
    rotations = random_rotations(rng, 200)
    for R_a, R_b in itertools.pairwise(rotations):
        relative = R_a.T @ R_b
        # arccos of the trace is only good to ~1e-8 rad near 0 and pi: the old side is the coarse one
        assert _rotation_angle_between(R_a, R_b) == pytest.approx(old_rotation_angle(relative), abs=1e-7)
        assert rotation_angle_deg(relative) == pytest.approx(
            np.rad2deg(old_rotation_angle(relative)), abs=1e-5
        )
        np.testing.assert_allclose(_rotation_vector(relative), old_rotation_vector(relative), atol=1e-9)


# -------------------------------------------------------------------- look_at, ranks, Wilson


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_look_at_is_the_old_benchmark_formula_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    for position, target in zip(rng.uniform(-2, 2, (100, 3)), rng.uniform(-2, 2, (100, 3))):
        np.testing.assert_array_equal(look_at(position, target), old_look_at(position, target))


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_average_ranks_match_the_old_implementation(seed):
    rng = np.random.default_rng(seed)
    for size in (1, 2, 7, 100, 5000):
        for values in (rng.normal(size=size), rng.integers(0, 5, size).astype(float)):  # ties in the second
            np.testing.assert_array_equal(average_ranks(values), old_average_ranks(values))


def test_wilson_interval_matches_the_closed_form():
    for n in range(1, 51):
        for k in range(n + 1):
            np.testing.assert_allclose(wilson_interval(k, n), old_wilson(k, n), rtol=0, atol=1e-13)
    assert wilson_interval(0, 0) == (0.0, 1.0)  # scipy refuses n = 0: the uninformative interval


# ---------------------------------------------------------------------------- plane fit

CONTRACT = PointCloudContract(
    num_points=512, voxel_size_m=0.01, workspace_min=(-0.5, 0.3, 0.0), workspace_max=(0.5, 1.0, 0.5)
)


def old_fit_plane(points: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """The numpy RANSAC (300 three-point samples, planes within 30 degrees of horizontal, 1 cm
    inliers) + the same least-squares refinement: (height at the box centre, tilt deg, residual std)."""
    floor, low, high = 0.0, np.array([-0.5, 0.3]), np.array([0.5, 1.0])
    near = points[(np.abs(points[:, 2] - floor) <= 0.15) & np.all(points[:, :2] >= low, axis=1)
                  & np.all(points[:, :2] <= high, axis=1)]  # fmt: skip
    best, best_count = None, 0
    for _ in range(300):
        a, b, c = near[rng.choice(len(near), 3, replace=False)]
        normal = np.cross(b - a, c - a)
        if np.linalg.norm(normal) < 1e-9:
            continue
        normal /= np.linalg.norm(normal)
        if abs(normal[2]) < np.cos(np.radians(30.0)):
            continue
        count = int(np.count_nonzero(np.abs((near - a) @ normal) <= 0.01))
        if count > best_count:
            best, best_count = (normal, a), count
    normal, anchor = best
    inliers = near[np.abs((near - anchor) @ normal) <= 0.01]
    centroid = inliers.mean(axis=0)
    normal = np.linalg.svd(inliers - centroid, full_matrices=False)[2][2]
    normal = normal if normal[2] > 0 else -normal
    centre = (low + high) / 2
    height = (
        centroid[2]
        - (normal[0] * (centre[0] - centroid[0]) + normal[1] * (centre[1] - centroid[1])) / normal[2]
    )
    tilt = float(np.degrees(np.arccos(np.clip(normal[2], -1.0, 1.0))))
    return float(height), tilt, float(((inliers - centroid) @ normal).std())


def table_scene(rng: np.random.Generator, wall_points: int) -> tuple[np.ndarray, float, float]:
    """A tilted, noisy table, clutter above it, and a vertical wall (a cabinet front) in the band;
    returns the points and the table's true height at the box centre and tilt (deg)."""
    height, tilt = rng.uniform(-0.03, 0.03), rng.uniform(0.0, 4.0)
    xy = rng.uniform([-0.5, 0.3], [0.5, 1.0], size=(6000, 2))
    z = height + np.tan(np.radians(tilt)) * xy[:, 0] + rng.normal(0.0, rng.uniform(0.001, 0.003), len(xy))
    clutter = rng.uniform([-0.5, 0.3, 0.05], [0.5, 1.0, 0.4], size=(1500, 3))
    wall = np.column_stack(
        [rng.uniform(-0.5, 0.5, wall_points), np.full(wall_points, 0.8), rng.uniform(0.0, 0.15, wall_points)]
    )
    return np.vstack([np.column_stack([xy, z]), clutter, wall]), height, tilt


def fits(seed: int, wall_points: int):
    points, height, tilt = table_scene(np.random.default_rng(seed), wall_points)
    new = fit_table_plane(points, CONTRACT, np.array([0.0, 0.0, 1.0]), np.random.default_rng(seed))
    assert new is not None
    return new, old_fit_plane(points, np.random.default_rng(seed)), (height, tilt)


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_open3d_plane_fit_matches_the_old_numpy_ransac(seed):
    plane, (height, tilt, residual), _ = fits(seed, wall_points=0)
    assert plane.height_m == pytest.approx(height, abs=1e-4)
    assert plane.tilt_deg == pytest.approx(tilt, abs=0.02)
    assert plane.residual_std_m == pytest.approx(residual, rel=0.05)


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_a_wall_larger_than_the_table_is_set_aside_and_the_fit_is_as_good_as_before(seed):
    """8000 wall points against ~6000 table points in the band: Open3D finds the wall first, the
    fit sets it aside. Old and new RANSAC then differ by their sampling (up to ~0.5 mm here), so
    the check is against the truth: the new fit is at least as close as the old one was."""
    plane, (old_height, old_tilt, _), (height, tilt) = fits(seed, wall_points=8000)
    assert abs(plane.height_m - height) <= max(abs(old_height - height), 3e-4)
    assert abs(plane.tilt_deg - tilt) <= max(abs(old_tilt - tilt), 0.05)
