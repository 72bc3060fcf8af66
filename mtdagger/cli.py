"""`mtdagger <command>`: the command-line entry point.

This file only declares arguments; each command's work lives in `mtdagger/commands/<name>.py`
(or `mtdagger/bench/<name>.py`) as `run(args) -> int`, imported lazily so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# MuJoCo must pick its GL backend before it is first imported; headless EGL is our default.
os.environ.setdefault("MUJOCO_GL", "egl")


def _add_rollout(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rollout", help="run episodes in simulation and print per-task success")
    p.add_argument("--sim", default="metaworld", help="simulator backend (default: metaworld)")
    p.add_argument("--tasks", default="mt10", help="suite name (mt10, mt50) or comma-separated task names")
    p.add_argument("--policy", default="expert", help="'expert' or a checkpoint directory")
    p.add_argument("--episodes", type=int, default=5, help="episodes per task")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    p.add_argument("--seed", type=int, default=0, help="first seed; episode i uses seed+i")
    p.add_argument("--max-steps", type=int, default=None, help="override the episode step limit")
    p.add_argument("--camera-config", default=None, help="camera YAML (default: the suite's camera)")
    p.add_argument("--out", default=None, help="write a PNG + .npz point cloud per task here")
    p.set_defaults(module="mtdagger.commands.rollout")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="multitask DAgger training from a YAML preset")
    p.add_argument("--config", required=True, help="configs/<preset>.yaml")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its manifest")
    p.add_argument("--workers", type=int, default=None, help="override rollout worker count")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.set_defaults(module="mtdagger.commands.train")


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint in simulation (95%% Wilson intervals)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--sim", default="metaworld")
    p.add_argument("--tasks", default=None, help="default: the checkpoint's task list")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=10_000)
    p.add_argument(
        "--objects",
        choices=["seen", "unseen", "all", "both"],
        default=None,
        help="--sim fr3 only: cabinets of the drawer split to evaluate on; both = a seen and an unseen table "
        "(default: seen)",
    )
    p.set_defaults(module="mtdagger.commands.eval")


def _add_deploy(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deploy", help="run a checkpoint through the deployment loop against a simulator")
    p.add_argument("--sim", default="metaworld")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--tasks", default=None, help="default: the checkpoint's task list")
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--seed", type=int, default=20_000)
    p.add_argument("--noise", choices=["none", "realsense"], default="none", help="depth noise model")
    p.add_argument("--randomize", action="store_true", help="randomise camera pose and intrinsics")
    p.add_argument("--robot-config", default=None, help="default: the simulator's robot")
    p.add_argument("--record", default=None, metavar="BAG_DIR", help="record an evaluation bag")
    p.add_argument(
        "--config",
        default=None,
        help="YAML whose point_cloud section is this run's contract (a training preset works); "
        "the checkpoint must match it. Default: trust the checkpoint's own contract",
    )
    p.add_argument("--camera-config", default=None, help="default: the simulator's D435 config")
    p.add_argument("--max-steps", type=int, default=None, help="default: the checkpoint's training horizon")
    p.add_argument("--realtime", action="store_true", help="sleep to the control period (for watching)")
    p.set_defaults(module="mtdagger.commands.deploy")


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="turn evaluation bags into report.md + PNGs")
    p.add_argument("bags", nargs="+", help="bag directories")
    p.add_argument("--out", default=None, help="report directory (default: beside the first bag)")
    p.set_defaults(module="mtdagger.commands.report")


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks: print a table against a baseline run in the same process")
    bench = p.add_subparsers(dest="bench", required=True)
    b = bench.add_parser("perception", help="depth -> N points latency vs a naive baseline")
    b.add_argument("--repeats", type=int, default=50)
    b.add_argument("--num-points", type=int, default=1024)
    b.set_defaults(module="mtdagger.bench.perception")
    b = bench.add_parser("sim", help="simulator steps per second with and without depth rendering")
    b.add_argument("--task", default="drawer-open-v3")
    b.add_argument("--steps", type=int, default=300)
    b.set_defaults(module="mtdagger.bench.sim")
    b = bench.add_parser("schedulers", help="compare task schedulers on the same budget and seeds")
    b.add_argument("--suite", default="mt10")
    b.add_argument("--seeds", type=int, default=3)
    b.add_argument("--config", default="configs/mt10-state-bench.yaml")
    b.add_argument("--out", default="runs/bench-schedulers")
    b.add_argument("--target", type=float, default=0.8, help="target mean success")
    b.set_defaults(module="mtdagger.bench.schedulers")
    b = bench.add_parser("control", help="control-step latency per stage (depth in -> command out)")
    b.add_argument("--steps", type=int, default=200)
    b.add_argument("--num-points", type=int, default=1024)
    b.set_defaults(module="mtdagger.bench.control")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtdagger", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_rollout, _add_train, _add_eval, _add_deploy, _add_report, _add_bench):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(args.module)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
