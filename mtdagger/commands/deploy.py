"""`mtdagger deploy --sim metaworld --checkpoint DIR ...`: the deployment loop against a simulator.

The checkpoint is validated against this run before anything moves: its point-cloud contract
(against --config), its action convention (against the simulator's) and the requested tasks
(against its task list). A mismatch is refused with the checkpoint loader's message.

One safety pass per step: MetaWorld's actions go through the runtime loop's filter; the FR3 cell
runs the arm controller's core itself (filter, IK, joint limits), so the loop hands it the
policy's action unfiltered and records that pass's verdict and every reason it gives
(mtdagger.runtime.loop, `runs_safety_filter`).
"""

from __future__ import annotations

import sys

import numpy as np
from rich.console import Console
from rich.table import Table
from tqdm.auto import tqdm

from mtdagger.episode_seeds import episode_seed
from mtdagger.stats import wilson_interval


def _expected_contract(config_path: str | None):
    from mtdagger.perception.contract import PointCloudContract
    from mtdagger.training.config import read_yaml_mapping

    if config_path is None:
        return None
    data = read_yaml_mapping(config_path, "--config")
    if not data.get("point_cloud"):
        raise ValueError(f"--config {config_path} has no point_cloud section to check the checkpoint against")
    return PointCloudContract.from_dict(data["point_cloud"], where=f"--config {config_path}: point_cloud")


def _preflight(args) -> None:
    """Every flag checked before a simulator is built (ValueError naming the flag); config paths
    made independent of the current directory (repository-relative defaults). The simulator is the
    checkpoint's (`provenance.sim_backend`), as for `mtdagger eval`: another --sim is refused."""
    from mtdagger.commands.paths import check_count, check_output_dir, resolve_input_file
    from mtdagger.episode_seeds import TASK_SEED_STRIDE
    from mtdagger.policy.checkpoint import CheckpointError, load_checkpoint
    from mtdagger.runtime.session import SIM_DEFAULTS
    from mtdagger.training.preflight import camera_config
    from sim_bridge.registry import simulator_for_checkpoint

    check_count(args.episodes, "--episodes", maximum=TASK_SEED_STRIDE)
    check_count(args.max_steps, "--max-steps")
    check_count(args.seed, "--seed", minimum=0)
    args.calibration_error = _calibration_error(getattr(args, "calibration_error", None), args.record)
    if args.record:
        check_output_dir(args.record, "--record", must_be_empty=True, must_not_exist=True)
    if args.robot_config:  # given: checked before the checkpoint is read
        args.robot_config = _checked_robot_config(args.robot_config)
    try:
        _, meta = load_checkpoint(args.checkpoint)  # weights too (hash, shapes, NaN), not only the sidecar
    except CheckpointError as error:
        raise ValueError(f"--checkpoint: {error}") from None
    args.sim = simulator_for_checkpoint(meta, args.sim)
    _check_tasks(args.tasks, args.sim, list(meta.tasks))
    if args.sim not in SIM_DEFAULTS:
        raise ValueError(f"--sim {args.sim!r} is not available here; valid: {', '.join(SIM_DEFAULTS)}")
    # Unset: the simulator's own camera and robot (the FR3 cell's are not MetaWorld's).
    args.robot_config = args.robot_config or _checked_robot_config(SIM_DEFAULTS[args.sim][1])
    camera = args.camera_config or SIM_DEFAULTS[args.sim][0]
    args.camera_config = str(resolve_input_file(camera, "--camera-config"))
    camera_config(args.camera_config, "--camera-config")
    if args.config is not None:
        args.config = str(resolve_input_file(args.config, "--config"))


def _check_tasks(spec: str | None, sim: str, trained: list[str]) -> None:
    """`--tasks` names tasks of the checkpoint (`--tasks ""` names none: refused, not "all")."""
    from sim_bridge.registry import resolve_tasks

    if spec is None:
        return
    try:
        tasks = resolve_tasks(sim, spec)
    except ValueError as error:
        raise ValueError(f"--tasks: {error}") from None
    unknown = [task for task in tasks if task not in trained]
    if unknown:
        raise ValueError(f"--tasks: the checkpoint was not trained on {unknown}; its tasks: {trained}")


def _checked_robot_config(reference: str) -> str:
    """The robot YAML's path, loaded once to refuse a bad safety number naming --robot-config."""
    from mtdagger.commands.paths import resolve_input_file
    from mtdagger.control.robot_config import load_robot_config, resolve_robot_config_path

    path = str(resolve_input_file(resolve_robot_config_path(reference), "--robot-config"))
    try:
        load_robot_config(path)
    except ValueError as error:
        raise ValueError(f"--robot-config: {error}") from None
    return path


def _calibration_error(text: str | None, record: str | None) -> tuple[float, ...] | None:
    """'--calibration-error DX,DY,DZ,ROLL,PITCH,YAW' -> six floats (m, deg); ValueError names the flag.
    It only changes the recorded /tf_static, so without --record it would do nothing: refused."""
    if text is None:
        return None
    from mtdagger.perception.pose_error import check_pose_error

    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 6:
        raise ValueError(f"--calibration-error must be six numbers DX,DY,DZ,ROLL,PITCH,YAW, got {text!r}")
    check_pose_error(values, "--calibration-error")
    if not record:
        raise ValueError(
            "--calibration-error only changes the /tf_static recorded in the bag (the camera still "
            "renders from its true pose); it needs --record BAG_DIR"
        )
    return values


def run(args) -> int:
    from mtdagger.runtime.session import DeploymentError, build_sim_deployment

    console = Console()
    try:
        _preflight(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        session = build_sim_deployment(
            checkpoint=args.checkpoint,
            sim=args.sim,
            tasks=args.tasks,
            expected_contract=_expected_contract(args.config),
            camera_config=args.camera_config,
            noise=args.noise,
            randomize=args.randomize,
            robot_config=args.robot_config,
            record=args.record,
            realtime=args.realtime,
            calibration_error=args.calibration_error,
        )
    except (DeploymentError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    max_steps = args.max_steps or session.max_steps
    outcomes = []
    with session:
        jobs = [  # the scenes `mtdagger eval` resets, so the two pair episode by episode
            (task, episode_seed(args.seed, session.run_tasks.index(task), j))
            for task in session.tasks
            for j in range(args.episodes)
        ]
        for index, (task, seed) in enumerate(tqdm(jobs, desc="deploy", unit="episode")):
            outcomes.append(session.loop.run_episode(task, seed, max_steps=max_steps, episode_index=index))
    console.print(
        outcome_table(
            outcomes,
            session.tasks,
            f"deploy {args.checkpoint} (noise={args.noise}, randomize={args.randomize})",
        )
    )
    if args.record:
        console.print(f"evaluation bag: {args.record}")
    return 0


def outcome_table(outcomes, tasks: list[str], title: str) -> Table:
    """Per task: success with its 95% Wilson interval, safety interventions, control-step latency."""
    table = Table(title=title)
    table.add_column("task", overflow="fold")
    for column in ("eps", "success [95% CI]", "held", "clipped", "ctrl ms p50/p99"):
        table.add_column(column, justify="right")
    for task in tasks:
        rows = [o for o in outcomes if o.task == task]
        if not rows:
            continue
        successes = sum(o.success for o in rows)
        lo, hi = wilson_interval(successes, len(rows))
        latency = np.concatenate([o.control_latency_ms for o in rows])
        table.add_row(
            task,
            str(len(rows)),
            f"{successes / len(rows):.2f} [{lo:.2f}, {hi:.2f}]",
            str(sum(o.status_counts["held"] + o.status_counts["stopped"] for o in rows)),
            str(sum(o.status_counts["clipped"] for o in rows)),
            f"{np.percentile(latency, 50):.1f}/{np.percentile(latency, 99):.1f}",
        )
    return table
