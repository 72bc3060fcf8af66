"""The contract's stages 1-4 as one compiled (numba) pass over the depth image.

Why compiled: the NumPy pipeline makes ~10 passes over a 640×480 image (mask, gather, multiply,
add, six box compares, key arithmetic). The kernel computes exactly what the NumPy reference
computes (`pointcloud.workspace_points_reference`): the same float32 operations in the same order
(numba does not contract a*b+c into an FMA unless fastmath is on, and it is off here), so results
are bit-identical, which the tests check. FPS (stage 5) is compiled too, in `fps_kernel`.

`cache=True` stores the machine code beside the source (or in numba's user cache when the package
is read-only); `pointcloud.warm_up()` loads or compiles every signature the pipeline uses, so
constructors call it and the first control step never pays for a JIT.
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


# Longer than the house's 60 lines on purpose: one fused numba pass over the data. Split into
# helpers it would pay a call boundary inside the JIT loop (or take extra passes), and it is
# the hot path of every control step; tests pin its output bit for bit.
@numba.njit(cache=True, nogil=True, boundscheck=False)
def fused_front_end(  # house-rules: one fused numba pass; helpers cost a call boundary in the JIT loop
    depth, rays, origin, box_min, box_max, min_depth, max_depth, drop_zero,
    grid_min, inverse_size, dims, mode, occupied, out, keys, keep,
):  # fmt: skip
    """Validity, back-projection into the base frame, crop and voxel dedup in two sweeps.

    Sweep 1 decides for every pixel whether it has valid depth and lands in the box, without
    branches, so LLVM vectorises it (8 pixels at a time). Sweep 2 visits only the kept pixels,
    recomputes their point (same operations, same value) and deduplicates voxels. Pixels are visited
    in row-major order; a voxel's representative is the FIRST surviving pixel that falls into it,
    and points come out in ascending pixel order. Returns (valid_depth, in_workspace, written); rows
    [0, written) of `out` (and `keys`) hold the result. `keep` is (pixels,) bool scratch. All
    floating-point inputs are float32 so the arithmetic matches NumPy's.
    """
    # Loop invariants in locals: LLVM cannot prove the arrays unchanged by the loop's own stores.
    ox, oy, oz = origin[0], origin[1], origin[2]
    x_low, y_low, z_low = box_min[0], box_min[1], box_min[2]
    x_high, y_high, z_high = box_max[0], box_max[1], box_max[2]
    gx, gy, gz = grid_min[0], grid_min[1], grid_min[2]
    nx, ny = dims[0], dims[1]
    rx, ry, rz = rays[0], rays[1], rays[2]
    valid = 0
    inside = 0
    for i in range(depth.shape[0]):
        z = depth[i]
        # NaN fails every comparison, and ±inf depth makes a NaN or infinite coordinate.
        ok = (z >= min_depth) & (z <= max_depth) & ((z > 0) | (not drop_zero))
        x = rx[i] * z + ox
        y = ry[i] * z + oy
        w = rz[i] * z + oz
        in_box = (
            ok & (x >= x_low) & (x <= x_high) & (y >= y_low) & (y <= y_high) & (w >= z_low) & (w <= z_high)
        )
        valid += ok
        inside += in_box
        keep[i] = in_box
    written = 0
    for i in range(depth.shape[0]):
        if not keep[i]:
            continue
        z = depth[i]
        x = rx[i] * z + ox
        y = ry[i] * z + oy
        w = rz[i] * z + oz
        # Written unconditionally; `written` only advances past a point that is kept.
        out[written, 0] = x
        out[written, 1] = y
        out[written, 2] = w
        if mode == NO_VOXEL:
            written += 1
            continue
        # In the box, so offsets are >= 0 and truncation equals floor. x varies fastest: image
        # rows run roughly along the table's x, so neighbouring pixels hit neighbouring cells.
        key = np.int64((w - gz) * inverse_size)
        key = key * ny + np.int64((y - gy) * inverse_size)
        key = key * nx + np.int64((x - gx) * inverse_size)
        keys[written] = key
        if mode == DENSE_VOXEL:
            # Branch-free test-and-set: whether a pixel opens a new voxel is close to random (a
            # voxel spans 2-3 pixels), so a branch here mispredicts often.
            byte, bit = key >> 3, np.uint8(1 << (key & 7))
            seen = occupied[byte]
            occupied[byte] = seen | bit
            written += (seen & bit) == 0
        else:
            written += 1
    if mode == DENSE_VOXEL:
        # Leave the bitset all-zero for the next call: clearing only the bytes this call touched
        # costs one write per kept point instead of a pass over the whole grid.
        for k in range(written):
            occupied[keys[k] >> 3] = 0
    return valid, inside, written


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


def output_buffers(pixels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixels, 3) float32, (pixels,) int64 and (pixels,) bool scratch for `fused_front_end`."""
    out = getattr(_scratch, "out", None)
    if out is None or out.shape[0] < pixels:
        out = np.empty((pixels, 3), dtype=np.float32)
        _scratch.out = out
        _scratch.keys = np.empty(pixels, dtype=np.int64)
        _scratch.keep = np.empty(pixels, dtype=np.bool_)
    return out, _scratch.keys, _scratch.keep
