"""`mtdagger rehearse --checkpoint DIR --bag DIR [--objects both] [--episodes N]`: a real FR3 trial
rehearsed without hardware, then `mtdagger report` on its bag.

Runs the real graph's nodes in their real configuration (`real.launch.py robot:=franka_fr3`'s
parameters) over real rclpy with the FR3 drawer cell playing the arm behind a
joint_trajectory_controller interface (mtdagger/rehearsal/graph.py says what is real and what is
a seam), records the evaluation bag from the ROS topics and writes the report (seen/unseen
success with 95% intervals) beside it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _resolve(path: str) -> str:
    """A path as given if it exists, else relative to the repository (configs/...)."""
    candidate = Path(path).expanduser()
    if candidate.exists() or candidate.is_absolute():
        return str(candidate.resolve())
    return str((REPO_ROOT / candidate).resolve())


def _parse_set(items: list[str]) -> dict[str, dict]:
    """NODE.PARAM=VALUE (YAML value) -> {node: {param: value}}."""
    from mtdagger.files import load_yaml

    overrides: dict[str, dict] = {}
    for item in items:
        name, sep, text = item.partition("=")
        node, dot, param = name.partition(".")
        if not sep or not dot or not node or not param:
            raise ValueError(f"--set {item!r}: expected NODE.PARAM=VALUE")
        overrides.setdefault(node, {})[param] = load_yaml(text, f"--set {name}")
    return overrides


def run(args: argparse.Namespace) -> int:
    import importlib.util

    from mtdagger.commands.paths import PathError
    from mtdagger.recording.bag_reader import read_evaluation_bag
    from mtdagger.recording.report import write_report
    from mtdagger.rehearsal.graph import run_rehearsal

    if importlib.util.find_spec("rclpy") is None:
        print(
            "error: rclpy is not importable; install the `ros` extra (pip install -e '.[test]')",
            file=sys.stderr,
        )
        return 2
    try:  # everything, the checkpoint against the real graph's numbers included, before any node
        settings, report_dir = _checked_settings(args)
    except (ValueError, PathError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    bag = Path(settings.bag)
    print(f"rehearsal: {settings.tasks} on {settings.objects} cabinets, bag {bag}", flush=True)
    params_dir = bag.parent / f".{bag.name}_params"
    params_existed = params_dir.exists()
    try:
        result = run_rehearsal(settings, params_dir, log=lambda s: print(s, flush=True))
    except (OSError, ValueError, RuntimeError) as error:
        _remove_unused_outputs(bag, None if params_existed else params_dir)
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{len(result.episodes)} episode(s), {result.trajectories} JointTrajectory command(s), "
          f"{result.wall_s:.0f} s wall; bag {result.bag}")  # fmt: skip
    if result.exit_code != 0:
        return result.exit_code
    report = write_report([read_evaluation_bag(result.bag)], report_dir)
    print(report.report_path.read_text())
    return 0


def _checked_settings(args: argparse.Namespace):
    """The rehearsal's settings and report folder, every flag checked (ValueError naming it): the
    bag and report paths, the tasks and splits, the --set overrides against the nodes'
    declarations, and the checkpoint against what the real graph's policy node will impose."""
    from mtdagger.commands.paths import check_count, check_output_dir
    from mtdagger.episode_seeds import TASK_SEED_STRIDE
    from mtdagger.rehearsal.graph import RehearsalSettings
    from sim_bridge.fr3.cell import parse_objects
    from sim_bridge.registry import resolve_tasks

    bag = Path(args.bag)
    if bag.exists():
        raise ValueError(f"--bag {bag} exists; a rehearsal records a new bag")
    parse_objects(args.objects)
    overrides = _parse_set(args.set or [])
    report_dir = check_output_dir(args.report or str(bag) + "_report", "--report", must_be_empty=True)
    if args.episodes < 1 or args.max_steps < 1:
        raise ValueError("--episodes and --max-steps must be >= 1")
    check_count(args.episodes, "--episodes", maximum=TASK_SEED_STRIDE)
    check_count(args.seed, "--seed", minimum=0)
    try:
        tasks = tuple(resolve_tasks("fr3", args.tasks))
    except ValueError as error:
        raise ValueError(f"--tasks: {error}") from None
    settings = RehearsalSettings(
        checkpoint=str(Path(args.checkpoint).resolve()), bag=str(bag), tasks=tasks,
        objects=args.objects, episodes_per_task=args.episodes, seed=args.seed,
        max_episode_steps=args.max_steps, calibration_file=_resolve(args.calibration_file),
        camera_config=_resolve(args.camera_config), overrides=overrides, timeout_s=args.timeout,
    )  # fmt: skip
    run_tasks = _check_checkpoint(settings, args.checkpoint)
    # The checkpoint's task order numbers the episodes' seeds: the cabinets `mtdagger eval` draws.
    return replace(settings, seed_tasks=run_tasks), report_dir


def _check_checkpoint(settings, given: str) -> tuple[str, ...]:
    """The checkpoint as the real graph's policy node will judge it (robot_acceptance, the
    contract and robot of the rehearsal's parameters), trained in the FR3 cell on the tasks asked
    for; a refusal names --checkpoint (or the --set key it comes from). Returns its task list."""
    from calibration.extrinsics import ExtrinsicsError, load_extrinsics
    from mtdagger.control.robot_config import load_robot_config
    from mtdagger.deployment.overrides import contract_of
    from mtdagger.policy.checkpoint import CheckpointError, read_checkpoint_meta
    from mtdagger.policy.robot_acceptance import load_policy_for_robot
    from mtdagger.rehearsal.graph import rehearsal_parameters
    from sim_bridge.registry import simulator_for_checkpoint

    try:
        load_extrinsics(settings.calibration_file)
    except (ExtrinsicsError, FileNotFoundError) as error:
        raise ValueError(f"--calibration-file: {error}") from None
    try:
        meta = read_checkpoint_meta(settings.checkpoint)
        simulator_for_checkpoint(meta, "fr3", flag=None)  # the rehearsal's cell is FR3
    except (CheckpointError, ValueError) as error:
        raise ValueError(f"--checkpoint {given}: {error}") from None
    policy = rehearsal_parameters(settings)["policy"]  # --set checked against the declarations here
    robot = load_robot_config(policy["robot_config"])
    try:
        student = load_policy_for_robot(
            settings.checkpoint, contract=contract_of(policy, meta),
            control_period_s=robot.safety.control_period_s,
            trajectory_time_s=robot.controllers.trajectory_time_from_start_s,
        )  # fmt: skip
    except (CheckpointError, TypeError, ValueError) as error:
        raise ValueError(f"--checkpoint {given} refused by the real graph's policy node: {error}") from None
    unknown = [task for task in settings.tasks if task not in student.tasks]
    if unknown:
        raise ValueError(f"--tasks {unknown}: the checkpoint was trained on {list(student.tasks)}")
    return tuple(student.tasks)


def _remove_unused_outputs(bag: Path, params_dir: Path | None) -> None:
    """After a failed start: the bag folder this run created, if it holds no episode (so the
    corrected command can use the same --bag), and the parameter folder it created. A bag with any
    episode, finished or not, is evidence and stays."""
    import shutil

    from mtdagger.recording.bag_reader import BagError, read_evaluation_bag

    if bag.is_dir():
        try:
            empty = not read_evaluation_bag(bag).episodes
        except BagError:
            empty = True  # nothing readable was recorded
        if empty:
            shutil.rmtree(bag, ignore_errors=True)
    if params_dir is not None:
        shutil.rmtree(params_dir, ignore_errors=True)
