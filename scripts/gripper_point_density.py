"""How many points of the FR3 contract's cloud lie near the gripper, before and after sampling to N.

    MUJOCO_GL=egl python scripts/gripper_point_density.py [--config CONFIG] [--seeds 3] [--every 15]

Why: the gripper-frame student reads the cloud against the state's gripper position, and a
1 cm / 1° calibration error moves the cloud 1-3 cm against it. Whether the student could instead
find the gripper IN the cloud depends on how many points the camera puts there
(docs/results/student.md, "Robustness on FR3: two levers"). The expert drives clean, nominal
-camera episodes; every `--every` steps the depth image goes through the contract's stages 1-4
(the voxelised cloud) and 5-6 (farthest-point sampling to N), and the points within 3 and 5 cm of
the gripper are counted in each.
"""

from __future__ import annotations

import argparse

import numpy as np

from mtdagger import keys
from mtdagger.perception.pointcloud import sample_fixed_size, workspace_points
from mtdagger.training.config import load_train_config
from mtdagger.training.sim_setup import backend_config_for, expert_driven_frames, resolve_run_tasks

RADII_M = (0.03, 0.05)


def _near(points: np.ndarray, gripper: np.ndarray, radius: float) -> int:
    return int((np.linalg.norm(points - gripper, axis=1) < radius).sum())


def count_near_gripper(config, seeds: int, every: int) -> tuple[list[int], dict[float, tuple[list, list]]]:
    """Per counted step: the voxelised cloud's size, and per radius (voxelised, sampled) counts."""
    tasks = resolve_run_tasks(config.sim)  # a suite name or comma-separated tasks
    backend = backend_config_for(config.sim, tasks, render_depth=True).build()
    contract = config.point_cloud
    sizes, counts = [], {r: ([], []) for r in RADII_M}
    try:
        for task in tasks:
            steps = config.sim.max_episode_steps
            for observation, frame in expert_driven_frames(backend, task, range(seeds), every, steps):
                full, _ = workspace_points(frame.depth_m, frame.camera, contract)
                sampled = sample_fixed_size(full, contract.num_points)
                gripper = observation[keys.STATE][:3]
                sizes.append(len(full))
                for radius, (voxelised, fps) in counts.items():
                    voxelised.append(_near(full, gripper, radius))
                    fps.append(_near(sampled, gripper, radius))
    finally:
        backend.close()
    return sizes, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", default="configs/fr3-drawer-pointcloud-cpu.yaml", help="FR3 preset whose contract is used"
    )
    parser.add_argument("--seeds", type=int, default=3, help="episodes per task (seeds 0..n-1)")
    parser.add_argument("--every", type=int, default=15, help="count every this many steps")
    args = parser.parse_args()
    config = load_train_config(args.config, ["sim.depth_noise=none", "sim.randomize_camera=none"])
    sizes, counts = count_near_gripper(config, args.seeds, args.every)
    num_points = config.point_cloud.num_points
    print(f"{len(sizes)} clouds; voxelised {int(np.median(sizes))} points (median), sampled to {num_points}")
    for radius, (voxelised, fps) in counts.items():
        print(
            f"within {radius * 100:.0f} cm of the gripper: voxelised median {np.median(voxelised):.0f} "
            f"(10th percentile {np.percentile(voxelised, 10):.0f}), after sampling median "
            f"{np.median(fps):.0f} (10th percentile {np.percentile(fps, 10):.0f})"
        )


if __name__ == "__main__":
    main()
