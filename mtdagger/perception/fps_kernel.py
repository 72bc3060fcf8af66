"""Exact farthest point sampling (FPS), compiled with numba: the contract's stage 5.

Textbook FPS picks, N times, the point farthest from those already picked, keeping every point's
squared distance to its nearest pick; its cost is N passes over all M points. This kernel computes
the same picks (tested against `sampling.textbook_fps`) while touching far fewer points:

- points are bucketed on a coarse regular grid (counting sort, cheap to build per call);
- after a pick at squared distance R² (the current maximum, so no point is farther than R from
  its nearest pick), only buckets whose grid cells meet the cube of half-side R around the new
  pick can change; they are enumerated from the grid, not searched;
- a bucket whose bounding box is no closer than its own largest distance cannot change either
  (QuickFPS's test), so its points are not visited;
- the largest distance is found by a vectorised integer max over the buckets' maxima.

Distances are float32 dx*dx + dy*dy + dz*dz, as in the textbook loop; the box bound uses the same
operations on the box corner, and float rounding is monotone, so the bound never exceeds a point's
computed distance and culling never skips an update the textbook loop would make. Ties go to the
lowest index, as `np.argmax` does.
"""

from __future__ import annotations

import numba
import numpy as np

# "Infinitely far" for distances: the kernels below assume finite values (fastmath nnan/ninf).
_FAR = np.float32(3.4028235e38)


@numba.njit(cache=True, nogil=True, boundscheck=False, fastmath={"nnan", "ninf", "nsz"})
def _update_bucket(xs, ys, zs, nearest, nearest_bits, begin, end, sx, sy, sz):
    """Lower each point's distance by the new pick; return the bucket's maximum, as int32 bits.

    Two loops that LLVM vectorises (8 floats at a time), about 3× faster than one loop doing both:
    the update (a select; fastmath's nnan/ninf/nsz only let LLVM vectorise it, the points are
    finite and the arithmetic is unchanged), then the maximum as an int32 reduction over the same
    bits (non-negative float32 values order like their bit patterns, and LLVM vectorises an integer
    max where it will not a float one). Which point holds the maximum is looked up only for the
    bucket that wins (`_first_holder`). Slices keep loop indices non-negative, without which numba's
    negative-index handling blocks vectorisation.
    """
    x, y, z, near = xs[begin:end], ys[begin:end], zs[begin:end], nearest[begin:end]
    for j in range(x.shape[0]):
        ex = x[j] - sx
        ey = y[j] - sy
        ez = z[j] - sz
        d = ex * ex + ey * ey + ez * ez
        old = near[j]
        near[j] = d if d < old else old
    bits = nearest_bits[begin:end]
    top = np.int32(0)
    for j in range(bits.shape[0]):
        top = bits[j] if bits[j] > top else top
    return top


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _first_holder(nearest_bits, begin, end, top):
    """First index in [begin, end) holding the bucket's maximum (its lowest original index)."""
    for j in range(begin, end):
        if nearest_bits[j] == top:
            return j
    return begin


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _better(a, b, bucket_bits, first, last, nearest_bits, order):
    """The bucket holding the larger distance (ties: the lower original point index); -1 = none."""
    if a < 0:
        return b
    if b < 0:
        return a
    va, vb = bucket_bits[a], bucket_bits[b]
    if va > vb:
        return a
    if vb > va:
        return b
    holder_a = _first_holder(nearest_bits, first[a], last[a], va)
    holder_b = _first_holder(nearest_bits, first[b], last[b], vb)
    return a if order[holder_a] <= order[holder_b] else b


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _best_bucket(bucket_bits, first, last, nearest_bits, order):
    """The bucket holding the largest distance; ties go to the lower original point index.

    A vectorised int32 max over all buckets (a few hundred) and a scan for the buckets holding it:
    cheaper per pick than maintaining a tournament tree for every bucket that changed.
    """
    top = np.int32(0)
    for b in range(bucket_bits.shape[0]):
        top = bucket_bits[b] if bucket_bits[b] > top else top
    best = -1
    for b in range(bucket_bits.shape[0]):
        if bucket_bits[b] == top:
            best = b if best < 0 else _better(best, b, bucket_bits, first, last, nearest_bits, order)
    return best


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _sort_into_buckets(points, grid_cells):
    """Counting sort of the points by grid cell: (lo, inverse, dims, order, xs, ys, zs, cell_start).

    `order[j]` is the original index of sorted point j (stable: ascending inside a cell);
    cell c holds sorted points cell_start[c] .. cell_start[c + 1].
    """
    count = points.shape[0]
    x0 = x1 = points[0, 0]
    y0 = y1 = points[0, 1]
    z0 = z1 = points[0, 2]
    for i in range(count):
        x, y, z = points[i, 0], points[i, 1], points[i, 2]
        x0 = x if x < x0 else x0
        x1 = x if x > x1 else x1
        y0 = y if y < y0 else y0
        y1 = y if y > y1 else y1
        z0 = z if z < z0 else z0
        z1 = z if z > z1 else z1
    lo = np.array([x0, y0, z0], np.float32)
    extent = max(x1 - x0, y1 - y0, z1 - z0)
    inverse = np.float32(grid_cells / extent) if extent > 0 else np.float32(0.0)
    nx = min(np.int64((x1 - x0) * inverse), grid_cells - 1) + 1
    ny = min(np.int64((y1 - y0) * inverse), grid_cells - 1) + 1
    nz = min(np.int64((z1 - z0) * inverse), grid_cells - 1) + 1
    dims = np.array([nx, ny, nz], np.int64)
    cell = np.empty(count, np.int64)
    cell_start = np.zeros(nx * ny * nz + 1, np.int64)
    for i in range(count):
        cx = min(np.int64((points[i, 0] - x0) * inverse), nx - 1)
        cy = min(np.int64((points[i, 1] - y0) * inverse), ny - 1)
        cz = min(np.int64((points[i, 2] - z0) * inverse), nz - 1)
        key = (cx * ny + cy) * nz + cz
        cell[i] = key
        cell_start[key + 1] += 1
    for c in range(1, cell_start.shape[0]):
        cell_start[c] += cell_start[c - 1]
    fill = cell_start[:-1].copy()
    order = np.empty(count, np.int64)
    xs = np.empty(count, np.float32)
    ys = np.empty(count, np.float32)
    zs = np.empty(count, np.float32)
    for i in range(count):
        j = fill[cell[i]]
        fill[cell[i]] = j + 1
        order[j] = i
        xs[j], ys[j], zs[j] = points[i, 0], points[i, 1], points[i, 2]
    return lo, inverse, dims, order, xs, ys, zs, cell_start


# Longer than the house's 60 lines on purpose: one fused numba pass over the data. Split into
# helpers it would pay a call boundary inside the JIT loop (or take extra passes), and it is
# the hot path of every control step; tests pin its output bit for bit.
@numba.njit(cache=True, nogil=True, boundscheck=False)
def bucketed_fps(points, num_samples, start, grid_cells):  # house-rules: one fused numba pass, for speed
    """Indices (int64) of `num_samples` FPS picks from finite (M, 3) float32 `points`, first = start.

    `grid_cells`: grid cells along the longest side of the points' bounding box.
    """
    lo, inverse, dims, order, xs, ys, zs, cell_start = _sort_into_buckets(points, grid_cells)
    cells = cell_start.shape[0] - 1
    bucket_of_cell = np.full(cells, -1, np.int64)
    buckets = 0
    for c in range(cells):
        if cell_start[c + 1] > cell_start[c]:
            bucket_of_cell[c] = buckets
            buckets += 1
    first = np.empty(buckets, np.int64)
    last = np.empty(buckets, np.int64)
    box = np.empty((buckets, 6), np.float32)  # min xyz, max xyz
    for c in range(cells):
        b = bucket_of_cell[c]
        if b < 0:
            continue
        j0, j1 = cell_start[c], cell_start[c + 1]
        first[b], last[b] = j0, j1
        x0 = x1 = xs[j0]
        y0 = y1 = ys[j0]
        z0 = z1 = zs[j0]
        for j in range(j0, j1):
            x0 = xs[j] if xs[j] < x0 else x0
            x1 = xs[j] if xs[j] > x1 else x1
            y0 = ys[j] if ys[j] < y0 else y0
            y1 = ys[j] if ys[j] > y1 else y1
            z0 = zs[j] if zs[j] < z0 else z0
            z1 = zs[j] if zs[j] > z1 else z1
        box[b, 0], box[b, 1], box[b, 2], box[b, 3], box[b, 4], box[b, 5] = x0, y0, z0, x1, y1, z1

    nearest = np.full(xs.shape[0], _FAR, np.float32)
    nearest_bits = nearest.view(np.int32)
    bucket_max = np.full(buckets, _FAR, np.float32)
    bucket_bits = bucket_max.view(np.int32)  # the same maxima, as ordered int32 bit patterns
    zero = np.float32(0.0)
    selected = np.empty(num_samples, np.int64)
    selected[0] = start
    sx, sy, sz = points[start, 0], points[start, 1], points[start, 2]
    radius2 = _FAR
    low = np.empty(3, np.int64)
    pick = np.empty(3, np.float32)
    high = np.empty(3, np.int64)
    for s in range(1, num_samples):
        # Grid cells within R of the new pick, with one cell of margin for rounding. The clamps
        # keep the first iterations' huge R (every cell) from overflowing the integer casts.
        reach = np.sqrt(np.float64(radius2)) * 1.0001 * inverse
        pick[0], pick[1], pick[2] = sx, sy, sz
        span = 1
        for axis in range(3):
            offset = np.float64((pick[axis] - lo[axis]) * inverse)
            low[axis] = max(0, np.int64(np.floor(max(offset - reach, -1.0))) - 1)
            high[axis] = min(dims[axis] - 1, np.int64(min(offset + reach, 1e18)) + 1)
            span *= max(0, high[axis] - low[axis] + 1)
        full_scan = span >= buckets
        visits = buckets if full_scan else span
        for v in range(visits):
            if full_scan:
                b = v
            else:
                k = v
                cz = low[2] + k % (high[2] - low[2] + 1)
                k //= high[2] - low[2] + 1
                cy = low[1] + k % (high[1] - low[1] + 1)
                cx = low[0] + k // (high[1] - low[1] + 1)
                b = bucket_of_cell[(cx * dims[1] + cy) * dims[2] + cz]
                if b < 0:
                    continue
            dx = max(box[b, 0] - sx, zero, sx - box[b, 3])
            dy = max(box[b, 1] - sy, zero, sy - box[b, 4])
            dz = max(box[b, 2] - sz, zero, sz - box[b, 5])
            if dx * dx + dy * dy + dz * dz >= bucket_max[b]:
                continue
            bucket_bits[b] = _update_bucket(xs, ys, zs, nearest, nearest_bits, first[b], last[b], sx, sy, sz)
        best_bucket = _best_bucket(bucket_bits, first, last, nearest_bits, order)
        best = _first_holder(nearest_bits, first[best_bucket], last[best_bucket], bucket_bits[best_bucket])
        radius2 = bucket_max[best_bucket]
        selected[s] = order[best]
        sx, sy, sz = xs[best], ys[best], zs[best]
    return selected
