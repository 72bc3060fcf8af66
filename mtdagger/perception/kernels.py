"""Compiled (numba) kernels for the point-cloud contract: the fused front end and bucketed FPS.

Why compiled: the NumPy pipeline makes ~10 passes over a 640×480 image (mask, gather, multiply,
add, six box compares, key arithmetic) and FPS over tens of thousands of voxel survivors costs
several milliseconds even in fpsample's QuickFPS. Both kernels here compute exactly what the NumPy
reference computes (`pointcloud.workspace_points_reference`, `sampling.textbook_fps`): the same
float32 operations in the same order (numba does not contract a*b+c into an FMA unless fastmath
is on, and it is off), so results are bit-identical, which the tests check.

`cache=True` stores the machine code beside this file (or in numba's user cache when the package
is read-only); `warm_up()` loads or compiles it, so constructors call it and the first control
step never pays for a JIT.
"""

from __future__ import annotations

import threading

import numba
import numpy as np

# Voxel-key modes of `fused_front_end`.
NO_VOXEL = 0  # every in-box point is kept
DENSE_VOXEL = 1  # dedup here against a dense occupancy bitset (one bit per voxel)
KEYS_ONLY = 2  # emit every in-box point with its int64 voxel key; the caller dedups (huge grids)

# Grids above this many cells (a 32 MB bitset, e.g. 1 mm voxels over a 1.2×0.8×0.6 m box) use
# KEYS_ONLY and a sort instead.
MAX_BITSET_CELLS = 1 << 28


@numba.njit(cache=True, nogil=True, boundscheck=False)
def fused_front_end(
    depth, rays, origin, box_min, box_max, min_depth, max_depth, drop_zero,
    grid_min, inverse_size, dims, mode, occupied, out, keys,
):  # fmt: skip
    """One pass over the image: validity, back-projection into the base frame, crop, voxel dedup.

    Pixels are visited in row-major order; a voxel's representative is the FIRST surviving pixel
    that falls into it, and points come out in ascending pixel order. Returns
    (valid_depth, in_workspace, written); rows [0, written) of `out` (and `keys` in KEYS_ONLY mode)
    hold the result. All floating-point inputs are float32 so the arithmetic matches NumPy's.
    """
    valid = 0
    inside = 0
    written = 0
    for i in range(depth.shape[0]):
        z = depth[i]
        if not (z >= min_depth and z <= max_depth):  # NaN fails both
            continue
        if drop_zero and not z > 0:
            continue
        valid += 1
        x = rays[0, i] * z + origin[0]
        if x < box_min[0] or x > box_max[0]:
            continue
        y = rays[1, i] * z + origin[1]
        if y < box_min[1] or y > box_max[1]:
            continue
        w = rays[2, i] * z + origin[2]
        if w < box_min[2] or w > box_max[2]:
            continue
        inside += 1
        if mode != NO_VOXEL:
            # In the box, so offsets are >= 0 and truncation equals floor. x varies fastest: image
            # rows run roughly along the table's x, so neighbouring pixels hit neighbouring cells.
            key = np.int64((w - grid_min[2]) * inverse_size)
            key = key * dims[1] + np.int64((y - grid_min[1]) * inverse_size)
            key = key * dims[0] + np.int64((x - grid_min[0]) * inverse_size)
            if mode == DENSE_VOXEL:
                byte, bit = key >> 3, np.uint8(1 << (key & 7))
                if occupied[byte] & bit:
                    continue
                occupied[byte] |= bit
            keys[written] = key
        out[written, 0] = x
        out[written, 1] = y
        out[written, 2] = w
        written += 1
    if mode == DENSE_VOXEL:
        # Leave the bitset all-zero for the next call: clearing only the bytes this call touched
        # costs one write per kept point instead of a pass over the whole grid.
        for k in range(written):
            occupied[keys[k] >> 3] = 0
    return valid, inside, written


@numba.njit(cache=True, nogil=True, boundscheck=False, fastmath={"nnan", "ninf"})
def _update_bucket(xs, ys, zs, nearest, begin, end, sx, sy, sz):
    """Lower each point's distance to the sample set by the new sample; return (max, its index).

    Split into a branch-free loop (vectorised: min/max reductions, which LLVM only vectorises when
    told there are no NaN or inf, true of the finite points given) and a scan for the first index
    holding the maximum, so ties still go to the lowest index.
    """
    top = np.float32(0.0)
    for j in range(begin, end):
        ex = xs[j] - sx
        ey = ys[j] - sy
        ez = zs[j] - sz
        d = ex * ex + ey * ey + ez * ez
        value = min(nearest[j], d)
        nearest[j] = value
        top = max(top, value)
    for j in range(begin, end):
        if nearest[j] == top:
            return top, j
    return top, begin


@numba.njit(cache=True, nogil=True, boundscheck=False, fastmath={"nnan", "ninf"})
def _first_maximum(bucket_max, bucket_arg, order):
    """The point holding the largest distance; among equal maxima the lowest original index."""
    top = bucket_max[0]
    for b in range(bucket_max.shape[0]):
        top = max(top, bucket_max[b])
    best = np.int64(-1)
    for b in range(bucket_max.shape[0]):
        if bucket_max[b] == top and (best < 0 or order[bucket_arg[b]] < order[best]):
            best = bucket_arg[b]
    return best


@numba.njit(cache=True, nogil=True, boundscheck=False)
def bucketed_fps(points, num_samples, start, grid_cells):
    """Exact farthest point sampling, accelerated by culling whole buckets of points.

    Points are bucketed on a coarse grid (`grid_cells` cells along the longest side of their
    bounding box). A bucket whose bounding box is no closer to the new sample than its largest
    current distance cannot change, so it is skipped; this is the QuickFPS idea with a grid
    instead of a KD-tree, which is cheap to build per call. Distances are squared float32
    computed as dx*dx + dy*dy + dz*dz; the box bound uses the same operations on the box corner,
    and rounding is monotone, so culling never skips a point the textbook loop would update.
    Ties go to the lowest index, as `np.argmax` does, so the picks equal textbook FPS from `start`.
    """
    count = points.shape[0]
    lo = np.empty(3, np.float32)
    hi = np.empty(3, np.float32)
    for axis in range(3):
        lo[axis] = points[0, axis]
        hi[axis] = points[0, axis]
    for i in range(count):
        for axis in range(3):
            value = points[i, axis]
            if value < lo[axis]:
                lo[axis] = value
            if value > hi[axis]:
                hi[axis] = value
    extent = max(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2])
    inverse = np.float32(grid_cells / extent) if extent > 0 else np.float32(0.0)
    dims = np.empty(3, np.int64)
    for axis in range(3):
        dims[axis] = min(np.int64((hi[axis] - lo[axis]) * inverse), grid_cells - 1) + 1
    cell = np.empty(count, np.int64)
    occupancy = np.zeros(dims[0] * dims[1] * dims[2] + 1, np.int64)
    for i in range(count):
        key = np.int64(0)
        for axis in range(3):
            index = min(np.int64((points[i, axis] - lo[axis]) * inverse), dims[axis] - 1)
            key = key * dims[axis] + index
        cell[i] = key
        occupancy[key + 1] += 1
    # Counting sort by cell (stable: inside a bucket, points keep ascending original order).
    buckets = 0
    for c in range(1, occupancy.shape[0]):
        if occupancy[c] > 0:
            buckets += 1
        occupancy[c] += occupancy[c - 1]
    order = np.empty(count, np.int64)
    fill = occupancy[:-1].copy()
    for i in range(count):
        order[fill[cell[i]]] = i
        fill[cell[i]] += 1
    xs = np.empty(count, np.float32)
    ys = np.empty(count, np.float32)
    zs = np.empty(count, np.float32)
    for j in range(count):
        xs[j] = points[order[j], 0]
        ys[j] = points[order[j], 1]
        zs[j] = points[order[j], 2]
    first = np.empty(buckets, np.int64)
    last = np.empty(buckets, np.int64)
    # Bucket bounding boxes as six separate arrays so the bound loop below vectorises.
    bx0 = np.empty(buckets, np.float32)
    by0 = np.empty(buckets, np.float32)
    bz0 = np.empty(buckets, np.float32)
    bx1 = np.empty(buckets, np.float32)
    by1 = np.empty(buckets, np.float32)
    bz1 = np.empty(buckets, np.float32)
    b = 0
    for c in range(occupancy.shape[0] - 1):
        if occupancy[c + 1] == occupancy[c]:
            continue
        first[b], last[b] = occupancy[c], occupancy[c + 1]
        j0, j1 = first[b], last[b]
        bx0[b], bx1[b] = xs[j0:j1].min(), xs[j0:j1].max()
        by0[b], by1[b] = ys[j0:j1].min(), ys[j0:j1].max()
        bz0[b], bz1[b] = zs[j0:j1].min(), zs[j0:j1].max()
        b += 1

    # The largest finite float32 stands in for "infinitely far" (the kernels assume no inf).
    far = np.float32(3.4028235e38)
    nearest = np.full(count, far, np.float32)
    bucket_max = np.full(buckets, far, np.float32)
    bucket_arg = first.copy()
    bound = np.empty(buckets, np.float32)
    zero = np.float32(0.0)
    selected = np.empty(num_samples, np.int64)
    selected[0] = start
    sx, sy, sz = points[start, 0], points[start, 1], points[start, 2]
    for s in range(1, num_samples):
        for b in range(buckets):
            dx = max(bx0[b] - sx, zero, sx - bx1[b])
            dy = max(by0[b] - sy, zero, sy - by1[b])
            dz = max(bz0[b] - sz, zero, sz - bz1[b])
            bound[b] = dx * dx + dy * dy + dz * dz
        for b in range(buckets):
            if bound[b] < bucket_max[b]:
                bucket_max[b], bucket_arg[b] = _update_bucket(
                    xs, ys, zs, nearest, first[b], last[b], sx, sy, sz
                )
        best = _first_maximum(bucket_max, bucket_arg, order)
        selected[s] = order[best]
        sx, sy, sz = xs[best], ys[best], zs[best]
    return selected


# Thread-local scratch: the voxel stamp grid and the output buffers are written by the kernel,
# so two threads must never share them.
_scratch = threading.local()


def voxel_bitset(cells: int) -> np.ndarray:
    """An all-zero occupancy bitset of at least `cells` bits for `fused_front_end`.

    One bit per voxel keeps the 5 mm grid of the default workspace (4.8 M cells) at 600 kB, small
    enough to stay in cache; the kernel leaves it zeroed, so it is never cleared here.
    """
    occupied = getattr(_scratch, "occupied", None)
    if occupied is None or occupied.size * 8 < cells:
        occupied = np.zeros(cells // 8 + 1, dtype=np.uint8)
        _scratch.occupied = occupied
    return occupied


def output_buffers(pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """(pixels, 3) float32 and (pixels,) int64 scratch buffers for `fused_front_end`."""
    out = getattr(_scratch, "out", None)
    if out is None or out.shape[0] < pixels:
        out = np.empty((pixels, 3), dtype=np.float32)
        _scratch.out = out
        _scratch.keys = np.empty(pixels, dtype=np.int64)
    return out, _scratch.keys


_warm = False


def warm_up() -> None:
    """Compile (or load from cache) both kernels for the argument types the pipeline uses.

    Call it where a pipeline is built (the deployment stage, the ROS node), never in the loop.
    """
    global _warm
    if _warm:
        return
    f32 = np.float32
    rays = np.zeros((3, 4), f32)
    rays[2] = 1.0
    depth = np.array([0.5, 0.0, np.nan, 1.0], f32)
    box = np.array([-1, -1, 0], f32), np.array([1, 1, 2], f32)
    dims = np.array([20, 20, 20], np.int64)
    occupied = np.zeros(1000, np.uint8)
    out, keys = np.empty((4, 3), f32), np.empty(4, np.int64)
    for mode in (NO_VOXEL, DENSE_VOXEL, KEYS_ONLY):
        fused_front_end(
            depth, rays, np.zeros(3, f32), *box, f32(0.1), f32(2.5), False,
            box[0], f32(10.0), dims, mode, occupied, out, keys,
        )  # fmt: skip
    points = np.random.default_rng(0).random((16, 3)).astype(f32)
    bucketed_fps(points, 4, 0, 4)
    _warm = True
