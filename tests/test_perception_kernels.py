"""The compiled contract kernels equal their NumPy statements, bit for bit.

`workspace_points` (fused numba pass) against `workspace_points_reference` (NumPy passes), and
`farthest_point_indices` (bucketed numba FPS) against `sampling.textbook_fps`, on random depth
images with every kind of invalid pixel, on the benchmark's tabletop and on MetaWorld renders.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from mtdagger.bench.perception import look_at, synthetic_tabletop_depth, tabletop_camera
from mtdagger.perception import CameraModel, PointCloudContract, kernels, sampling
from mtdagger.perception.pointcloud import (
    EmptyPointCloudError,
    workspace_points,
    workspace_points_reference,
)

CONTRACTS = {
    "no voxel": PointCloudContract(voxel_size_m=0.0),
    "5 mm": PointCloudContract(),
    "1 cm, small box": PointCloudContract(
        workspace_min=(-0.3, 0.4, -0.01), workspace_max=(0.3, 0.9, 0.3), voxel_size_m=0.01
    ),
    "zero min depth": PointCloudContract(min_depth_m=0.0, max_depth_m=1.6, voxel_size_m=0.02),
}


def random_depth(camera: CameraModel, rng: np.random.Generator) -> np.ndarray:
    """Plausible depth with every defect the contract must drop: 0, NaN, ±inf, negative, out of range."""
    depth = rng.uniform(0.05, 3.0, (camera.height, camera.width)).astype(np.float32)
    for value, fraction in ((0.0, 0.05), (np.nan, 0.02), (np.inf, 0.01), (-np.inf, 0.01), (-0.5, 0.01)):
        depth[rng.random(depth.shape) < fraction] = value
    return depth


def random_camera(rng: np.random.Generator, width: int = 96, height: int = 72) -> CameraModel:
    position = np.array([rng.uniform(-0.8, 0.8), rng.uniform(-0.2, 1.6), rng.uniform(0.3, 1.2)])
    target = np.array([rng.uniform(-0.3, 0.3), rng.uniform(0.5, 0.9), 0.0])
    f = rng.uniform(60, 120)
    return CameraModel(width, height, f, f * rng.uniform(0.95, 1.05), width / 2 - 0.3, height / 2 + 0.7,
                       look_at(position, target))  # fmt: skip


def assert_same_front_end(depth: np.ndarray, camera: CameraModel, contract: PointCloudContract) -> None:
    try:
        expected, expected_counts = workspace_points_reference(depth, camera, contract)
    except EmptyPointCloudError as error:
        with pytest.raises(EmptyPointCloudError, match=str(error)[:30]):
            workspace_points(depth, camera, contract)
        return
    points, counts = workspace_points(depth, camera, contract)
    assert counts == expected_counts
    assert points.dtype == np.float32 and points.flags.c_contiguous
    np.testing.assert_array_equal(points, expected)


@pytest.mark.parametrize("name", CONTRACTS)
def test_fused_front_end_equals_numpy_reference_on_random_images(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    for _ in range(6):
        camera = random_camera(rng)
        assert_same_front_end(random_depth(camera, rng), camera, CONTRACTS[name])


def test_fused_front_end_equals_numpy_reference_on_the_tabletop():
    camera = tabletop_camera()
    for noise in (0.0, 1.5e-3):
        depth = synthetic_tabletop_depth(camera, seed=3, noise_at_1m_m=noise)
        assert_same_front_end(depth, camera, PointCloudContract())


def test_huge_grids_take_the_sorted_path_and_keep_the_same_voxels(monkeypatch):
    monkeypatch.setattr(kernels, "MAX_BITSET_CELLS", 0)
    rng = np.random.default_rng(4)
    camera = random_camera(rng)
    assert_same_front_end(random_depth(camera, rng), camera, PointCloudContract(voxel_size_m=0.02))


def test_voxel_bitset_is_left_clear_so_frames_do_not_leak_into_each_other():
    camera = tabletop_camera(160, 120)
    contract = PointCloudContract()
    first = synthetic_tabletop_depth(camera, seed=1)
    workspace_points(first, camera, contract)
    occupied = kernels.voxel_bitset(1)
    assert not occupied.any()
    # A second, different frame sees all of its own voxels, none hidden by the first's.
    assert_same_front_end(synthetic_tabletop_depth(camera, seed=2, noise_at_1m_m=2e-3), camera, contract)


def test_voxel_representative_is_the_first_pixel_of_each_voxel():
    camera = CameraModel(4, 1, 100.0, 100.0, 1.5, 0.0, np.eye(4))
    depth = np.full((1, 4), 1.0, np.float32)  # four pixels ~1 cm apart at 1 m
    contract = PointCloudContract(workspace_min=(-0.9, -1, 0.6), workspace_max=(1, 1, 1.5), voxel_size_m=0.5)
    points, counts = workspace_points(depth, camera, contract)
    assert counts.after_voxel == 1
    np.testing.assert_allclose(points[0], [-0.015, 0.0, 1.0], atol=1e-7)  # pixel u=0, not u=1..3


# --- farthest point sampling ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    ["uniform cube", "thin slab", "two clusters", "duplicates", "tiny"],
)
def test_bucketed_fps_equals_textbook_fps(shape):
    rng = np.random.default_rng(len(shape))
    points = rng.uniform(-0.5, 0.5, (5000, 3)).astype(np.float32)
    if shape == "thin slab":
        points[:, 2] *= 0.01
    elif shape == "two clusters":
        points[:2500] *= 0.01
        points[2500:] = points[2500:] * 0.01 + np.float32(2.0)
    elif shape == "duplicates":  # exact ties everywhere: the lowest index must win, as in np.argmax
        points = np.repeat(np.round(points[:300] * 4) / 4, 10, axis=0)
    elif shape == "tiny":
        points = points[:7]
    count = len(points)
    for start in (0, count // 3, count - 1):
        samples = min(200, count - 1)
        chosen = sampling.farthest_point_indices(points, samples, start)
        assert chosen[0] == start
        np.testing.assert_array_equal(chosen, sampling.textbook_fps(points, samples, start))


def test_bucketed_fps_equals_textbook_fps_on_tabletop_voxel_survivors():
    camera = tabletop_camera(320, 240)
    survivors, _ = workspace_points(synthetic_tabletop_depth(camera, noise_at_1m_m=1.5e-3), camera,
                                    PointCloudContract())  # fmt: skip
    assert len(survivors) > 5000
    chosen = sampling.farthest_point_indices(survivors, 1024, 17)
    np.testing.assert_array_equal(chosen, sampling.textbook_fps(survivors, 1024, 17))


def test_fps_refuses_non_finite_points():
    points = np.zeros((10, 3), np.float32)
    points[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        sampling.farthest_point_indices(points, 4)


WARM_UP_PROBE = """
import numpy as np
from mtdagger.bench.perception import synthetic_tabletop_depth, tabletop_camera
from mtdagger.perception import PointCloudContract, fps_kernel, kernels
from mtdagger.perception.pointcloud import depth_to_point_cloud, warm_up

def count():
    return len(kernels.fused_front_end.signatures) + len(fps_kernel.bucketed_fps.signatures)

assert count() == 0
warm_up()
before = count()
camera = tabletop_camera(160, 120)
depth = synthetic_tabletop_depth(camera)
read_only = depth.copy()
read_only.flags.writeable = False
for contract in (PointCloudContract(num_points=256), PointCloudContract(voxel_size_m=0.0)):
    for image in (depth, read_only, depth.astype(np.float64)):
        depth_to_point_cloud(image, camera, contract, np.random.default_rng(0))
print("signatures", before, count())
"""


def test_warm_up_compiles_every_signature_the_pipeline_uses():
    """In a fresh interpreter: after `warm_up()` real frames (writable, read-only, float64 depth)
    compile nothing, so the first control step pays no JIT."""
    result = subprocess.run(
        [sys.executable, "-c", WARM_UP_PROBE], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    before, after = map(int, result.stdout.split()[-2:])
    assert before > 0 and after == before


# --- MetaWorld renders ----------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("task", ["drawer-open-v3", "pick-place-v3"])
def test_kernels_equal_numpy_on_metaworld_depth(task):
    from sim_bridge.camera.sim_camera import SimCameraConfig
    from sim_bridge.metaworld.backend import MetaWorldBackendConfig

    camera = SimCameraConfig(width=640, height=480, fx=615.0, fy=615.0, cx=319.5, cy=239.5)
    backend = MetaWorldBackendConfig(tasks=(task,), camera=camera, render_depth=False).build()
    try:
        backend.reset(task, seed=3)
        frame = backend.render_depth()
    finally:
        backend.close()
    contract = PointCloudContract()
    assert_same_front_end(frame.depth_m, frame.camera, contract)
    assert_same_front_end(frame.depth_m, frame.camera, dataclasses.replace(contract, voxel_size_m=0.0))
    survivors, counts = workspace_points(frame.depth_m, frame.camera, contract)
    assert counts.after_voxel > 1024
    chosen = sampling.farthest_point_indices(survivors, 1024, 5)
    np.testing.assert_array_equal(chosen, sampling.textbook_fps(survivors, 1024, 5))
