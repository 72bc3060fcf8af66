"""Bad input to the point-cloud contract gets a clear error that names what was wrong."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mtdagger.perception import (
    CameraModel,
    EmptyPointCloudError,
    PointCloudContract,
    depth_from_16uc1,
    depth_to_point_cloud,
    sample_fixed_size,
    sampling,
)

WIDTH, HEIGHT = 32, 24
CONTRACT = PointCloudContract(
    num_points=32, workspace_min=(-1, -1, 0), workspace_max=(1, 1, 2), voxel_size_m=0.0
)


def camera() -> CameraModel:
    return CameraModel(WIDTH, HEIGHT, 30.0, 30.0, 15.5, 11.5, np.eye(4))


def valid_depth() -> np.ndarray:
    return np.full((HEIGHT, WIDTH), 1.0, np.float32)


def test_all_invalid_depth_raises_empty_with_counts():
    depth = np.zeros((HEIGHT, WIDTH), np.float32)
    depth[0, :4] = np.nan
    depth[1, :3] = 9.0
    with pytest.raises(EmptyPointCloudError, match="no valid depth") as error:
        depth_to_point_cloud(depth, camera(), CONTRACT)
    message = str(error.value)
    assert f"0 of {WIDTH * HEIGHT} pixels" in message
    assert f"{WIDTH * HEIGHT - 7} zero" in message and "4 NaN/inf" in message and "3 out of range" in message


def test_everything_outside_the_crop_box_raises_empty_naming_the_box():
    shifted = np.eye(4)
    shifted[:3, 3] = [10.0, 0.0, 0.0]
    with pytest.raises(EmptyPointCloudError, match=rf"all {WIDTH * HEIGHT} points .* outside the workspace"):
        depth_to_point_cloud(valid_depth(), dataclasses.replace(camera(), T_base_camera=shifted), CONTRACT)


def test_empty_cloud_error_is_a_value_error():
    assert issubclass(EmptyPointCloudError, ValueError)


@pytest.mark.parametrize(
    ("depth", "pattern"),
    [
        (np.ones((HEIGHT, WIDTH, 1), np.float32), r"2-D .* shape \(24, 32, 1\)"),
        (np.ones(HEIGHT * WIDTH, np.float32), r"2-D"),
        (np.ones((WIDTH, HEIGHT), np.float32), r"shape \(32, 24\) does not match .* \(24, 32\)"),
        (np.ones((HEIGHT, WIDTH), np.complex64), r"real floating-point .* complex64"),
        (np.ones((HEIGHT, WIDTH), bool), r"real floating-point .* bool"),
        (np.full((HEIGHT, WIDTH), "1.0"), r"real floating-point"),
        (np.full((HEIGHT, WIDTH), 1000, np.uint16), r"integer dtype uint16.*depth_from_16uc1"),
    ],
    ids=["3-D", "flat", "transposed", "complex", "bool", "string", "uint16-millimetres"],
)
def test_malformed_depth_is_rejected_by_name(depth, pattern):
    with pytest.raises(ValueError, match=pattern):
        depth_to_point_cloud(depth, camera(), CONTRACT)


def test_float64_and_float16_depth_are_accepted():
    for dtype in (np.float64, np.float16):
        cloud = depth_to_point_cloud(valid_depth().astype(dtype), camera(), CONTRACT)
        np.testing.assert_allclose(cloud[:, 2], 1.0, atol=1e-6)


@pytest.mark.parametrize("field", ["fx", "fy", "cx", "cy"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_intrinsics_are_rejected(field, value):
    # CameraModel accepts fx=inf (it only checks > 0) and any cx/cy, so the cloud function checks.
    broken = camera()
    object.__setattr__(broken, field, value)
    with pytest.raises(ValueError, match=f"intrinsics must be finite.*{field}={value}"):
        depth_to_point_cloud(valid_depth(), broken, CONTRACT)


def test_pose_made_non_finite_after_construction_is_rejected():
    broken = camera()
    broken.T_base_camera[0, 3] = np.nan  # the array is mutable even though the dataclass is frozen
    with pytest.raises(ValueError, match="T_base_camera must be a finite 4x4"):
        depth_to_point_cloud(valid_depth(), broken, CONTRACT)


def test_wrong_camera_and_rng_types_are_rejected():
    with pytest.raises(TypeError, match="CameraModel"):
        depth_to_point_cloud(valid_depth(), {"fx": 30.0}, CONTRACT)
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator"):
        depth_to_point_cloud(valid_depth(), camera(), CONTRACT, rng=42)


@pytest.mark.parametrize(
    ("depth_mm", "pattern"),
    [
        (np.ones((4, 4), np.float32), "integer array of millimetres, got dtype float32"),
        (np.ones((4, 4, 1), np.uint16), r"2-D .* shape \(4, 4, 1\)"),
        (np.array([[1, -5]], np.int32), "negative"),
    ],
)
def test_bad_16uc1_is_rejected(depth_mm, pattern):
    with pytest.raises(ValueError, match=pattern):
        depth_from_16uc1(depth_mm)


def test_sampling_helpers_refuse_impossible_requests():
    points = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match="cannot pick 6 points by FPS from 5"):
        sampling.farthest_point_indices(points, 6)
    with pytest.raises(ValueError, match="start index 5"):
        sampling.farthest_point_indices(points, 2, start_index=5)
    with pytest.raises(ValueError, match="zero surviving"):
        sampling.repeat_padding_indices(0, 8)
    with pytest.raises(ValueError, match="voxel_size_m must be positive"):
        sampling.voxel_grid_indices(points.T, 0.0, np.zeros(3), np.ones(3))
    with pytest.raises(EmptyPointCloudError):
        sample_fixed_size(np.zeros((0, 3), np.float32), 8)
    with pytest.raises(ValueError, match=r"\(K, 3\), got shape \(8, 2\)"):
        sample_fixed_size(np.zeros((8, 2), np.float32), 4)
