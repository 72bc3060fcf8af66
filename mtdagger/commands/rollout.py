"""`mtdagger rollout`: run episodes in simulation, print per-task success, optionally save clouds.

`--policy expert` runs each task's scripted expert; `--policy CHECKPOINT_DIR` runs that student
alone (β = 0), validated against the requested tasks. With `--out DIR`, every finished episode is
written as it finishes (layout and resume rules: `rollout_out.py`), and each task gets
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
from mtdagger.commands.paths import MAX_WORKERS, PathError, check_count
from mtdagger.commands.rollout_out import RolloutOutput
from mtdagger.data.episode import Episode
from mtdagger.stats import wilson_interval
from mtdagger.testing_hooks import pause_point
from mtdagger.training.config import check_ray_address
from mtdagger.training.rollout import RolloutJob, collect_episodes

EXIT_USAGE = 2


def run(args: Any) -> int:
    from rich.console import Console

    from sim_bridge.suites import load_suite_preset, resolve_tasks

    console = Console()
    try:  # tasks, policy and counts: each refusal is a ValueError (UnknownTaskError, PathError)
        tasks = resolve_tasks(args.tasks)
        student_factory, student_contract, task_index = _policy(args.policy, tasks)
        _check_counts(args)
    except ValueError as error:
        return _usage_error(error)

    preset = load_suite_preset(args.tasks)
    try:
        backend_config = _backend_config(args, preset, tasks, render_depth=student_contract is not None)
    except (NotImplementedError, ValueError, FileNotFoundError) as error:
        return _usage_error(error)

    output = None
    if args.out:
        output = RolloutOutput(args.out, _spec(args))
        try:
            if output.open():
                console.print(f"resume: {args.out} holds this rollout; its finished episodes are kept")
        except PathError as error:
            return _usage_error(error)

    beta = 1.0 if student_factory is None else 0.0
    jobs, episodes = _jobs_to_run(args, tasks, task_index, beta, output)
    from mtdagger.distributed import rollout_engine

    engine = rollout_engine(getattr(args, "ray", None), args.workers)  # None: the local pool
    try:
        for episode in collect_episodes(
            jobs, backend_config, student_factory, student_contract, workers=args.workers, engine=engine
        ):
            episodes[episode.task_name].append(episode)
            if output is not None:  # on disk as it finishes: a kill loses no finished episode
                output.add(episode)
                pause_point(f"rollout-out:{sum(map(len, episodes.values()))}")
    finally:
        if engine is not None:
            engine.close()

    console.print(success_table(tasks, episodes, title=f"{args.sim} rollout, policy={args.policy}"))
    if output is not None:
        _write_clouds(console, output, tasks, episodes, backend_config, preset.point_cloud)
    return 0


def _usage_error(error: Exception) -> int:
    """Print a usage error the way every refusal of this command is printed; the exit status."""
    print(f"error: {error}", file=sys.stderr)
    return EXIT_USAGE


def _check_counts(args: Any) -> None:
    """Refuse unusable counts (PathError, naming the flag) before any simulator starts."""
    check_count(args.episodes, "--episodes")
    check_count(args.workers, "--workers", maximum=MAX_WORKERS)
    check_count(args.seed, "--seed", minimum=0)
    check_count(args.max_steps, "--max-steps")
    check_ray_address(getattr(args, "ray", None), "--ray")


def _backend_config(args: Any, preset: Any, tasks: list[str], *, render_depth: bool) -> Any:
    """The simulator config: the flags win over the suite preset (camera, episode length); depth is
    rendered only for a point-cloud student, since the expert and state students never look."""
    from mtdagger.training.preflight import camera_config
    from sim_bridge.registry import make_backend_config

    camera = camera_config(args.camera_config or preset.camera, "--camera-config")
    return make_backend_config(
        args.sim,
        tasks=tuple(tasks),
        camera=camera,
        render_depth=render_depth,
        max_episode_steps=args.max_steps or preset.max_episode_steps,
    )


def _jobs_to_run(
    args: Any, tasks: list[str], task_index: dict[str, int], beta: float, output: RolloutOutput | None
) -> tuple[list[RolloutJob], defaultdict[str, list[Episode]]]:
    """(jobs still to run, episodes already finished by task): a resumed --out keeps what it holds,
    so only the missing (task, seed) pairs are run again."""
    jobs, episodes = [], defaultdict(list)
    for task in tasks:
        for j in range(args.episodes):
            finished = output.load_finished(task, args.seed + j) if output else None
            if finished is not None:
                episodes[task].append(finished)
                continue
            jobs.append(
                RolloutJob(
                    task=task,
                    task_index=task_index[task],
                    seed=args.seed + j,
                    beta=beta,
                    max_steps=args.max_steps,
                )
            )
    return jobs, episodes


def _write_clouds(
    console: Any,
    output: RolloutOutput,
    tasks: list[str],
    episodes: dict[str, list[Episode]],
    backend_config: Any,
    contract: Any,
) -> None:
    """Each task's mid-episode cloud (PNG + .npz) from its first episode, unless a resumed --out
    already holds both files."""
    for task in tasks:
        if output.cloud_done(task):
            continue
        first = min(episodes[task], key=lambda e: e.seed)
        png, npz = save_midepisode_cloud(backend_config, first, contract, output.cloud_paths(task))
        console.print(f"{task}: wrote {png} and {npz}", soft_wrap=True)


def _spec(args: Any) -> dict[str, Any]:
    """What makes this rollout's episodes what they are (a resumed --out must match it)."""
    return {
        "sim": args.sim,
        "tasks": args.tasks,
        "policy": str(args.policy),
        "episodes": args.episodes,
        "seed": args.seed,
        "max_steps": args.max_steps,
        "camera_config": args.camera_config,
    }


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


def save_midepisode_cloud(
    backend_config, episode: Episode, contract, paths: tuple[Path, Path]
) -> tuple[Path, Path]:
    """Replay `episode` to its middle step, render depth + cloud there, write a PNG and an .npz.

    Each file is rendered into memory and written atomically (temp + fsync + rename), PNG first;
    `rollout_out.RolloutOutput.cloud_done` wants both, so a kill between them redoes the pair."""
    import io

    from mtdagger.data.durable_write import atomic_write_bytes
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
    png, npz = paths
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        points=points,
        depth_m=frame.depth_m,
        camera=json.dumps(frame.camera.to_dict()),
        contract=json.dumps(contract.to_dict()),
        task=episode.task_name,
        seed=episode.seed,
        step=step,
    )
    image = io.BytesIO()
    plot_cloud(points, f"{episode.task_name}  seed {episode.seed}  step {step}", image)
    atomic_write_bytes(png, image.getvalue())
    pause_point(f"rollout-cloud:{episode.task_name}")
    atomic_write_bytes(npz, buffer.getvalue())
    return png, npz


def plot_cloud(points: np.ndarray, title: str, path: Any) -> None:
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
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)
