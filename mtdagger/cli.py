"""`mtdagger <command>`: the command-line entry point.

This file only declares arguments; each command's work lives in `mtdagger/commands/<name>.py`
(or `mtdagger/bench/<name>.py`) as `run(args) -> int`, imported lazily so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

from mtdagger.cli_types import count_list_type, count_type

# Integer flags checked by the parser (one `error:` line naming the flag, exit code 2).
_POSITIVE, _NON_NEGATIVE = count_type(1), count_type(0)
# Evaluation scenes (mtdagger/episode_seeds.py): the same for eval, deploy and rehearse.
_SEED_RULE = "episode i of the checkpoint's k-th task uses seed + 1000 k + i"

# MuJoCo must pick its GL backend before it is first imported; headless EGL is our default.
os.environ.setdefault("MUJOCO_GL", "egl")


def _add_rollout(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rollout", help="run episodes in simulation and print per-task success")
    p.add_argument("--sim", default="metaworld", help="simulator backend (default: metaworld)")
    p.add_argument("--tasks", default="mt10", help="suite name (mt10, mt50) or comma-separated task names")
    p.add_argument("--policy", default="expert", help="'expert' or a checkpoint directory")
    p.add_argument("--episodes", type=int, default=5, help="episodes per task")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    p.add_argument("--ray", default=None, metavar="ADDRESS", help="Ray cluster: auto, local, HOST:PORT")
    p.add_argument("--seed", type=int, default=0, help="first seed; episode i uses seed+i")
    p.add_argument("--max-steps", type=int, default=None, help="override the episode step limit")
    p.add_argument("--camera-config", default=None, help="camera YAML (default: the suite's camera)")
    p.add_argument(
        "--out",
        default=None,
        help="write each finished episode (episodes/<task>/seed_<n>.npz) and a PNG + .npz point cloud "
        "per task here, atomically; re-running the same command with the same --out resumes it",
    )
    p.set_defaults(module="mtdagger.commands.rollout")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="multitask DAgger training from a YAML preset",
        epilog=_settable_keys_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", required=True, help="configs/<preset>.yaml")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument(
        "--resume", action="store_true",
        help="continue the run in --out from its manifest (bit-identical to an uninterrupted run, with "
        "any --workers)",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, default=None,
        help="override rollout worker count (changes speed, not results: a resume may change it)",
    )  # fmt: skip
    p.add_argument("--ray", default=None, metavar="ADDRESS", help="Ray cluster: auto, local, HOST:PORT")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. dagger.rounds=3 (value parsed as YAML; keys listed below)",
    )
    p.set_defaults(module="mtdagger.commands.train")


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint in simulation (95%% Wilson intervals)")
    p.add_argument("--checkpoint", required=True, help="checkpoint directory (weights + checkpoint.json)")
    p.add_argument(
        "--sim", default=None, help="simulator backend (default: the one the checkpoint was trained in)"
    )
    p.add_argument("--tasks", default=None, help="default: the checkpoint's task list")
    p.add_argument("--episodes", type=int, default=10, help="episodes per task (>= 1)")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (1..256)")
    p.add_argument("--ray", default=None, metavar="ADDRESS", help="Ray cluster: auto, local, HOST:PORT")
    p.add_argument("--seed", type=int, default=10_000, help=f"first seed: {_SEED_RULE}")
    p.add_argument(
        "--max-steps", type=int, default=None, help="episode step limit (default: the training horizon)"
    )
    p.add_argument(
        "--objects",
        choices=["seen", "unseen", "all", "both"],
        default=None,
        help="--sim fr3 only: cabinets of the drawer split to evaluate on; both = a seen and an unseen table "
        "(default: seen)",
    )
    p.add_argument(
        "--noise",
        choices=["none", "realsense"],
        default="none",
        help="depth noise model of the evaluation camera (default: none, clean depth)",
    )
    p.add_argument(
        "--randomize", action="store_true", help="randomise the camera pose and intrinsics per episode"
    )
    p.add_argument(
        "--robustness",
        action="store_true",
        help="point-cloud checkpoints: success with clean depth, RealSense noise, camera "
        "randomisation, a 1 cm / 1 deg calibration error and their combinations, on the same seeds "
        "(replaces --noise/--randomize)",
    )
    p.add_argument(
        "--conditions",
        default=None,
        help="with --robustness: the conditions to run, comma-separated, from clean, noise, "
        "randomised, calibration, noise+randomised, noise+calibration (default: all six)",
    )
    p.set_defaults(module="mtdagger.commands.eval")


def _add_deploy(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deploy", help="run a checkpoint through the deployment loop against a simulator")
    p.add_argument(
        "--sim", default=None, help="simulator backend (default: the one the checkpoint was trained in)"
    )
    p.add_argument("--checkpoint", required=True, help="point-cloud checkpoint directory")
    p.add_argument("--tasks", default=None, help="default: the checkpoint's task list")
    p.add_argument("--episodes", type=int, default=3, help="episodes per task (>= 1)")
    p.add_argument("--seed", type=int, default=20_000, help=f"first seed (>= 0): {_SEED_RULE}, as in eval")
    p.add_argument("--noise", choices=["none", "realsense"], default="none", help="depth noise model")
    p.add_argument("--randomize", action="store_true", help="randomise camera pose and intrinsics")
    p.add_argument(
        "--robot-config",
        default=None,
        help="robot YAML or a robot name in configs/robots (default: the simulator's robot)",
    )
    p.add_argument(
        "--record", default=None, metavar="BAG_DIR", help="record an evaluation bag (a new directory)"
    )
    p.add_argument(
        "--calibration-error",
        default=None,
        metavar="DX,DY,DZ,ROLL,PITCH,YAW",
        help="with --record: record /tf_static this far (m, deg; at most 0.25 m and 30 deg per axis) off "
        "the true camera pose, to rehearse a miscalibrated cell for `mtdagger gap`",
    )
    p.add_argument(
        "--config",
        default=None,
        help="YAML whose point_cloud section is this run's contract (a training preset works); "
        "the checkpoint must match it. Default: trust the checkpoint's own contract",
    )
    p.add_argument(
        "--camera-config",
        default=None,
        help="simulated camera YAML (default: the simulator's D435 config; relative paths also tried "
        "from the repository)",
    )
    p.add_argument("--max-steps", type=int, default=None, help="default: the checkpoint's training horizon")
    p.add_argument("--realtime", action="store_true", help="sleep to the control period (for watching)")
    p.set_defaults(module="mtdagger.commands.deploy")


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="turn evaluation bags into report.md + PNGs")
    p.add_argument("bags", nargs="+", help="bag directories, or folders of bags (a launch's bag_dir)")
    p.add_argument(
        "--out", default=None, help="report directory, new or empty (default: report/ beside the first bag)"
    )
    p.add_argument("--sim-eval", default=None, metavar="FILE", help="sim results of the same checkpoint "
                   "(YAML: mtdagger/recording/report_trial.py): a sim-versus-real table")  # fmt: skip
    p.set_defaults(module="mtdagger.commands.report")


def _add_gap(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gap", help="sim-to-real gap check: a bag's depth vs what training saw")
    p.add_argument("bag", help="evaluation bag directory recorded with depth (e.g. by deploy --record)")
    p.add_argument(
        "--config", default=None, help="training preset YAML: its point-cloud contract, simulator and camera"
    )
    p.add_argument("--out", default=None, help="report directory (default: BAG_gap beside the bag)")
    p.add_argument("--episodes", type=int, default=8, help="compare the first frame of this many episodes")
    p.add_argument("--reflex", action="store_true", help="instead: bag commands at 1 kHz vs joint limits")
    p.add_argument("--robot", default="franka_fr3", help="--reflex: robot config (name or YAML)")
    p.add_argument("--urdf", default=None, help="--reflex: URDF to replay the arm controller with")
    p.set_defaults(module="mtdagger.commands.gap")


def _add_rehearse(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rehearse", help="rehearse a real FR3 trial: real graph over rclpy, arm simulated")
    p.add_argument("--checkpoint", required=True, help="FR3 point-cloud checkpoint directory")
    p.add_argument("--bag", required=True, help="new evaluation bag directory to record")
    p.add_argument("--tasks", default="drawer-open", help="comma-separated drawer tasks, run in order")
    p.add_argument("--objects", default="both", help="cabinets: seen | unseen | both (each split in turn)")
    p.add_argument("--episodes", type=int, default=2, help="episodes per task and object split")
    p.add_argument("--seed", type=int, default=0, help=f"{_SEED_RULE} (both splits; as in eval)")
    p.add_argument("--max-steps", type=int, default=120, help="control periods per episode at most")
    p.add_argument(
        "--calibration-file", default="configs/calibration/fr3_cell.yaml",
        help="the cell's calibration YAML (the camera pose rendered and given to the preprocessing)",
    )  # fmt: skip
    p.add_argument("--camera-config", default="configs/cameras/fr3_d435.yaml", help="simulated camera YAML")
    p.add_argument("--report", default=None, help="report directory (default: BAG_report)")
    p.add_argument(
        "--set", action="append", metavar="NODE.PARAM=VALUE",
        help="override a node parameter of the real configuration (kept in .BAG_params/ beside the bag)",
    )  # fmt: skip
    p.add_argument("--timeout", type=float, default=3600.0, help="wall-clock limit of the rehearsal (s)")
    p.set_defaults(module="mtdagger.commands.rehearse")


def _add_bench(sub: argparse._SubParsersAction) -> None:  # house-rules: one line per benchmark flag
    p = sub.add_parser("bench", help="benchmarks: print a table against a baseline run in the same process")
    bench = p.add_subparsers(dest="bench", required=True)
    b = bench.add_parser("perception", help="depth -> N points latency vs a naive baseline")
    b.add_argument("--repeats", type=_POSITIVE, default=50, help="timed repeats per pipeline")
    b.add_argument("--num-points", type=_POSITIVE, default=1024, help="points per cloud (the contract's N)")
    b.set_defaults(module="mtdagger.bench.perception")
    b = bench.add_parser("sim", help="simulator steps per second with and without depth rendering")
    b.add_argument("--task", default="drawer-open-v3", help="task to step")
    b.add_argument("--steps", type=_POSITIVE, default=300, help="simulator steps per measurement")
    b.set_defaults(module="mtdagger.bench.sim")
    b = bench.add_parser("schedulers", help="compare task schedulers on the same budget and seeds")
    b.add_argument("--suite", default="mt10", help="mt10, mt50, mt50-subset or comma-separated tasks")
    b.add_argument("--seeds", type=_POSITIVE, default=5, help="training seeds per scheduler (paired)")
    b.add_argument("--first-seed", type=_NON_NEGATIVE, default=0, help="first seed (split seeds over runs)")
    b.add_argument("--config", default="configs/mt10-state-sched.yaml", help="training preset")
    b.add_argument("--out", default="runs/bench-schedulers", help="where the runs and the table go")
    b.add_argument("--targets", default="0.6,0.8", help="mean-success targets for 'expert eps to'")
    b.add_argument("--schedulers", default="all", help="comma-separated variants (default all)")
    b.add_argument("--set", action="append", default=[], help="preset override key=value (repeatable)")
    b.add_argument("--ray", default=None, metavar="ADDRESS", help="run the cells as Ray tasks there")
    b.set_defaults(module="mtdagger.bench.schedulers")
    from mtdagger.bench.rollouts import add_parser as add_rollouts  # its flags live beside it

    add_rollouts(bench, _POSITIVE, count_list_type())
    b = bench.add_parser("schedulers-scale", help="scheduler allocation + update time, 1e3-1e5 tasks")
    b.add_argument(
        "--tasks", type=count_list_type(), default="1000,10000,100000", help="comma-separated task counts"
    )
    b.add_argument("--repeats", type=_POSITIVE, default=50, help="timed rounds per cell (/10 above 10k)")
    b.set_defaults(module="mtdagger.bench.schedulers_scale")
    b = bench.add_parser("control", help="control-step latency per stage (depth in -> command out)")
    b.add_argument("--steps", type=_POSITIVE, default=200, help="control steps timed")
    b.add_argument("--num-points", type=_POSITIVE, default=1024, help="points per cloud (the contract's N)")
    b.set_defaults(module="mtdagger.bench.control")
    b = bench.add_parser("ros", help="camera -> command latency, real rclpy vs in-process; CPU per node")
    b.add_argument("--task", default="reach-v3", help="MetaWorld task the graph runs")
    b.add_argument("--steps", type=_POSITIVE, default=200, help="timed control steps (after 10 warm-up)")
    b.add_argument(
        "--num-points", type=_POSITIVE, default=1024, help="points per cloud of the random checkpoint"
    )
    b.set_defaults(module="mtdagger.bench.ros")
    b = bench.add_parser("safety", help="fuzz safety filter + arm command: unsafe outputs, p99")
    b.add_argument("--actions", type=int, default=1_000_000, help="random + adversarial actions to check")
    b.add_argument("--timed", type=int, default=20_000, help="filter calls timed one by one (percentiles)")
    b.add_argument("--seed", type=int, default=0, help="random seed of the generated actions")
    b.add_argument("--robot", default="metaworld_sawyer", help="robot config (name or YAML) to fuzz")
    b.add_argument("--joint-steps", type=int, default=2000, help="IK steps of the joint-limit scenario")
    b.set_defaults(module="mtdagger.bench.safety")
    b = bench.add_parser("train", help="point-cloud BC samples/s vs DP3's encoder, and rollout steps/s")
    b.add_argument("--num-points", type=int, default=512, help="points per cloud (default 512)")
    b.add_argument("--batch", type=int, default=256, help="training batch size (default 256)")
    b.add_argument("--repeats", type=int, default=5, help="timed training steps per network")
    b.add_argument("--fit-steps", type=int, default=150, help="fixed-batch steps for 'fit loss' (0: skip)")
    b.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    b.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="where the networks train (default: cpu)"
    )
    b.add_argument("--task", default="reach-v3", help="task for the rollout rows")
    b.add_argument("--workers", default="1,2", help="comma-separated rollout worker counts")
    b.add_argument("--rollout-episodes", type=int, default=4, help="episodes per rollout row (0: skip)")
    b.add_argument("--rollout-steps", type=int, default=100, help="steps per rollout episode")
    b.set_defaults(module="mtdagger.bench.train")


def _add_bag(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bag", help="evaluation bag tools (repair a killed recording)")
    tools = p.add_subparsers(dest="bag_command", required=True)
    r = tools.add_parser("repair", help="make a killed bag readable by rosbags / ros2 bag")
    r.add_argument("bag", help="bag directory (or its .mcap file) left by a killed `deploy --record`")
    r.add_argument("--out", default=None,
                   help="write the repaired bag to this new directory instead of in place "
                        "(in place keeps the killed file as <name>.mcap.unrepaired)")
    r.add_argument("--distro", default="jazzy", choices=("jazzy", "humble"),
                   help="rosbag2 metadata version to write (jazzy: v9, humble: v8)")
    p.set_defaults(module="mtdagger.commands.bag")


def _settable_keys_epilog() -> str:
    """`train --help` lists every key `--set` accepts (from the config dataclasses themselves)."""
    from mtdagger.training.config import settable_keys

    keys = settable_keys()
    lines, line = [], " "
    for key in keys:
        if len(line) + len(key) > 92:
            lines.append(line)
            line = " "
        line += f" {key}"
    lines.append(line)
    head = (
        "keys --set accepts (student.config.* per architecture; "
        "scheduler.* and dagger.beta.* per name/schedule):"
    )
    return head + "\n" + "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """argparse, with its refusals as the project's one `error:` line (exit code 2) instead of the
    usage text and a `prog: error:` line; `--help` still prints the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mtdagger", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (
        _add_rollout,
        _add_train,
        _add_eval,
        _add_deploy,
        _add_report,
        _add_bench,
        _add_bag,
        _add_gap,
        _add_rehearse,
    ):
        add(sub)
    from mtdagger.commands.trial import add_parser as add_trial  # its sub-commands' flags live beside them

    add_trial(sub)
    from mtdagger.cli_calibrate import add_parser as add_calibrate

    add_calibrate(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from mtdagger.files import OutputError

    args = build_parser().parse_args(argv)
    module = importlib.import_module(args.module)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OutputError as error:  # an output that cannot be written, named (mtdagger/files.py)
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
