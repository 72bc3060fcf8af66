"""How much of the table a preset's cloud holds under the camera conditions of `eval --robustness`.

    MUJOCO_GL=egl python scripts/table_in_cloud.py [--config CONFIG] [--task TASK] [--seeds 20]
        [--every 20] [--crops 0.015,0.03,0.04,0.05] [--table-bands 0.015]

Why: the contract crops the table top (z = 0) away with the box's lower bound. A calibration error
makes the cloud with the nominal camera pose while the true one is off, which lifts and tilts the
table in the base frame; depth noise then scatters it further. Points that cross the bound are
scattered table, and farthest-point sampling favours scattered points. Each cloud's points are
mapped back through the TRUE camera pose, and those less than 8 mm above the table are counted,
for each candidate lower bound and for each band of the table-following crop (the contract's
`table_band_m`, which fits the table in each cloud) (docs/results/student.md).
The expert drives the episodes (seeds 10000 + i, the evaluation's), so the arm moves as in a trial.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from mtdagger.perception.pointcloud import workspace_points
from mtdagger.perception.table_plane import above_table
from mtdagger.training.config import load_train_config
from mtdagger.training.robustness import select_conditions
from mtdagger.training.sim_setup import backend_config_for, expert_driven_frames

TABLE_BAND_M = 0.008  # a point whose true height is below this is the table (or an object's foot)


def table_points_per_cloud(
    config, task: str, seeds: int, every: int, crops: list[float], bands: list[float]
) -> dict:
    """Per candidate (lower bound or table band): the table points in each counted cloud (before FPS)."""
    backend = backend_config_for(config.sim, [task], render_depth=True).build()
    low = min(*crops, 0.0) - 0.05
    wide = dataclasses.replace(
        config.point_cloud, workspace_min=(*config.point_cloud.workspace_min[:2], low), table_band_m=0.0
    )
    counts = {
        **{f"z from {crop:.3f} m": [] for crop in crops},
        **{f"table band {b:.3f} m": [] for b in bands},
    }
    try:
        evaluation_seeds = range(10000, 10000 + seeds)
        steps = config.sim.max_episode_steps
        for _, frame in expert_driven_frames(backend, task, evaluation_seeds, every, steps):
            points, _ = workspace_points(frame.depth_m, frame.camera, wide)
            to_true = backend.camera.T_base_camera @ np.linalg.inv(frame.camera.T_base_camera)
            for crop in crops:
                kept = points[points[:, 2] >= crop]
                counts[f"z from {crop:.3f} m"].append(_table_count(kept, to_true))
            for band in bands:
                counts[f"table band {band:.3f} m"].append(_table_count(above_table(points, band), to_true))
    finally:
        backend.close()
    return counts


def _table_count(points: np.ndarray, to_true: np.ndarray) -> int:
    """Points whose height in the TRUE base frame is below TABLE_BAND_M."""
    return int((points @ to_true[2, :3] + to_true[2, 3] < TABLE_BAND_M).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", default="configs/fr3-drawer-pointcloud-cpu.yaml", help="preset whose contract is used"
    )
    parser.add_argument("--task", default="drawer-open", help="task the expert drives")
    parser.add_argument("--seeds", type=int, default=20, help="episodes (seeds 10000 + i)")
    parser.add_argument("--every", type=int, default=20, help="count every this many steps")
    parser.add_argument(
        "--crops", default="0.015,0.03,0.04,0.05", help="candidate lower bounds of the box's z (m)"
    )
    parser.add_argument(
        "--table-bands",
        default="",
        help="bands of the table-following crop (m, comma-separated; none by default)",
    )
    parser.add_argument(
        "--conditions", default="noise,calibration,noise+calibration", help="eval --robustness conditions"
    )
    args = parser.parse_args()
    try:
        crops = [float(value) for value in args.crops.split(",")]
    except ValueError:
        parser.error(f"--crops takes metres separated by commas, got {args.crops!r}")
    try:
        bands = [float(value) for value in args.table_bands.split(",") if value.strip()]
    except ValueError:
        parser.error(f"--table-bands takes metres separated by commas, got {args.table_bands!r}")
    try:  # both name their flag in the message
        conditions = select_conditions(args.conditions)
        load_train_config(args.config)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    if any(band <= 0 for band in bands):
        parser.error(f"--table-bands must be positive metres, got {args.table_bands!r}")
    if args.seeds < 1 or args.every < 1:
        parser.error("--seeds and --every must be at least 1")
    for condition in conditions:
        camera = condition.randomize_camera
        overrides = [
            f"sim.depth_noise={condition.depth_noise}",
            f"sim.randomize_camera={camera if isinstance(camera, str) else json.dumps(camera)}",
        ]
        counts = table_points_per_cloud(
            load_train_config(args.config, overrides), args.task, args.seeds, args.every, crops, bands
        )
        for label, values in counts.items():
            values = np.asarray(values)
            print(
                f"{condition.key:>18} | {label} | {len(values)} clouds | with table points "
                f"{np.mean(values > 0):.0%} | table points median {np.median(values):.0f}, "
                f"90th percentile {np.percentile(values, 90):.0f}, max {values.max()}"
            )


if __name__ == "__main__":
    main()
