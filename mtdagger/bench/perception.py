"""`mtdagger bench perception`: depth image -> N-point cloud latency, optimised vs a naive baseline.

The control loop runs the point-cloud contract on every frame, so its latency is a budget item
(target: 640×480 -> 1024 points with the 5 mm contract, p50 <= 3 ms on one core and >= 10× the
baseline). The naive baseline is the pipeline most point-cloud policy repositories ship: deproject
every pixel, transform everything, crop, then FPS on the whole cropped cloud with a library sampler
(fpsample's QuickFPS, the fastest of its variants here). Ours is the fused numba front end and our
bucketed FPS on the voxel survivors; a row "baseline with our FPS" separates what the sampler buys
from what the pipeline buys. Everything runs on one pinned core (affinity, and numba's thread
count set to 1) so the numbers do not depend on how many cores the machine has.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, replace

import fpsample
import numpy as np

from mtdagger.bench.table import print_table
from mtdagger.perception.camera_model import CameraModel, look_at_pose
from mtdagger.perception.contract import PointCloudContract
from mtdagger.perception.pointcloud import (
    EmptyPointCloudError,
    StageCounts,
    depth_to_point_cloud,
    sample_fixed_size,
    warm_up,
    workspace_points,
    workspace_points_reference,
)
from mtdagger.perception.table_plane import above_table

WARMUP_CALLS = 3


@dataclass(frozen=True)
class Box:
    """An axis-aligned box on the table (base frame, metres)."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]


# A MetaWorld-sized tabletop: table top at z=0, floor 0.75 m below, a few objects on the table.
TABLE_LOW = (-0.75, 0.15, -0.05)
TABLE_HIGH = (0.75, 1.35, 0.0)
FLOOR_Z = -0.75
OBJECTS = (
    Box((-0.25, 0.55, 0.0), (-0.15, 0.65, 0.12)),
    Box((0.05, 0.75, 0.0), (0.25, 0.85, 0.06)),
    Box((0.30, 0.50, 0.0), (0.36, 0.56, 0.20)),
    Box((-0.45, 0.85, 0.0), (-0.30, 1.00, 0.09)),
)


# T_base_camera of a camera at `position` looking at `target`, base z up (the name the
# benchmarks and their tests use for camera_model.look_at_pose).
look_at = look_at_pose


def tabletop_camera(width: int = 640, height: int = 480) -> CameraModel:
    """A D435-like camera (fx≈fy≈615 at 640×480) in front of the table, looking down at the workspace."""
    scale = width / 640.0
    return CameraModel(
        width,
        height,
        615.0 * scale,
        615.0 * scale,
        (width - 1) / 2.0 + 0.7,
        (height - 1) / 2.0 - 1.1,
        look_at(np.array([0.0, 1.55, 0.80]), np.array([0.0, 0.70, 0.0])),
    )


def synthetic_tabletop_depth(camera: CameraModel, seed: int = 0, noise_at_1m_m: float = 1.5e-3) -> np.ndarray:
    """Ray-cast the tabletop scene into a float32 depth image (metres) with RealSense-like defects.

    Defects: 2% random dropouts (0), 0.2% NaN and a dropout band beside each object (the stereo
    shadow); optional depth noise growing with z² (σ = `noise_at_1m_m` at 1 m; 0 gives a simulator's
    clean depth). The floor lies beyond the 2.5 m default range in part of the image, so every
    validity rule is exercised.
    """
    rng = np.random.default_rng(seed)
    transform = camera.T_base_camera
    u, v = np.meshgrid(np.arange(camera.width), np.arange(camera.height))
    optical = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones(u.shape)])
    rays = np.einsum("ij,jhw->hwi", transform[:3, :3], optical)  # optical z component is 1: t == depth
    origin = transform[:3, 3]
    depth = _plane_hit(rays, origin, FLOOR_Z)
    depth = np.minimum(depth, _box_hit(rays, origin, Box(TABLE_LOW, TABLE_HIGH)))
    shadow = np.zeros(depth.shape, dtype=bool)
    for box in OBJECTS:
        hit = _box_hit(rays, origin, box)
        depth = np.minimum(depth, hit)
        shadow |= np.isfinite(_box_hit(rays, origin, _shadow_of(box))) & ~np.isfinite(hit)
    depth += rng.normal(0.0, noise_at_1m_m, depth.shape) * depth**2
    depth[shadow] = 0.0
    depth[rng.random(depth.shape) < 0.02] = 0.0
    depth[rng.random(depth.shape) < 0.002] = np.nan
    return depth.astype(np.float32)


def _shadow_of(box: Box) -> Box:
    # A thin slab beside the object's +x face: where a stereo pair with a horizontal baseline loses depth.
    low, high = np.array(box.low), np.array(box.high)
    return Box((high[0], low[1], low[2]), (high[0] + 0.03, high[1], high[2]))


def _plane_hit(rays: np.ndarray, origin: np.ndarray, z: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (z - origin[2]) / rays[..., 2]
    return np.where(t > 0, t, np.inf)


def _box_hit(rays: np.ndarray, origin: np.ndarray, box: Box) -> np.ndarray:
    """Slab-method ray/box intersection: distance parameter of the entry point, inf on a miss."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (np.asarray(box.low) - origin) / rays
        t2 = (np.asarray(box.high) - origin) / rays
    entry = np.nanmax(np.minimum(t1, t2), axis=-1)
    exit_ = np.nanmin(np.maximum(t1, t2), axis=-1)
    return np.where((entry <= exit_) & (entry > 0), entry, np.inf)


def naive_point_cloud(
    depth_m: np.ndarray, camera: CameraModel, contract: PointCloudContract, sampler: str = "fpsample"
) -> tuple[np.ndarray, StageCounts]:
    """The baseline: every pixel deprojected and transformed (float64, homogeneous), invalid and
    out-of-box points masked afterwards, FPS on the full cropped cloud (the voxel grid is ignored).

    `sampler`: "fpsample" (QuickFPS from index 0, what a repository would call) or "ours"
    (`sample_fixed_size`, the contract's exact FPS)."""
    u, v = np.meshgrid(np.arange(camera.width), np.arange(camera.height))
    z = depth_m.astype(np.float64)
    optical = np.stack([(u - camera.cx) * z / camera.fx, (v - camera.cy) * z / camera.fy, z, np.ones_like(z)])
    base = (camera.T_base_camera @ optical.reshape(4, -1))[:3].T
    flat = z.reshape(-1)
    valid = np.isfinite(flat) & (flat > 0) & (flat >= contract.min_depth_m) & (flat <= contract.max_depth_m)
    inside = np.all((base >= contract.workspace_min) & (base <= contract.workspace_max), axis=1)
    cropped = base[valid & inside].astype(np.float32)
    if len(cropped) == 0:
        raise EmptyPointCloudError("naive baseline: no valid depth inside the workspace box")
    counts = StageCounts(flat.size, int(valid.sum()), len(cropped), len(cropped), len(cropped))
    if sampler == "ours" or len(cropped) <= contract.num_points:
        return sample_fixed_size(cropped, contract.num_points), counts
    return cropped.take(quickfps_indices(cropped, contract.num_points), axis=0), counts


def quickfps_indices(points: np.ndarray, num_samples: int) -> np.ndarray:
    """fpsample's `bucket_fps_kdline_sampling` with the bucket height that was fastest on these
    clouds (buckets of ~2**(log2(M) - 9) points, height in [3, 7]); the contract used it until the
    bucketed kernel replaced it."""
    height = min(7, max(3, int(np.log2(len(points))) - 9), int(np.log2(len(points))))
    return fpsample.bucket_fps_kdline_sampling(points, num_samples, height, start_idx=0).astype(np.intp)


@dataclass(frozen=True)
class Timing:
    p50_ms: float
    p99_ms: float
    mean_ms: float
    # CPU time of this thread: excludes time the scheduler gave to other processes, so it stays
    # meaningful on a shared machine where wall-clock percentiles swing with the load.
    cpu_p50_ms: float


def time_variants(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, Timing]:
    """Time every call `repeats` times, round-robin (so load changes hit all variants alike),
    after a few warm-up calls each (caches, allocator, first-touch page faults)."""
    for call in calls.values():
        for _ in range(WARMUP_CALLS):
            call()
    wall = {name: np.empty(repeats) for name in calls}
    cpu = {name: np.empty(repeats) for name in calls}
    for i in range(repeats):
        for name, call in calls.items():
            start_wall, start_cpu = time.perf_counter(), time.thread_time()
            call()
            wall[name][i] = time.perf_counter() - start_wall
            cpu[name][i] = time.thread_time() - start_cpu
    return {
        name: Timing(
            float(np.percentile(wall[name], 50) * 1e3),
            float(np.percentile(wall[name], 99) * 1e3),
            float(wall[name].mean() * 1e3),
            float(np.percentile(cpu[name], 50) * 1e3),
        )
        for name in calls
    }


def pin_to_one_core() -> int:
    """Run this process on its first allowed core and return that core's id.

    The affinity is what guarantees one core (it binds every thread, even of libraries already
    loaded); the thread-count variables only reach libraries loaded after this call.
    """
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.set_num_threads(1)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    return core


# Two depth flavours: the simulator's clean depth (training data) and RealSense-like noise (the
# robot). Noise matters: it thickens surfaces across voxel layers, so more points reach FPS.
SCENES = {"clean (sim)": 0.0, "noisy (RealSense-like)": 1.5e-3}
BASELINE = "naive baseline"
BASELINE_OUR_FPS = "naive baseline with our FPS"
PART = "  of which"  # rows that time one part of the contract pipeline
TABLE_BAND_M = 0.015  # the MT10 preset's table-following crop
TABLE_LABEL = f"optimised, contract + table band {TABLE_BAND_M * 1e3:g} mm"
TARGET_P50_MS = 3.0
TARGET_SPEEDUP = 10.0


def run(args: argparse.Namespace) -> int:
    repeats, num_points = int(args.repeats), int(args.num_points)
    if repeats < 1 or num_points < 1:
        print("--repeats and --num-points must be positive", file=sys.stderr)
        return 2
    core = pin_to_one_core()
    warm_up()
    camera = tabletop_camera()
    contract = PointCloudContract(num_points=num_points)
    no_voxel = replace(contract, voxel_size_m=0.0)
    coarse = replace(contract, voxel_size_m=0.01)
    voxel_label = f"optimised, contract ({contract.voxel_size_m * 1e3:g} mm voxel)"
    coarse_label = "optimised, 10 mm voxel"

    timing_rows, count_rows, verdicts = [], [], []
    for scene, noise in SCENES.items():
        depth = synthetic_tabletop_depth(camera, noise_at_1m_m=noise)
        variants = _variants(depth, camera, contract, voxel_label, coarse_label)
        timings = time_variants(variants, repeats)
        verdicts.append(_verdict(scene, timings[BASELINE], timings[voxel_label]))
        baseline = timings[BASELINE].p50_ms
        for name, t in timings.items():
            ratio = "" if name.startswith(PART) else f"{baseline / t.p50_ms:.1f}×"
            timing_rows.append([scene, name, t.p50_ms, t.p99_ms, t.mean_ms, t.cpu_p50_ms, ratio])
        for name, counts in (
            (BASELINE, naive_point_cloud(depth, camera, no_voxel)[1]),
            ("optimised, no voxel grid", workspace_points(depth, camera, no_voxel)[1]),
            (voxel_label, workspace_points(depth, camera, contract)[1]),
            (coarse_label, workspace_points(depth, camera, coarse)[1]),
            (TABLE_LABEL, workspace_points(depth, camera, replace(contract, table_band_m=TABLE_BAND_M))[1]),
        ):
            count_rows.append([scene, name, *astuple(counts), counts.padding_for(num_points)])

    print_table(
        f"depth {camera.width}×{camera.height} -> {num_points} points, one core (#{core}), {repeats} repeats",
        ["depth", "variant", "p50 ms", "p99 ms", "mean ms", "CPU p50 ms", "baseline p50 / p50"],
        timing_rows,
    )
    print_table(
        "points surviving each stage",
        ["depth", "variant", "pixels", "valid depth", "in workspace", "after voxel", "after table", "padded"],
        count_rows,
    )
    for verdict in verdicts:
        print(verdict)
    return 0


def _variants(
    depth: np.ndarray, camera: CameraModel, contract: PointCloudContract, voxel_label: str, coarse_label: str
) -> dict[str, Callable[[], object]]:
    """The timed calls of one depth image, in table order: whole pipelines first (baseline,
    baseline with our FPS, ours at three voxel sizes), then the parts of ours ("of which" rows),
    each beside the library or NumPy code it replaces, so the table shows where the time goes."""
    num_points = contract.num_points
    no_voxel = replace(contract, voxel_size_m=0.0)
    coarse = replace(contract, voxel_size_m=0.01)
    table_band = replace(contract, table_band_m=TABLE_BAND_M)
    survivors, _ = workspace_points(depth, camera, contract)
    return {
        BASELINE: lambda: naive_point_cloud(depth, camera, no_voxel),
        BASELINE_OUR_FPS: lambda: naive_point_cloud(depth, camera, no_voxel, "ours"),
        "optimised, no voxel grid": lambda: depth_to_point_cloud(depth, camera, no_voxel),
        voxel_label: lambda: depth_to_point_cloud(depth, camera, contract),
        coarse_label: lambda: depth_to_point_cloud(depth, camera, coarse),
        TABLE_LABEL: lambda: depth_to_point_cloud(depth, camera, table_band),
        f"{PART} stages 1-4 (up to the voxel grid)": lambda: workspace_points(depth, camera, contract),
        f"{PART} stages 1-4, NumPy reference": lambda: workspace_points_reference(depth, camera, contract),
        f"{PART} table plane fit + band (stage 5)": lambda: above_table(survivors, TABLE_BAND_M),
        f"{PART} FPS": lambda: sample_fixed_size(survivors, num_points),
        f"{PART} FPS, fpsample QuickFPS": lambda: quickfps_indices(survivors, num_points),
    }


def _verdict(scene: str, baseline: Timing, ours: Timing) -> str:
    """One line per scene: the contract pipeline against both targets (p50 budget and speed-up
    over the baseline), judged on wall clock and on CPU time, since a shared machine can make the
    first miss while the second meets."""
    wall_ratio, cpu_ratio = baseline.p50_ms / ours.p50_ms, baseline.cpu_p50_ms / ours.cpu_p50_ms
    return (
        f"{scene}: contract p50 {ours.p50_ms:.2f} ms wall / {ours.cpu_p50_ms:.2f} ms CPU "
        f"({_meets(ours.p50_ms <= TARGET_P50_MS)}/{_meets(ours.cpu_p50_ms <= TARGET_P50_MS)} the "
        f"{TARGET_P50_MS:g} ms target), {wall_ratio:.1f}× wall / {cpu_ratio:.1f}× CPU the baseline "
        f"({_meets(wall_ratio >= TARGET_SPEEDUP)}/{_meets(cpu_ratio >= TARGET_SPEEDUP)} "
        f"the {TARGET_SPEEDUP:g}× target)"
    )


def _meets(ok: bool) -> str:
    return "meets" if ok else "misses"
