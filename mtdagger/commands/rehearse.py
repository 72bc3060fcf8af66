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
    import yaml

    overrides: dict[str, dict] = {}
    for item in items:
        name, sep, text = item.partition("=")
        node, dot, param = name.partition(".")
        if not sep or not dot or not node or not param:
            raise ValueError(f"--set {item!r}: expected NODE.PARAM=VALUE")
        overrides.setdefault(node, {})[param] = yaml.safe_load(text)
    return overrides


def run(args: argparse.Namespace) -> int:
    import importlib.util

    from mtdagger.commands.paths import PathError, check_output_dir
    from mtdagger.recording.bag_reader import read_evaluation_bag
    from mtdagger.recording.report import write_report
    from mtdagger.rehearsal.graph import RehearsalSettings, run_rehearsal
    from sim_bridge.fr3.cell import parse_objects

    if importlib.util.find_spec("rclpy") is None:
        print(
            "error: rclpy is not importable; install the `ros` extra (pip install -e '.[test]')",
            file=sys.stderr,
        )
        return 2
    checkpoint = Path(args.checkpoint)
    if not (checkpoint / "checkpoint.json").is_file():
        print(f"error: --checkpoint {checkpoint}: no checkpoint.json there", file=sys.stderr)
        return 2
    bag = Path(args.bag)
    if bag.exists():
        print(f"error: --bag {bag} exists; a rehearsal records a new bag", file=sys.stderr)
        return 2
    try:
        parse_objects(args.objects)
        overrides = _parse_set(args.set or [])
        report_dir = check_output_dir(args.report or str(bag) + "_report", "--report", must_be_empty=True)
        if args.episodes < 1 or args.max_steps < 1:
            raise ValueError("--episodes and --max-steps must be >= 1")
    except (ValueError, PathError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = RehearsalSettings(
        checkpoint=str(checkpoint.resolve()), bag=str(bag), tasks=tuple(args.tasks.split(",")),
        objects=args.objects, episodes_per_task=args.episodes, seed=args.seed,
        max_episode_steps=args.max_steps, calibration_file=_resolve(args.calibration_file),
        camera_config=_resolve(args.camera_config), overrides=overrides, timeout_s=args.timeout,
    )  # fmt: skip
    print(f"rehearsal: {settings.tasks} on {settings.objects} cabinets, bag {bag}", flush=True)
    try:
        params_dir = bag.parent / f".{bag.name}_params"
        result = run_rehearsal(settings, params_dir, log=lambda s: print(s, flush=True))
    except (OSError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{len(result.episodes)} episode(s), {result.trajectories} JointTrajectory command(s), "
          f"{result.wall_s:.0f} s wall; bag {result.bag}")  # fmt: skip
    if result.exit_code != 0:
        return result.exit_code
    report = write_report([read_evaluation_bag(result.bag)], report_dir)
    print(report.report_path.read_text())
    return 0
