"""`mtdagger rollout`: run episodes in simulation, print per-task success, optionally save clouds.

`--policy expert` runs each task's scripted expert; `--policy CHECKPOINT_DIR` runs that student
alone (β = 0), validated against the requested tasks. With `--out DIR`, each task gets
DIR/<task>_cloud.png (the point cloud from two viewpoints) and DIR/<task>_cloud.npz (cloud,
depth image, camera model), taken half-way through its first episode: the episode is replayed in
this process from its recorded actions (MuJoCo is deterministic), so rollouts need not render.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mtdagger import keys
from mtdagger.data.episode import Episode
from mtdagger.stats import wilson_interval
from mtdagger.training.rollout import RolloutJob, collect_episodes

EXIT_USAGE = 2


def run(args: Any) -> int:
    from rich.console import Console

    from sim_bridge.backend import UnknownTaskError
    from sim_bridge.registry import make_backend_config
    from sim_bridge.sim_camera import SimCameraConfig
    from sim_bridge.suites import load_suite_preset, resolve_tasks

    console = Console()
    try:
        tasks = resolve_tasks(args.tasks)
    except (UnknownTaskError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        student_factory, student_contract, task_index = _policy(args.policy, tasks)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.episodes <= 0 or args.workers <= 0 or args.seed < 0:
        print("error: --episodes and --workers must be positive and --seed >= 0", file=sys.stderr)
        return EXIT_USAGE
    if args.max_steps is not None and args.max_steps <= 0:
        print("error: --max-steps must be positive", file=sys.stderr)
        return EXIT_USAGE

    preset = load_suite_preset(args.tasks)
    try:
        camera = SimCameraConfig.from_yaml(args.camera_config or preset.camera)
        backend_config = make_backend_config(
            args.sim,
            tasks=tuple(tasks),
            camera=camera,
            render_depth=student_contract is not None,
            max_episode_steps=args.max_steps or preset.max_episode_steps,
        )
    except (NotImplementedError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE

    jobs = [
        RolloutJob(
            task=task,
            task_index=task_index[task],
            seed=args.seed + j,
            beta=1.0 if student_factory is None else 0.0,
            max_steps=args.max_steps,
        )
        for task in tasks
        for j in range(args.episodes)
    ]
    episodes: dict[str, list[Episode]] = defaultdict(list)
    for episode in collect_episodes(
        jobs, backend_config, student_factory, student_contract, workers=args.workers, progress=True
    ):
        episodes[episode.task_name].append(episode)

    console.print(success_table(tasks, episodes, title=f"{args.sim} rollout, policy={args.policy}"))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for task in tasks:
            first = min(episodes[task], key=lambda e: e.seed)
            png, npz = save_midepisode_cloud(backend_config, first, preset.point_cloud, out)
            console.print(f"{task}: wrote {png} and {npz}", soft_wrap=True)
    return 0


def _policy(policy: str, tasks: list[str]):
    """(student factory or None for the expert, the student's contract, task -> student task index)."""
    if policy == "expert":
        return None, None, {task: i for i, task in enumerate(tasks)}
    from mtdagger.perception.contract import PointCloudContract
    from mtdagger.policy.checkpoint import CheckpointError, read_checkpoint_meta
    from mtdagger.policy.student import CheckpointStudentFactory

    try:
        meta = read_checkpoint_meta(policy)
    except CheckpointError as error:
        raise ValueError(f"--policy must be 'expert' or a checkpoint directory: {error}") from error
    unknown = [t for t in tasks if t not in meta.tasks]
    if unknown:
        raise ValueError(
            f"checkpoint {policy} was not trained on {unknown}; its tasks: {', '.join(meta.tasks)}"
        )
    contract = (
        None if meta.point_cloud_contract is None else PointCloudContract.from_dict(meta.point_cloud_contract)
    )
    return CheckpointStudentFactory(str(policy)), contract, {task: meta.tasks.index(task) for task in tasks}


def success_table(tasks: list[str], episodes: dict[str, list[Episode]], title: str):
    from rich.table import Table

    table = Table(title=title)
    table.add_column("task", no_wrap=True)
    for column in ("episodes", "success", "95% CI", "mean steps", "steps to success"):
        table.add_column(column, justify="right", no_wrap=column == "95% CI")
    total = successes = 0
    for task in tasks:
        rows = episodes.get(task, [])
        wins = [e for e in rows if e.success]
        lo, hi = wilson_interval(len(wins), len(rows))
        to_success = [e.metadata["first_success_step"] + 1 for e in wins]
        table.add_row(
            task,
            str(len(rows)),
            f"{len(wins) / len(rows):.2f}" if rows else "-",
            f"[{lo:.2f}, {hi:.2f}]",
            f"{np.mean([e.num_steps for e in rows]):.0f}" if rows else "-",
            f"{np.mean(to_success):.0f}" if to_success else "-",
        )
        total, successes = total + len(rows), successes + len(wins)
    if total:
        lo, hi = wilson_interval(successes, total)
        table.add_row(
            "[bold]all", str(total), f"[bold]{successes / total:.2f}", f"[{lo:.2f}, {hi:.2f}]", "", ""
        )
    return table


def save_midepisode_cloud(backend_config, episode: Episode, contract, out: Path) -> tuple[Path, Path]:
    """Replay `episode` to its middle step, render depth + cloud there, write a PNG and an .npz."""
    from mtdagger.perception.pointcloud import depth_to_point_cloud

    backend = backend_config.build()
    try:
        step = episode.num_steps // 2
        observation = backend.reset(episode.task_name, episode.seed)
        for action in episode.actions[:step]:
            observation = backend.step(action).observation
        if not np.allclose(observation[keys.PRIVILEGED], episode.privileged[step], atol=1e-4):
            print(
                f"warning: replay of {episode.task_name} seed {episode.seed} diverged from the recording",
                file=sys.stderr,
            )
        frame = backend.render_depth()
        points = depth_to_point_cloud(frame.depth_m, frame.camera, contract)
    finally:
        backend.close()
    stem = out / f"{episode.task_name}_cloud"
    np.savez_compressed(
        stem.with_suffix(".npz"),
        points=points,
        depth_m=frame.depth_m,
        camera=json.dumps(frame.camera.to_dict()),
        contract=json.dumps(contract.to_dict()),
        task=episode.task_name,
        seed=episode.seed,
        step=step,
    )
    plot_cloud(points, f"{episode.task_name}  seed {episode.seed}  step {step}", stem.with_suffix(".png"))
    return stem.with_suffix(".png"), stem.with_suffix(".npz")


def plot_cloud(points: np.ndarray, title: str, path: Path) -> None:
    """Two 3-D views of a base-frame cloud side by side, equal axis scale, axes in metres."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(12, 5.5))
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre, half = (lo + hi) / 2, max(float(np.max(hi - lo)) / 2, 0.05)
    for index, (elevation, azimuth, label) in enumerate(
        ((25, -60, "front-right"), (60, 150, "from above, behind"))
    ):
        axes = figure.add_subplot(1, 2, index + 1, projection="3d")
        axes.scatter(points[:, 0], points[:, 1], points[:, 2], s=2, c=points[:, 2], cmap="viridis")
        for setter, c in zip((axes.set_xlim, axes.set_ylim, axes.set_zlim), centre):
            setter(c - half, c + half)
        axes.set_box_aspect((1, 1, 1))
        axes.set_xlabel("x (m)")
        axes.set_ylabel("y (m)")
        axes.set_zlabel("z (m)")
        axes.view_init(elev=elevation, azim=azimuth)
        axes.set_title(label)
    figure.suptitle(f"{title}  ({len(points)} points, robot base frame)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
