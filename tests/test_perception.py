"""The point-cloud contract implementation: geometry, validity, crop, voxel grid, FPS, padding."""

from __future__ import annotations

import dataclasses

import fpsample
import numpy as np
import pytest

from mtdagger.bench.perception import (
    OBJECTS,
    look_at,
    naive_point_cloud,
    synthetic_tabletop_depth,
    tabletop_camera,
)
from mtdagger.perception import (
    CameraModel,
    PointCloudContract,
    depth_from_16uc1,
    depth_to_point_cloud,
    depth_to_point_cloud_with_counts,
    sample_fixed_size,
    sampling,
    workspace_points,
)

WIDTH, HEIGHT = 64, 48
FX, FY, CX, CY = 50.0, 60.0, 31.5, 23.5
# Everything in these tests lies inside this box unless a test says otherwise.
OPEN_CONTRACT = PointCloudContract(
    num_points=256,
    workspace_min=(-5.0, -5.0, -5.0),
    workspace_max=(5.0, 5.0, 5.0),
    min_depth_m=0.1,
    max_depth_m=4.0,
    voxel_size_m=0.0,
)


def make_camera(transform: np.ndarray | None = None) -> CameraModel:
    return CameraModel(WIDTH, HEIGHT, FX, FY, CX, CY, np.eye(4) if transform is None else transform)


def reference_back_projection(depth: np.ndarray, camera: CameraModel) -> np.ndarray:
    """The depth_image_proc formula written out plainly, float64, every pixel: (H, W, 3) base frame."""
    v, u = np.indices(depth.shape, dtype=np.float64)
    z = depth.astype(np.float64)
    optical = np.stack([(u - camera.cx) * z / camera.fx, (v - camera.cy) * z / camera.fy, z], axis=-1)
    return optical @ camera.T_base_camera[:3, :3].T + camera.T_base_camera[:3, 3]


def tilted_camera() -> CameraModel:
    return make_camera(look_at(np.array([0.3, -0.2, 0.9]), np.array([0.1, 0.4, 0.0])))


def depth_of_plane_z0(camera: CameraModel) -> np.ndarray:
    """Analytic depth of the plane z=0 (base frame) seen by `camera`."""
    v, u = np.indices((camera.height, camera.width), dtype=np.float64)
    optical = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones(u.shape)], axis=-1)
    direction_z = optical @ camera.T_base_camera[2, :3]
    return (-camera.T_base_camera[2, 3] / direction_z).astype(np.float32)


# --- geometry -------------------------------------------------------------------------------------


def test_single_pixel_matches_hand_computation():
    depth = np.zeros((HEIGHT, WIDTH), np.float32)
    depth[7, 10] = 0.8  # v=7, u=10
    cloud = depth_to_point_cloud(depth, make_camera(), OPEN_CONTRACT)
    expected = [(10 - 31.5) * 0.8 / 50.0, (7 - 23.5) * 0.8 / 60.0, 0.8]  # (-0.344, -0.22, 0.8)
    np.testing.assert_allclose(cloud, np.tile(expected, (256, 1)), atol=1e-6)


def test_single_pixel_is_transformed_into_the_base_frame():
    transform = np.eye(4)
    transform[:3, :3] = [[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]  # REP 103 optical -> body
    transform[:3, 3] = [0.5, -0.25, 1.0]
    depth = np.zeros((HEIGHT, WIDTH), np.float32)
    depth[7, 10] = 0.8
    cloud = depth_to_point_cloud(depth, make_camera(transform), OPEN_CONTRACT)
    x, y, z = (10 - 31.5) * 0.8 / 50.0, (7 - 23.5) * 0.8 / 60.0, 0.8
    expected = [0.5 + z, -0.25 - x, 1.0 - y]
    np.testing.assert_allclose(cloud[0], expected, atol=1e-6)


@pytest.mark.parametrize("camera", [make_camera(), tilted_camera()], ids=["identity", "tilted"])
def test_all_surviving_points_match_the_reference_back_projection(camera):
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.2, 3.0, (HEIGHT, WIDTH)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.2] = 0.0
    points, counts = workspace_points(depth, camera, OPEN_CONTRACT)
    reference = reference_back_projection(depth, camera)[depth > 0]
    assert counts.valid_depth == counts.in_workspace == len(reference) == len(points)
    # Same set of points (order is row-major in both): compare row by row.
    np.testing.assert_allclose(points, reference, atol=2e-6)


def test_fronto_parallel_plane_comes_back_flat_at_its_distance():
    depth = np.full((HEIGHT, WIDTH), 1.25, np.float32)
    points, _ = workspace_points(depth, make_camera(), OPEN_CONTRACT)
    assert len(points) == WIDTH * HEIGHT
    np.testing.assert_allclose(points[:, 2], 1.25, atol=1e-6)
    # The plane spans the field of view: x from (0 - cx)·z/fx to (W-1 - cx)·z/fx.
    assert points[:, 0].min() == pytest.approx(-CX * 1.25 / FX, abs=1e-5)
    assert points[:, 0].max() == pytest.approx((WIDTH - 1 - CX) * 1.25 / FX, abs=1e-5)


def test_table_plane_seen_by_a_tilted_translated_camera_lands_at_base_z0():
    camera = tilted_camera()
    depth = depth_of_plane_z0(camera)
    assert np.all(depth > 0.1)  # the whole image sees the plane
    cloud = depth_to_point_cloud(depth, camera, OPEN_CONTRACT)
    np.testing.assert_allclose(cloud[:, 2], 0.0, atol=1e-5)
    # The camera looks at (0.1, 0.4, 0): the cloud surrounds that point.
    assert cloud[:, 0].min() < 0.1 < cloud[:, 0].max()
    assert cloud[:, 1].min() < 0.4 < cloud[:, 1].max()


def test_changing_only_the_pose_translates_the_cloud():
    """The per-camera ray cache must be keyed on the pose: a stale cache would give equal clouds."""
    rng = np.random.default_rng(2)
    depth = rng.uniform(0.5, 2.0, (HEIGHT, WIDTH)).astype(np.float32)
    shifted = np.eye(4)
    shifted[:3, 3] = [0.1, -0.2, 0.3]
    first, _ = workspace_points(depth, make_camera(), OPEN_CONTRACT)
    second, _ = workspace_points(depth, make_camera(shifted), OPEN_CONTRACT)
    np.testing.assert_allclose(second - first, np.tile([0.1, -0.2, 0.3], (len(first), 1)), atol=1e-6)


def test_known_objects_are_found_at_their_base_frame_heights():
    camera = tabletop_camera(160, 120)
    depth = synthetic_tabletop_depth(camera, noise_at_1m_m=0.0)
    points, _ = workspace_points(depth, camera, PointCloudContract(voxel_size_m=0.0))
    for box in OBJECTS:
        lo, hi = np.asarray(box.low), np.asarray(box.high)
        footprint = np.all((points[:, :2] > lo[:2] + 0.005) & (points[:, :2] < hi[:2] - 0.005), axis=1)
        assert footprint.any(), f"object at {box.low} not seen"
        top = points[footprint, 2]
        # Seen from above and in front, an object's footprint shows its top face (and part of its
        # front face, which is lower): the highest points sit at the top height.
        assert top.max() == pytest.approx(hi[2], abs=2e-3)


# --- validity and crop ----------------------------------------------------------------------------


def test_invalid_depth_never_becomes_a_point_near_the_camera():
    depth = np.full((HEIGHT, WIDTH), 1.0, np.float32)
    depth[::2, ::3] = 0.0
    depth[1::4, 1::5] = np.nan
    depth[2::5, :5] = np.inf
    depth[3::7, 7::9] = -np.inf
    depth[4::6, 2::4] = -0.5
    depth[5::9, 3::3] = 0.05  # below min_depth_m
    depth[6::8, 4::5] = 7.0  # beyond max_depth_m
    points, counts = workspace_points(depth, make_camera(), OPEN_CONTRACT)
    assert counts.valid_depth == np.count_nonzero(depth == 1.0)
    # The origin lies inside the crop box, so a point made from invalid depth would survive: none does.
    np.testing.assert_allclose(points[:, 2], 1.0, atol=1e-6)
    assert np.all(np.isfinite(points))


def test_min_depth_zero_still_drops_zero_depth():
    contract = PointCloudContract(
        num_points=16, workspace_min=(-5, -5, -5), workspace_max=(5, 5, 5), min_depth_m=0.0, voxel_size_m=0.0
    )
    depth = np.zeros((HEIGHT, WIDTH), np.float32)
    depth[10, 10] = 0.5
    _, counts = workspace_points(depth, make_camera(), contract)
    assert counts.valid_depth == 1


def test_points_outside_the_workspace_box_are_cropped():
    depth = np.full((HEIGHT, WIDTH), 1.0, np.float32)
    depth[:, WIDTH // 2 :] = 2.0
    contract = PointCloudContract(
        num_points=64, workspace_min=(-0.5, -0.4, 0.9), workspace_max=(0.2, 0.4, 1.5), voxel_size_m=0.0
    )
    points, counts = workspace_points(depth, make_camera(), contract)
    reference = reference_back_projection(depth, make_camera()).reshape(-1, 3)
    inside = np.all((reference >= contract.workspace_min) & (reference <= contract.workspace_max), axis=1)
    assert counts.in_workspace == np.count_nonzero(inside) < counts.valid_depth
    assert np.all(points >= np.float32(contract.workspace_min))
    assert np.all(points <= np.float32(contract.workspace_max))
    cloud = depth_to_point_cloud(depth, make_camera(), contract)
    assert np.all(cloud >= np.float32(contract.workspace_min))
    assert np.all(cloud <= np.float32(contract.workspace_max))


# --- fixed size: FPS and padding ------------------------------------------------------------------


@pytest.mark.parametrize("num_points", [1, 7, 256, 2000])
@pytest.mark.parametrize("valid_fraction", [0.002, 0.3, 1.0])
def test_always_exactly_num_points_float32(num_points, valid_fraction):
    rng = np.random.default_rng(3)
    depth = rng.uniform(0.5, 2.0, (HEIGHT, WIDTH)).astype(np.float32)
    depth[rng.random(depth.shape) >= valid_fraction] = np.nan
    depth[0, 0] = 1.0  # at least one valid pixel
    contract = PointCloudContract(
        num_points=num_points, workspace_min=(-5, -5, -5), workspace_max=(5, 5, 5), voxel_size_m=0.0
    )
    for rng_arg in (None, np.random.default_rng(4)):
        cloud = depth_to_point_cloud(depth, make_camera(), contract, rng=rng_arg)
        assert cloud.shape == (num_points, 3)
        assert cloud.dtype == np.float32
        assert np.all(np.isfinite(cloud))


def test_few_survivors_are_repeated_never_zero_padded():
    depth = np.zeros((HEIGHT, WIDTH), np.float32)
    pixels = [(3, 4), (5, 40), (10, 10), (20, 60), (25, 33), (30, 2), (40, 50), (44, 12), (47, 63), (1, 30)]
    for row, col in pixels:
        depth[row, col] = 0.5 + 0.1 * row / HEIGHT
    survivors, counts = workspace_points(depth, make_camera(), OPEN_CONTRACT)
    assert counts.after_voxel == 10 and counts.padding_for(256) == 246
    for rng in (None, np.random.default_rng(5)):
        cloud = depth_to_point_cloud(depth, make_camera(), OPEN_CONTRACT, rng=rng)
        assert not np.any(np.all(cloud == 0, axis=1))
        matches = np.all(cloud[:, None, :] == survivors[None, :, :], axis=2)  # (256, 10)
        assert np.all(matches.any(axis=1)), "a padded point is not one of the 10 survivors"
        assert np.all(matches.any(axis=0)), "a survivor is missing from the padded cloud"


def test_cyclic_padding_without_rng_spreads_repeats_evenly():
    indices = sampling.repeat_padding_indices(10, 256)
    assert np.array_equal(np.bincount(indices, minlength=10), [26] * 6 + [25] * 4)


def test_deterministic_without_rng_and_rng_changes_the_fps_start():
    rng = np.random.default_rng(6)
    depth = rng.uniform(0.5, 2.0, (HEIGHT, WIDTH)).astype(np.float32)
    first = depth_to_point_cloud(depth, tilted_camera(), OPEN_CONTRACT)
    second = depth_to_point_cloud(depth.copy(), tilted_camera(), OPEN_CONTRACT)
    assert np.array_equal(first, second)
    reseeded = [
        depth_to_point_cloud(depth, tilted_camera(), OPEN_CONTRACT, np.random.default_rng(seed))
        for seed in (1, 1, 2)
    ]
    assert np.array_equal(reseeded[0], reseeded[1])
    assert not np.array_equal(reseeded[0], reseeded[2])


def test_fps_covers_the_cloud_as_well_as_vanilla_fps():
    """Our FPS must cover the cloud as well as fpsample's vanilla FPS (a second implementation)."""
    rng = np.random.default_rng(7)
    points = rng.uniform(-0.5, 0.5, (4000, 3)).astype(np.float32)
    points[:, 2] *= 0.1
    chosen = sampling.farthest_point_indices(points, 128, start_index=0)
    vanilla = fpsample.fps_sampling(points, 128, start_idx=0)
    assert len(np.unique(chosen)) == 128

    def covering_radius(selected):
        distances = np.linalg.norm(points[:, None, :] - points[selected][None, :, :], axis=2)
        return distances.min(axis=1).max()

    assert covering_radius(chosen) <= 1.05 * covering_radius(vanilla)
    # ...and far better than a random subset of the same size.
    assert covering_radius(chosen) < 0.8 * covering_radius(rng.choice(len(points), 128, replace=False))


def textbook_fps(points: np.ndarray, num_samples: int, first: int) -> np.ndarray:
    chosen = [first]
    distance = np.linalg.norm(points - points[first], axis=1)
    for _ in range(num_samples - 1):
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, np.linalg.norm(points - points[chosen[-1]], axis=1))
    return np.array(chosen)


def test_fps_is_exact_fps_from_the_start_index():
    points = np.random.default_rng(11).uniform(-0.5, 0.5, (3000, 3)).astype(np.float32)
    chosen = sampling.farthest_point_indices(points, 200, start_index=0)
    assert chosen[0] == 0
    assert set(chosen) == set(textbook_fps(points, 200, 0))


def test_contract_cloud_of_a_tabletop_has_distinct_points():
    camera = tabletop_camera(160, 120)
    cloud = depth_to_point_cloud(synthetic_tabletop_depth(camera), camera, PointCloudContract(num_points=512))
    assert len(np.unique(cloud, axis=0)) == 512


@pytest.mark.parametrize("survivors", [300, 512, 1000])
@pytest.mark.parametrize("seed", [None, 4])
def test_every_prefix_of_a_cloud_is_the_fps_sample_of_that_size(survivors, seed):
    """The contract keeps its cloud in farthest-point order, padded or not, so the first n points
    of an N-point cloud are the n-point cloud (what `global_points` relies on)."""
    points = np.random.default_rng(9).uniform(-0.5, 0.5, (survivors, 3)).astype(np.float32)

    def rng():
        return None if seed is None else np.random.default_rng(seed)

    full = sample_fixed_size(points, 512, rng())
    for n in (1, 64, 256):
        assert np.array_equal(full[:n], sample_fixed_size(points, n, rng()))
    if survivors <= 512:  # padded (or exactly N): every survivor once, in textbook FPS order
        start = 0 if seed is None else int(np.random.default_rng(seed).integers(survivors))
        order = sampling.textbook_fps(points, survivors, start)
        assert np.array_equal(full[:survivors], points[order])
        assert np.array_equal(sampling.farthest_point_order(points, start), order)


def test_sample_fixed_size_with_exactly_n_survivors_keeps_them_all():
    points = np.random.default_rng(8).normal(size=(50, 3)).astype(np.float32)
    out = sample_fixed_size(points, 50)
    assert np.array_equal(np.sort(out, axis=0), np.sort(points, axis=0))


# --- voxel grid -----------------------------------------------------------------------------------


def voxel_ids(points: np.ndarray, contract: PointCloudContract) -> set[tuple[int, int, int]]:
    cells = np.floor((points - np.float32(contract.workspace_min)) / np.float32(contract.voxel_size_m))
    return set(map(tuple, cells.astype(int)))


def test_voxel_grid_keeps_exactly_one_point_per_occupied_voxel():
    camera = tilted_camera()
    depth = depth_of_plane_z0(camera)
    depth += np.random.default_rng(9).normal(0, 0.01, depth.shape).astype(np.float32)
    voxel = PointCloudContract(
        num_points=64, workspace_min=(-2, -2, -0.1), workspace_max=(2, 2, 0.1), voxel_size_m=0.1
    )
    everything, dense_counts = workspace_points(depth, camera, dataclasses.replace(voxel, voxel_size_m=0.0))
    kept, counts = workspace_points(depth, camera, voxel)
    assert counts.in_workspace == dense_counts.in_workspace
    assert counts.after_voxel < counts.in_workspace / 2  # density reduced
    kept_cells = np.floor((kept - np.float32(voxel.workspace_min)) / np.float32(0.1)).astype(int)
    assert len(np.unique(kept_cells, axis=0)) == len(kept_cells), "two kept points share a voxel"
    assert voxel_ids(kept, voxel) == voxel_ids(everything, voxel), "an occupied voxel lost its point"
    # Representatives are real measured points, not centroids.
    assert np.all(np.any(np.all(kept[:, None, :] == everything[None, :, :], axis=2), axis=1))


def test_sorted_fallback_for_huge_grids_keeps_the_same_voxels(monkeypatch):
    points = np.random.default_rng(10).uniform(0, 1, (3, 5000)).astype(np.float32)
    box_min, box_max = np.zeros(3, np.float32), np.ones(3, np.float32)
    dense = sampling.voxel_grid_indices(points, 0.05, box_min, box_max)
    monkeypatch.setattr(sampling, "MAX_DENSE_VOXEL_CELLS", 0)
    fallback = sampling.voxel_grid_indices(points, 0.05, box_min, box_max)
    assert len(dense) == len(fallback) < 5000
    contract = PointCloudContract(workspace_min=(0, 0, 0), workspace_max=(1, 1, 1), voxel_size_m=0.05)
    assert voxel_ids(points[:, dense].T, contract) == voxel_ids(points[:, fallback].T, contract)


def test_point_on_the_box_maximum_gets_a_voxel():
    points = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], np.float32)  # (3, 2): the max corner and the min
    kept = sampling.voxel_grid_indices(points, 0.1, np.zeros(3, np.float32), np.ones(3, np.float32))
    assert list(kept) == [0, 1]


# --- 16UC1 and the benchmark baseline -------------------------------------------------------------


def test_16uc1_millimetres_become_float32_metres_and_zero_stays_invalid():
    depth_mm = np.array([[0, 1, 1000], [1234, 65535, 0]], np.uint16)
    metres = depth_from_16uc1(depth_mm)
    assert metres.dtype == np.float32
    np.testing.assert_allclose(metres, [[0.0, 0.001, 1.0], [1.234, 65.535, 0.0]], rtol=1e-6)


def test_16uc1_round_trip_through_the_point_cloud():
    depth_mm = np.zeros((HEIGHT, WIDTH), np.uint16)
    depth_mm[7, 10] = 800
    cloud = depth_to_point_cloud(depth_from_16uc1(depth_mm), make_camera(), OPEN_CONTRACT)
    np.testing.assert_allclose(cloud[0], [(10 - 31.5) * 0.8 / 50.0, (7 - 23.5) * 0.8 / 60.0, 0.8], atol=1e-6)


def test_naive_baseline_crops_the_same_points_as_the_optimised_pipeline():
    camera = tabletop_camera(160, 120)
    depth = synthetic_tabletop_depth(camera)
    contract = PointCloudContract(num_points=256, voxel_size_m=0.0)
    naive_cloud, naive_counts = naive_point_cloud(depth, camera, contract)
    cloud, counts = depth_to_point_cloud_with_counts(depth, camera, contract)
    assert naive_counts == counts
    assert naive_cloud.shape == cloud.shape == (256, 3)
    # The baseline samples (with fpsample) from the same cropped set, up to float32 rounding of its
    # float64 math.
    cropped, _ = workspace_points(depth, camera, contract)
    gap = np.abs(naive_cloud[:, None, :] - cropped[None, :, :]).max(axis=2).min(axis=1)
    assert gap.max() < 1e-5
