"""`mtdagger trial plan ...` writes a trial plan; `mtdagger trial run PLAN` is the operator console.

plan: the checkpoint, its tasks, the objects (FR3 cabinet ids or NAME:seen|unseen) and episodes
per object in, a YAML plan out (mtdagger.trial.plan): interleaved order from a recorded seed,
reset instructions per episode, the checkpoint's sha256.
run: the plan checked (fields, objects, the checkpoint's weights still hashing to the plan's),
its progress loaded (`PLAN.progress.yaml`: a second run resumes), then the console (Textual)
connected over rclpy to the graph real.launch.py started. Every refusal is one line, exit code 2.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trial", help="a real trial: plan it, then run it from the operator console")
    tools = p.add_subparsers(dest="trial_command", required=True)
    plan = tools.add_parser("plan", help="write a trial plan (interleaved, seeded, with reset instructions)")
    plan.add_argument("--checkpoint", required=True, help="the checkpoint the trial runs")
    plan.add_argument("--tasks", required=True, help="comma-separated tasks of the checkpoint")
    plan.add_argument(
        "--objects",
        required=True,
        help="FR3 cabinet ids (3,cabinet-021) or a real cell's NAME:seen|unseen, comma-separated",
    )
    plan.add_argument("--episodes-per-object", type=int, default=1, help="episodes per object and task")
    plan.add_argument("--seed", type=int, default=0, help="seed of the order (recorded in the plan)")
    plan.add_argument("--out", required=True, help="the plan YAML to write (new file)")
    run = tools.add_parser("run", help="the operator console for a plan (resumes where it stopped)")
    run.add_argument("plan", help="plan YAML written by `mtdagger trial plan`")
    run.add_argument("--policy-node", default="/policy", help="the policy node's name")
    run.add_argument("--arm-node", default="/arm_controller", help="the arm controller's name")
    run.add_argument("--service-timeout", type=float, default=5.0, help="seconds to wait for a service")
    rehearse = tools.add_parser(
        "rehearse",
        help="without hardware: the rehearsal graph (FR3 cell as the arm) following PLAN, for the console",
    )
    rehearse.add_argument("plan", help="plan YAML over FR3 cabinets")
    rehearse.add_argument("--bag", required=True, help="new evaluation bag directory")
    rehearse.add_argument(
        "--deadman-timeout", type=float, default=0.5, help="arm controller's dead-man (s; 0: off)"
    )
    rehearse.add_argument("--max-steps", type=int, default=120, help="control periods per episode at most")
    p.set_defaults(module="mtdagger.commands.trial")


def run(args: argparse.Namespace) -> int:
    from mtdagger.files import OutputError
    from mtdagger.trial.plan import PlanError

    try:
        if args.trial_command == "rehearse":
            return _rehearse(args)
        return _plan(args) if args.trial_command == "plan" else _run(args)
    except (PlanError, OutputError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _plan(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mtdagger.trial.plan import PlanError, make_plan, parse_objects, write_plan

    if Path(args.out).exists():
        raise PlanError(f"--out {args.out}: exists; a plan is never overwritten (its progress refers to it)")
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    plan = make_plan(args.checkpoint, tasks, parse_objects(args.objects), args.episodes_per_object, args.seed)
    write_plan(plan, args.out)
    seen = sum(e.object_split == "seen" for e in plan.episodes)
    print(f"{args.out}: {len(plan.episodes)} episodes ({seen} seen, {len(plan.episodes) - seen} unseen), "
          f"seed {plan.seed}, checkpoint {plan.checkpoint_sha256[:12]}, plan {plan.plan_hash}")  # fmt: skip
    return 0


def _rehearse(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mtdagger.trial.plan import load_plan

    plan = load_plan(args.plan)
    if Path(args.bag).exists():
        raise ValueError(f"--bag {args.bag}: exists; a rehearsal records into a new directory")
    try:
        result = _rehearse_graph(plan, args)
    except Exception as error:  # a node refusing to start (policy_node's StartupError): one line
        if type(error).__name__ != "StartupError":
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(result['ended'])}/{len(plan.episodes)} episodes ended by the console; bag {args.bag}")
    return 0


def _rehearse_graph(plan, args: argparse.Namespace) -> dict:
    from pathlib import Path

    from mtdagger.commands.trial_rehearsal import run_trial_rehearsal

    return run_trial_rehearsal(
        plan, args.bag, Path(args.bag).with_name(Path(args.bag).name + "_params"),
        deadman_timeout_s=args.deadman_timeout, max_episode_steps=args.max_steps,
        log=lambda line: print(line, flush=True),
    )  # fmt: skip


def _run(args: argparse.Namespace) -> int:
    from mtdagger.trial.plan import load_plan
    from mtdagger.trial.progress import Progress, progress_path

    plan = load_plan(args.plan)
    progress = Progress.load(plan, progress_path(args.plan))
    if progress.next_episode() is None and progress.pending_end() is None:
        print(f"{args.plan}: all {len(plan.episodes)} episodes are done (progress: {progress.path})")
        return 0
    return _console(plan, progress, args)


def _console(plan, progress, args: argparse.Namespace) -> int:
    from mtdagger.trial.ros_client import RosTrialGraph
    from mtdagger.trial.session import TrialSession
    from mtdagger.trial.tui import TrialConsole

    holder: list = []
    graph = RosTrialGraph(policy=args.policy_node, arm=args.arm_node, service_timeout_s=args.service_timeout,
                          status=lambda: holder[0].status)  # fmt: skip
    try:
        session = TrialSession(plan, progress, graph)
        holder.append(session)
        TrialConsole(session, beat=graph.beat).run()
    finally:
        graph.close()
    print(f"{progress.done_count}/{len(plan.episodes)} episodes done; progress in {progress.path}")
    return 0
