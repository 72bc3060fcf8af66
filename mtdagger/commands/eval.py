"""`mtdagger eval --checkpoint DIR --episodes N`: per-task success, 95% Wilson intervals.

The simulator defaults to the one the checkpoint was trained in (its provenance); another one is
refused, since the robot, tasks and contract are that simulator's.
"""

from __future__ import annotations

import sys

from rich.console import Console


class _Refusal(ValueError):
    """A bad flag or checkpoint: one line on stderr, exit 2."""


def _checked_meta(args):
    """Counts checked, the checkpoint loaded (weights too: hash, shapes, NaN, here rather than as a
    worker's RolloutJobError), `args.sim` resolved; returns (meta, tasks to evaluate)."""
    from mtdagger.commands.paths import MAX_WORKERS, PathError, check_count
    from mtdagger.episode_seeds import TASK_SEED_STRIDE
    from mtdagger.policy.checkpoint import CheckpointError, load_checkpoint
    from mtdagger.training.config import SimConfig, check_ray_address
    from mtdagger.training.sim_setup import resolve_run_tasks
    from sim_bridge.registry import simulator_for_checkpoint

    try:
        check_count(args.episodes, "--episodes", maximum=TASK_SEED_STRIDE)
        check_count(args.workers, "--workers", maximum=MAX_WORKERS)
        check_count(args.seed, "--seed", minimum=0)
        check_count(getattr(args, "max_steps", None), "--max-steps")
        check_ray_address(getattr(args, "ray", None), "--ray")
        _, meta = load_checkpoint(args.checkpoint)
    except (CheckpointError, PathError, ValueError) as error:
        raise _Refusal(str(error)) from None
    try:
        args.sim = simulator_for_checkpoint(meta, args.sim)
    except ValueError as error:
        raise _Refusal(str(error)) from None
    run_tasks = list(meta.tasks)
    try:  # `--tasks ""` names no task: refused, not read as "every task"
        tasks = run_tasks
        if args.tasks is not None:
            tasks = resolve_run_tasks(SimConfig(backend=args.sim, tasks=args.tasks))
    except ValueError as error:
        raise _Refusal(f"--tasks: {error}") from None
    unknown = [t for t in tasks if t not in run_tasks]
    if unknown:
        raise _Refusal(f"checkpoint was not trained on {unknown}; its tasks: {', '.join(run_tasks)}")
    if getattr(args, "objects", None) is not None and args.sim != "fr3":
        raise _Refusal("--objects applies to --sim fr3 (the drawer suite's seen/unseen split)")
    if getattr(args, "conditions", None) is not None and not getattr(args, "robustness", False):
        raise _Refusal("--conditions chooses among --robustness's conditions; add --robustness")
    return meta, tasks


def run(args) -> int:
    from mtdagger.perception.contract import PointCloudContract
    from mtdagger.policy.student import CheckpointStudentFactory
    from mtdagger.training.config import SimConfig
    from mtdagger.training.evaluate import evaluate_student
    from mtdagger.training.sim_setup import backend_config_for

    try:
        meta, tasks = _checked_meta(args)
    except _Refusal as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run_tasks = list(meta.tasks)
    contract = None
    if meta.point_cloud_contract is not None:
        contract = PointCloudContract.from_dict(meta.point_cloud_contract)
    max_steps = getattr(args, "max_steps", None) or int(meta.provenance.get("max_episode_steps", 200))
    objects = getattr(args, "objects", None)
    # The FR3 drawer suite reports seen and unseen cabinets separately (same tasks, other objects).
    splits = ["seen", "unseen"] if objects == "both" else [objects or "seen"]

    def evaluate(extra: dict, **camera) -> list:
        sim = SimConfig(backend=args.sim, max_episode_steps=max_steps, **camera)
        return evaluate_student(
            CheckpointStudentFactory(str(args.checkpoint)),
            backend_config_for(sim, run_tasks, render_depth=contract is not None, **extra),
            tasks,
            run_tasks,
            episodes=args.episodes,
            seed=args.seed,
            contract=contract,
            max_steps=max_steps,
            workers=args.workers,
            engine=engine,
        )

    from mtdagger.distributed import rollout_engine

    engine = rollout_engine(getattr(args, "ray", None), args.workers)  # None: the local pool
    noise, randomize = getattr(args, "noise", "none"), getattr(args, "randomize", False)
    try:
        if getattr(args, "robustness", False):
            return _robustness(args, evaluate, contract, splits, noise, randomize)
        return _one_condition(args, evaluate, splits, max_steps, noise, randomize)
    finally:
        if engine is not None:
            engine.close()


def _one_condition(args, evaluate, splits: list[str], max_steps: int, noise: str, randomize: bool) -> int:
    """One table per object split, under the camera the flags choose (default: clean depth)."""
    from mtdagger.training.evaluate import results_table

    camera = {"depth_noise": noise, "randomize_camera": "default" if randomize else "none"}
    condition = ", ".join([f"{noise} depth noise"] + (["randomised camera"] if randomize else []))
    for split in splits if args.sim == "fr3" else [None]:
        results = evaluate({} if split is None else {"objects": split}, **camera)
        # What was measured first: rich wraps the title and shortens the (long) checkpoint path.
        label = "" if split is None else f", {split} objects"
        episodes = f"{args.episodes} episodes per task of {max_steps} steps"
        title = f"eval{label} ({episodes}, {condition}): {args.checkpoint}"
        Console().print(results_table(results, title))
        _print_failed_seeds({condition: results})
    return 0


def _robustness(args, evaluate, contract, splits: list[str], noise: str, randomize: bool) -> int:
    """One table per object split: every robustness condition on the same seeds."""
    from mtdagger.training.robustness import evaluate_conditions, robustness_table, select_conditions

    try:
        conditions = select_conditions(getattr(args, "conditions", None))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if contract is None:
        print("error: --robustness needs a point-cloud checkpoint", file=sys.stderr)
        return 2
    if noise != "none" or randomize:
        print(
            "error: --robustness runs its own camera conditions; drop --noise/--randomize "
            "(or drop --robustness to evaluate one condition)",
            file=sys.stderr,
        )
        return 2
    for split in splits if args.sim == "fr3" else [None]:
        extra = {} if split is None else {"objects": split}
        results = evaluate_conditions(
            lambda c, extra=extra: evaluate(
                extra, depth_noise=c.depth_noise, randomize_camera=c.randomize_camera
            ),
            conditions,
        )
        label = "" if split is None else f", {split} objects"
        title = f"robustness{label} ({args.episodes} episodes per task, same seeds): {args.checkpoint}"
        Console(width=None if sys.stdout.isatty() else 160).print(robustness_table(results, title))
        _print_failed_seeds(results)
    return 0


def _print_failed_seeds(results_by_label: dict) -> None:
    """Under each table: the failed episodes' seeds, to replay them and to tell a scene that fails
    under every condition from a camera that fails one."""
    from mtdagger.training.evaluate import failed_seeds_lines

    lines = failed_seeds_lines(results_by_label)
    if lines:
        across = " (one seed failing under every condition: the scene, not the camera)"
        print("failed episodes, by reset seed" + (across if len(results_by_label) > 1 else "") + ":")
        print("\n".join(lines))
