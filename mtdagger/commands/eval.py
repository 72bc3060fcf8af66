"""`mtdagger eval --checkpoint DIR --sim metaworld --episodes N`: per-task success, 95% Wilson intervals."""

from __future__ import annotations

import sys

from rich.console import Console


def run(args) -> int:
    from mtdagger.commands.paths import MAX_WORKERS, PathError, check_count
    from mtdagger.perception.contract import PointCloudContract
    from mtdagger.policy.checkpoint import CheckpointError, load_checkpoint
    from mtdagger.policy.student import CheckpointStudentFactory
    from mtdagger.training.config import SimConfig
    from mtdagger.training.evaluate import evaluate_student, results_table
    from mtdagger.training.sim_setup import backend_config_for, resolve_run_tasks

    try:
        check_count(args.episodes, "--episodes")
        check_count(args.workers, "--workers", maximum=MAX_WORKERS)
        check_count(args.seed, "--seed", minimum=0)
        check_count(getattr(args, "max_steps", None), "--max-steps")
        # The weights too (hash, shapes, NaN), here: a worker's failure would be a RolloutJobError.
        _, meta = load_checkpoint(args.checkpoint)
    except (CheckpointError, PathError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run_tasks = list(meta.tasks)
    try:
        tasks = resolve_run_tasks(SimConfig(backend=args.sim, tasks=args.tasks)) if args.tasks else run_tasks
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    unknown = [t for t in tasks if t not in run_tasks]
    if unknown:
        print(
            f"error: checkpoint was not trained on {unknown}; its tasks: {', '.join(run_tasks)}",
            file=sys.stderr,
        )
        return 2
    contract = None
    if meta.point_cloud_contract is not None:
        contract = PointCloudContract.from_dict(meta.point_cloud_contract)
    max_steps = getattr(args, "max_steps", None) or int(meta.provenance.get("max_episode_steps", 200))
    objects = getattr(args, "objects", None)
    if objects is not None and args.sim != "fr3":
        print("error: --objects applies to --sim fr3 (the drawer suite's seen/unseen split)", file=sys.stderr)
        return 2
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
        )

    if getattr(args, "robustness", False):
        from mtdagger.training.robustness import evaluate_conditions, robustness_table

        if contract is None:
            print("error: --robustness needs a point-cloud checkpoint", file=sys.stderr)
            return 2
        extra = {"objects": splits[0]} if args.sim == "fr3" else {}
        results = evaluate_conditions(
            lambda c: evaluate(extra, depth_noise=c.depth_noise, randomize_camera=c.randomize_camera)
        )
        title = f"robustness of {args.checkpoint} ({args.episodes} episodes per task, same seeds)"
        Console(width=None if sys.stdout.isatty() else 160).print(robustness_table(results, title))
        return 0
    noise, randomize = getattr(args, "noise", "none"), getattr(args, "randomize", False)
    camera = {"depth_noise": noise, "randomize_camera": "default" if randomize else "none"}
    condition = ", ".join([f"{noise} depth noise"] + (["randomised camera"] if randomize else []))
    for split in splits if args.sim == "fr3" else [None]:
        results = evaluate({} if split is None else {"objects": split}, **camera)
        # What was measured first: rich wraps the title and shortens the (long) checkpoint path.
        label = "" if split is None else f", {split} objects"
        episodes = f"{args.episodes} episodes per task of {max_steps} steps"
        title = f"eval{label} ({episodes}, {condition}): {args.checkpoint}"
        Console().print(results_table(results, title))
    return 0
