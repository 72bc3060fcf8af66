"""`mtdagger bench sim`: MetaWorld steps per second, physics only vs. with the depth camera.

Rows, all on the same task, seed and action sequence (seeded random convention actions, so the
expert's own cost is not counted), each against the physics-only baseline of the same run:
  physics only               step() with render_depth=False
  + depth render             step() that renders the default camera's depth every step
  + depth + point cloud      ... and runs the point-cloud contract (crop, voxel, FPS to N)
  + noisy depth + cloud      ... with the RealSense noise preset switched on
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

SEED = 0


def run(args: Any) -> int:
    from mtdagger.bench.table import print_table
    from mtdagger.perception.pointcloud import depth_to_point_cloud
    from sim_bridge.camera.depth_noise import DepthNoiseConfig
    from sim_bridge.camera.sim_camera import SimCameraConfig
    from sim_bridge.metaworld.backend import MetaWorldBackendConfig
    from sim_bridge.suites import load_suite_preset, resolve_tasks

    try:
        task = resolve_tasks(args.task)
    except ValueError as error:  # UnknownTaskError is a ValueError and lists the valid names
        print(f"error: {error}", file=sys.stderr)
        return 2
    if len(task) != 1 or args.steps <= 0:
        print(
            f"error: --task takes one task name (got {len(task)}) and --steps must be positive",
            file=sys.stderr,
        )
        return 2
    preset = load_suite_preset(task[0])
    camera = SimCameraConfig.from_yaml(preset.camera)
    contract = preset.point_cloud
    actions = _random_actions(args.steps)

    modes = [
        ("physics only", camera, False, False),
        ("+ depth render", camera, True, False),
        ("+ depth + point cloud", camera, True, True),
        ("+ noisy depth + cloud", camera.with_noise(DepthNoiseConfig.realsense()), True, True),
    ]
    rows, baseline = [], None
    for label, camera_config, depth, cloud in modes:
        config = MetaWorldBackendConfig(tasks=(task[0],), camera=camera_config, render_depth=depth)
        backend = config.build()
        try:
            backend.reset(task[0], SEED)  # builds the env and renderer outside the timed loop
            if depth:
                backend.render_depth()
            seconds = _time_steps(
                backend, task[0], actions, contract if cloud else None, depth_to_point_cloud
            )
        finally:
            backend.close()
        rate = args.steps / seconds
        baseline = baseline or rate
        rows.append([label, args.steps, seconds, rate, 1000.0 / rate, f"{baseline / rate:.1f}x"])
    print_table(
        f"MetaWorld {task[0]}: {camera.width}x{camera.height} depth, {contract.num_points}-point cloud",
        ["mode", "steps", "seconds", "steps/s", "ms/step", "cost vs physics"],
        rows,
    )
    return 0


def _time_steps(backend, task: str, actions: np.ndarray, contract, depth_to_point_cloud) -> float:
    backend.reset(task, SEED)
    start = time.perf_counter()
    for action in actions:
        result = backend.step(action)
        if contract is not None:
            frame = backend.render_depth()
            depth_to_point_cloud(frame.depth_m, frame.camera, contract)
        if result.done:
            backend.reset(task, SEED)
    return time.perf_counter() - start


def _random_actions(steps: int) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    actions = rng.uniform(-1.0, 1.0, size=(steps, 4)).astype(np.float32)
    actions[:, :3] *= 0.01  # metres per step, within MetaWorld's reach per step
    return actions
