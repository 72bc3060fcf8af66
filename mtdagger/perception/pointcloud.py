"""The point-cloud contract's one implementation: metric depth image -> N points in the base frame.

Simulation, training data and the real robot all call `depth_to_point_cloud` with the same
`PointCloudContract`, so a policy sees the same kind of cloud everywhere (DESIGN.md §3).

Pipeline, in this order (each stage only touches what survived the previous one):
1. validity: depth that is 0, NaN, ±inf, negative, < min_depth_m or > max_depth_m is dropped here,
   before any 3-D math, so it can never become a point at the camera or base origin;
2. back-projection X=(u−cx)·z/fx, Y=(v−cy)·z/fy, Z=z (depth_image_proc's math) fused with the
   transform into the base frame: p = t + z·(R·ray(u, v)), with the rotated rays cached per camera;
3. crop to the workspace box (inclusive bounds, base frame);
4. optional voxel grid anchored at workspace_min, one existing point per occupied voxel: the first
   surviving pixel in row-major order (see `sampling.voxel_grid_indices`);
5. optional table-following crop (table_band_m > 0): the table plane is fitted in the survivors
   and what lies less than table_band_m above it is dropped (`table_plane.above_table`);
6. farthest point sampling to exactly N from the survivors, started at survivor 0 or a random one
   (exact FPS, see `sampling.farthest_point_indices`);
7. padding rule "repeat" when fewer than N survive (see `sampling.repeat_padding_indices`), the
   survivors first put in farthest-point order, so any prefix of a cloud is itself an FPS sample.
If nothing survives, `EmptyPointCloudError` says which stage removed everything.

Stages 1-4 run as one compiled pass over the image (`kernels.fused_front_end`, numba);
`workspace_points_reference` states them in NumPy and the two are tested to agree bit for bit.
Stage 5 is one function of the survivors, shared by both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from mtdagger.perception import kernels, sampling, table_plane
from mtdagger.perception.camera_model import CameraModel
from mtdagger.perception.contract import PointCloudContract
from mtdagger.perception.sampling import (
    farthest_point_indices,
    farthest_point_order,
    repeat_padding_indices,
    voxel_grid_indices,
)

# RealSense / ROS 16UC1 depth is in millimetres (realsense-ros rescales Z16 to mm on every model).
DEPTH_16UC1_SCALE_M = 0.001


class EmptyPointCloudError(ValueError):
    """No point survived validity filtering and cropping, so there is nothing to sample from.

    A ValueError so callers that guard bad input generically still catch it; the deployment loop
    catches it specifically and holds the arm still instead of feeding the policy an invented cloud.
    """


@dataclass(frozen=True)
class StageCounts:
    """How many points survived each stage: the first thing to look at when a cloud looks wrong."""

    pixels: int
    valid_depth: int
    in_workspace: int
    after_voxel: int
    # After the table-following crop; equal to after_voxel when the contract has none.
    after_table: int

    def padding_for(self, num_points: int) -> int:
        """How many repeated points the "repeat" rule adds to reach `num_points` (0 if none)."""
        return max(0, num_points - self.after_table)


def depth_from_16uc1(depth_mm: np.ndarray) -> np.ndarray:
    """RealSense / ROS `16UC1` depth (millimetres, integer) -> float32 metres.

    0 means "no measurement" in 16UC1 and stays 0.0, which `depth_to_point_cloud` drops as invalid.
    """
    depth_mm = np.asarray(depth_mm)
    if depth_mm.dtype.kind not in "ui":
        raise ValueError(f"16UC1 depth must be an integer array of millimetres, got dtype {depth_mm.dtype}")
    if depth_mm.ndim != 2:
        raise ValueError(f"16UC1 depth must be a 2-D (height, width) image, got shape {depth_mm.shape}")
    if depth_mm.dtype.kind == "i" and depth_mm.size and depth_mm.min() < 0:
        raise ValueError("16UC1 depth cannot be negative millimetres")
    return depth_mm.astype(np.float32) * np.float32(DEPTH_16UC1_SCALE_M)


def depth_to_point_cloud(
    depth_m: np.ndarray,
    camera: CameraModel,
    contract: PointCloudContract,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Metric depth image -> (contract.num_points, 3) float32 points in the robot base frame.

    `depth_m` is (camera.height, camera.width) floating-point metres; NaN, ±inf, 0, negative and
    out-of-range pixels are dropped (they are "no measurement", never points). `rng` randomises the
    FPS start point and the padding draws (training-time augmentation); with rng=None the result is
    a pure function of the inputs. Raises `EmptyPointCloudError` when no point survives,
    `ValueError` for a malformed image or camera.
    """
    points, _ = depth_to_point_cloud_with_counts(depth_m, camera, contract, rng)
    return points


def depth_to_point_cloud_with_counts(
    depth_m: np.ndarray,
    camera: CameraModel,
    contract: PointCloudContract,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, StageCounts]:
    """`depth_to_point_cloud` plus the number of points that survived each stage."""
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or None, got {type(rng).__name__}")
    # The survivors stay in the kernel's scratch buffer (no copy): sampling gathers its own array,
    # and the front end's points are finite by construction.
    survivors, counts = _front_end(depth_m, camera, contract)
    return sample_fixed_size(survivors, contract.num_points, rng, check_finite=False), counts


def workspace_points(
    depth_m: np.ndarray, camera: CameraModel, contract: PointCloudContract
) -> tuple[np.ndarray, StageCounts]:
    """Stages 1-5 (validity, back-projection + transform, crop, voxel grid, table): every point
    the contract keeps before sampling to N, as (K, 3) float32 in the base frame, K >= 1.

    One compiled kernel over the image (`kernels.fused_front_end`); bit-identical to
    `workspace_points_reference`, the NumPy statement of the same stages (tested). Useful on its own
    for visualising what the camera contributes and for timing FPS separately.
    """
    points, counts = _front_end(depth_m, camera, contract)
    return (points if points.base is None else points.copy()), counts


def _front_end(
    depth_m: np.ndarray, camera: CameraModel, contract: PointCloudContract
) -> tuple[np.ndarray, StageCounts]:
    """`workspace_points`, possibly returning a view of this thread's kernel scratch buffer (valid
    until the thread's next call)."""
    camera_key = _camera_key(camera)
    flat_depth = np.ascontiguousarray(_checked_depth(depth_m, camera)).reshape(-1)
    rays, origin = _rays_in_base_frame(*camera_key)
    box_min = np.asarray(contract.workspace_min, dtype=np.float32)
    box_max = np.asarray(contract.workspace_max, dtype=np.float32)
    out, keys, keep = kernels.output_buffers(flat_depth.size)
    dims, cells = _voxel_dims(contract)
    if contract.voxel_size_m <= 0:
        mode, occupied = kernels.NO_VOXEL, _NO_BITSET
    elif cells <= kernels.MAX_BITSET_CELLS:
        mode, occupied = kernels.DENSE_VOXEL, kernels.voxel_bitset(cells)
    else:
        mode, occupied = kernels.KEYS_ONLY, _NO_BITSET
    valid, inside, written = kernels.fused_front_end(
        flat_depth, rays, origin.reshape(3), box_min, box_max,
        np.float32(contract.min_depth_m), np.float32(contract.max_depth_m), contract.min_depth_m <= 0,
        box_min, np.float32(1.0 / contract.voxel_size_m) if contract.voxel_size_m > 0 else np.float32(0),
        dims, mode, occupied, out, keys, keep,
    )  # fmt: skip
    _raise_if_empty(flat_depth, contract, valid, inside)
    if mode == kernels.KEYS_ONLY:
        points = out.take(np.sort(np.unique(keys[:written], return_index=True)[1]), axis=0)
    else:
        points = out[:written]
    counts = StageCounts(flat_depth.size, valid, inside, points.shape[0], points.shape[0])
    return _cut_table(points, counts, contract)


def workspace_points_reference(
    depth_m: np.ndarray, camera: CameraModel, contract: PointCloudContract
) -> tuple[np.ndarray, StageCounts]:
    """`workspace_points` written with NumPy array passes: the readable statement of stages 1-4
    that the compiled kernel is tested against (same points, same order, same counts)."""
    camera_key = _camera_key(camera)
    depth = _checked_depth(depth_m, camera)
    rays, origin = _rays_in_base_frame(*camera_key)

    # Gathers use take/flatnonzero rather than boolean or fancy indexing: on NumPy 2 they are
    # several times faster at these sizes.
    flat_depth = depth.reshape(-1)
    pixel_index = np.flatnonzero(_valid_depth_mask(flat_depth, contract))
    _raise_if_empty(flat_depth, contract, pixel_index.size, 1)

    points = rays.take(pixel_index, axis=1)  # (3, M): row-contiguous coordinates, cheap to crop
    points *= flat_depth.take(pixel_index)
    points += origin

    box_min = np.asarray(contract.workspace_min, dtype=np.float32)
    box_max = np.asarray(contract.workspace_max, dtype=np.float32)
    inside = points[0] >= box_min[0]
    inside &= points[0] <= box_max[0]
    for axis in (1, 2):
        inside &= points[axis] >= box_min[axis]
        inside &= points[axis] <= box_max[axis]
    points = points.take(np.flatnonzero(inside), axis=1)
    in_workspace = points.shape[1]
    _raise_if_empty(flat_depth, contract, pixel_index.size, in_workspace)

    if contract.voxel_size_m > 0:
        points = points.take(voxel_grid_indices(points, contract.voxel_size_m, box_min, box_max), axis=1)
    counts = StageCounts(
        pixels=flat_depth.size,
        valid_depth=int(pixel_index.size),
        in_workspace=in_workspace,
        after_voxel=points.shape[1],
        after_table=points.shape[1],
    )
    return _cut_table(np.ascontiguousarray(points.T), counts, contract)


def _cut_table(
    points: np.ndarray, counts: StageCounts, contract: PointCloudContract
) -> tuple[np.ndarray, StageCounts]:
    """Stage 5, the table-following crop, when the contract asks for it."""
    if contract.table_band_m <= 0:
        return points, counts
    kept = table_plane.above_table(points, contract.table_band_m)
    if kept.shape[0] == 0:
        raise EmptyPointCloudError(
            f"all {points.shape[0]} points in the workspace lie less than table_band_m = "
            f"{contract.table_band_m} m above the table fitted in the cloud"
        )
    return kept, replace(counts, after_table=kept.shape[0])


def _raise_if_empty(flat_depth: np.ndarray, contract: PointCloudContract, valid: int, inside: int) -> None:
    if valid == 0:
        raise EmptyPointCloudError(_no_valid_depth_message(flat_depth, contract))
    if inside == 0:
        raise EmptyPointCloudError(
            f"all {valid} points with valid depth lie outside the workspace box "
            f"{contract.workspace_min} .. {contract.workspace_max} (base frame, m); "
            "check T_base_camera and the crop box"
        )


_NO_BITSET = np.zeros(1, dtype=np.uint8)


def _voxel_dims(contract: PointCloudContract) -> tuple[np.ndarray, int]:
    """Cells per axis of the voxel grid anchored at workspace_min, and their product."""
    if contract.voxel_size_m <= 0:
        return np.ones(3, dtype=np.int64), 1
    dims = sampling.voxel_grid_dims(contract.voxel_size_m, contract.workspace_min, contract.workspace_max)
    return dims, int(np.prod(dims))


def sample_fixed_size(
    points: np.ndarray, num_points: int, rng: np.random.Generator | None = None, *, check_finite: bool = True
) -> np.ndarray:
    """Stages 5-6: exactly `num_points` rows of `points` ((K, 3) float32, K >= 1).

    K > num_points: farthest point sampling from index 0 (rng=None) or a random start (rng).
    K <= num_points: the "repeat" padding rule (every point once, then repeats; never zeros), with
    the survivors first put in farthest-point order from the same start. Either way, the first n
    rows are the n-point farthest-point sample of the survivors, whatever num_points >= n is.
    """
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (K, 3), got shape {points.shape}")
    count = points.shape[0]
    if count == 0:
        raise EmptyPointCloudError("no points to sample from")
    start = 0 if rng is None else int(rng.integers(count))
    if count > num_points:
        chosen = farthest_point_indices(points, num_points, start, check_finite=check_finite)
    else:
        order = farthest_point_order(points, start, check_finite=check_finite)
        chosen = order.take(repeat_padding_indices(count, num_points, rng))
    return points.take(chosen, axis=0)


_warm = False


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel signature the pipeline uses, by running it
    on a tiny frame: with and without the voxel grid, the huge-grid path, writable and read-only
    depth (numba types a read-only array apart). Call it where a pipeline is built (the deployment
    stage, the ROS node), so the first control step pays no JIT."""
    global _warm
    if _warm:
        return
    camera = CameraModel(8, 6, 5.0, 5.0, 3.5, 2.5, np.eye(4))
    depth = np.full((6, 8), 1.0, dtype=np.float32)
    depth[0, 0] = 0.0
    read_only = depth.copy()
    read_only.flags.writeable = False
    box = {"workspace_min": (-2.0, -2.0, 0.5), "workspace_max": (2.0, 2.0, 1.5)}
    for voxel in (0.0, 0.01, 1e-4):  # no grid, bitset, keys + sort (1e12 cells)
        contract = PointCloudContract(num_points=4, voxel_size_m=voxel, **box)
        for image in (depth, read_only):
            depth_to_point_cloud(image, camera, contract)
    points = np.random.default_rng(0).random((64, 3)).astype(np.float32)
    points.flags.writeable = False
    sample_fixed_size(points, 4)
    _warm = True


def _checked_depth(depth_m: np.ndarray, camera: CameraModel) -> np.ndarray:
    depth = np.asarray(depth_m)
    kind = depth.dtype.kind
    if kind in "ui":
        raise ValueError(
            f"depth_m has integer dtype {depth.dtype}; it must be floating-point metres "
            "(convert RealSense 16UC1 millimetres with depth_from_16uc1)"
        )
    if kind != "f":
        raise ValueError(f"depth_m must be a real floating-point array of metres, got dtype {depth.dtype}")
    if depth.ndim != 2:
        raise ValueError(f"depth_m must be a 2-D (height, width) image, got shape {depth.shape}")
    if depth.shape != (camera.height, camera.width):
        raise ValueError(
            f"depth_m shape {depth.shape} does not match the camera's (height, width) "
            f"= ({camera.height}, {camera.width})"
        )
    return depth.astype(np.float32, copy=False)


def _valid_depth_mask(flat_depth: np.ndarray, contract: PointCloudContract) -> np.ndarray:
    # NaN fails every comparison and +inf fails the upper bound, so two comparisons cover them;
    # zero needs its own test only when the contract allows a zero minimum depth.
    valid = flat_depth >= np.float32(contract.min_depth_m)
    valid &= flat_depth <= np.float32(contract.max_depth_m)
    if contract.min_depth_m <= 0:
        valid &= flat_depth > 0
    return valid


def _no_valid_depth_message(flat_depth: np.ndarray, contract: PointCloudContract) -> str:
    non_finite = int(np.count_nonzero(~np.isfinite(flat_depth)))
    zero = int(np.count_nonzero(flat_depth == 0))
    out_of_range = flat_depth.size - non_finite - zero
    return (
        f"no valid depth: 0 of {flat_depth.size} pixels lie in [{contract.min_depth_m}, "
        f"{contract.max_depth_m}] m ({zero} zero, {non_finite} NaN/inf, {out_of_range} out of range)"
    )


def _camera_key(camera: CameraModel) -> tuple:
    if not isinstance(camera, CameraModel):
        raise TypeError(f"camera must be a CameraModel, got {type(camera).__name__}")
    intrinsics = (camera.fx, camera.fy, camera.cx, camera.cy)
    if not all(np.isfinite(value) for value in intrinsics):
        raise ValueError(
            f"camera intrinsics must be finite, got fx={camera.fx}, fy={camera.fy}, "
            f"cx={camera.cx}, cy={camera.cy}"
        )
    transform = np.asarray(camera.T_base_camera, dtype=np.float64)
    if transform.shape != (4, 4) or not np.all(np.isfinite(transform)):
        raise ValueError("camera.T_base_camera must be a finite 4x4 matrix")
    return (camera.width, camera.height, *(float(v) for v in intrinsics), transform.tobytes())


# A few cameras at once (multi-camera rigs, per-episode randomised poses); each entry is 12 bytes a pixel.
@lru_cache(maxsize=4)
def _rays_in_base_frame(
    width: int, height: int, fx: float, fy: float, cx: float, cy: float, transform_bytes: bytes
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel ray directions rotated into the base frame, (3, H·W) float32, and the camera origin.

    A point at depth z along pixel (u, v) is origin + z·ray: the depth_image_proc back-projection
    and the rigid transform folded into one multiply-add. Cached per camera (intrinsics + pose), so
    the per-frame cost is a gather, not a matrix product over every pixel.
    """
    transform = np.frombuffer(transform_bytes, dtype=np.float64).reshape(4, 4)
    u = (np.arange(width, dtype=np.float64) - cx) / fx
    v = (np.arange(height, dtype=np.float64) - cy) / fy
    optical = np.empty((3, height, width), dtype=np.float64)
    optical[0] = u[None, :]
    optical[1] = v[:, None]
    optical[2] = 1.0
    rays = (transform[:3, :3] @ optical.reshape(3, -1)).astype(np.float32)
    origin = transform[:3, 3].astype(np.float32).reshape(3, 1)
    rays.flags.writeable = False
    origin.flags.writeable = False
    return rays, origin
