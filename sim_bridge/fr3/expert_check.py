"""Per-object success of the FR3 drawer experts, through the backend's action adapter.

    python -m sim_bridge.fr3.expert_check --seeds 3 [--objects all] [--tasks drawer-open,drawer-close]
    python -m sim_bridge.fr3.expert_check --eval-seeds 11006,11013 --tasks drawer-close --objects seen

Prints one row per (object, task) with the object's split and handle type, then the success rate
per split. The experts act through exactly the path a student does (safety filter, IK, servos).
`--eval-seeds` takes the reset seeds `mtdagger eval` lists under its failed episodes and replays
those scenes (the cabinet drawn from the split by the seed, as in evaluation) with the expert: one
row per seed with the cabinet, where its handle starts and whether the expert solves it, so a
student failure can be told from a scene the expert cannot do either.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from dataclasses import dataclass

from mtdagger import keys
from sim_bridge.fr3.experts import HOOK


@dataclass(frozen=True)
class ExpertOutcome:
    task: str
    object_id: int
    split: str
    handle_type: str
    seed: int
    success: bool
    first_success_step: int | None
    hook_start: tuple[float, float, float] = (0.0, 0.0, 0.0)  # the handle's pull point at reset (m)
    initial_opening_m: float = 0.0


def run_expert_episode(backend, task: str, seed: int, object_id: int | None) -> ExpertOutcome:
    """One expert episode; success = the task's success flag at the last step (the drawer stays
    where the expert left it), as the training loop's per-step flags end. `object_id` None: the
    cabinet the seed draws from the backend's split, as in evaluation."""
    expert = backend.make_expert(task)
    observation = backend.reset(task, seed, object_id=object_id)
    hook = tuple(round(float(v), 4) for v in observation[keys.PRIVILEGED][HOOK])
    opening = backend.drawer_opening
    first = None
    result = None
    for step in range(backend.max_episode_steps):
        result = backend.step(expert.act(observation[keys.PRIVILEGED]))
        observation = result.observation
        if result.success and first is None:
            first = step
        if result.done:
            break
    spec = backend.cabinet
    split = result.info["object.split"]
    return ExpertOutcome(
        task, spec.object_id, split, spec.handle_type, seed, bool(result.success), first, hook, opening
    )


def check_experts(
    object_ids, tasks, seeds: int, first_seed: int = 0, max_episode_steps: int | None = None
) -> list[ExpertOutcome]:
    """Expert episodes for every (object, task, seed); `max_episode_steps` None: the backend's."""
    from sim_bridge.fr3.config import FR3BackendConfig

    limit = {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}
    backend = FR3BackendConfig(tasks=tuple(tasks), objects="all", render_depth=False, **limit).build()
    try:
        return [
            run_expert_episode(backend, task, first_seed + 1000 * object_id + j, object_id)
            for object_id in object_ids
            for task in tasks
            for j in range(seeds)
        ]
    finally:
        backend.close()


def check_eval_scenes(task: str, seeds, objects: str) -> list[ExpertOutcome]:
    """The expert on the scenes `mtdagger eval --objects OBJECTS` drew for these reset seeds."""
    from sim_bridge.fr3.config import FR3BackendConfig

    backend = FR3BackendConfig(tasks=(task,), objects=objects, render_depth=False).build()
    try:
        return [run_expert_episode(backend, task, seed, None) for seed in seeds]
    finally:
        backend.close()


def format_scenes(outcomes: list[ExpertOutcome]) -> str:
    """One row per replayed seed: the scene (cabinet, handle start, drawer opening) and the expert."""
    lines = [
        f"{'seed':>6} {'task':<13} {'object':>6} {'handle':<5} {'hook start x, y, z (m)':<24} "
        f"{'opening':>8} {'expert':>7} {'first step':>10}"
    ]
    for o in outcomes:
        hook = ", ".join(f"{v:+.3f}" for v in o.hook_start)
        first = "-" if o.first_success_step is None else str(o.first_success_step)
        lines.append(
            f"{o.seed:>6} {o.task:<13} {o.object_id:>6} {o.handle_type:<5} {hook:<24} "
            f"{o.initial_opening_m:>8.3f} {'solves' if o.success else 'FAILS':>7} {first:>10}"
        )
    return "\n".join(lines)


def format_table(outcomes: list[ExpertOutcome]) -> str:
    rows: dict[tuple[int, str], list[ExpertOutcome]] = defaultdict(list)
    for outcome in outcomes:
        rows[(outcome.object_id, outcome.task)].append(outcome)
    lines = [f"{'object':>6} {'split':<7} {'handle':<5} {'task':<13} {'success':>8} {'mean first step':>16}"]
    for (object_id, task), group in sorted(rows.items()):
        wins = sum(o.success for o in group)
        steps = [o.first_success_step for o in group if o.first_success_step is not None]
        mean = f"{sum(steps) / len(steps):.0f}" if steps else "-"
        lines.append(
            f"{object_id:>6} {group[0].split:<7} {group[0].handle_type:<5} {task:<13} "
            f"{wins:>4}/{len(group):<3} {mean:>16}"
        )
    for split in ("seen", "unseen"):
        group = [o for o in outcomes if o.split == split]
        if group:
            rate = sum(o.success for o in group) / len(group)
            lines.append(f"{split}: {sum(o.success for o in group)}/{len(group)} = {rate:.1%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from sim_bridge.fr3.drawer_suite import DEFAULT_SUITE, TASKS, load_drawer_split

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="episodes per (object, task)")
    parser.add_argument("--objects", default="all", help="seen | unseen | all, or comma-separated ids")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated drawer tasks")
    parser.add_argument("--first-seed", type=int, default=0, help="seed offset of the episodes")
    parser.add_argument(
        "--eval-seeds",
        help="comma-separated reset seeds from `mtdagger eval`'s failed episodes: replay those scenes "
        "(one task in --tasks, --objects seen or unseen as evaluated)",
    )
    args = parser.parse_args(argv)
    if args.eval_seeds is not None:
        return _replay_eval_seeds(args)
    split = load_drawer_split(DEFAULT_SUITE)
    try:
        if args.objects in ("seen", "unseen", "all"):
            ids = split.ids(args.objects)
        else:
            ids = tuple(int(v) for v in args.objects.split(","))
    except ValueError as error:
        print(f"error: --objects: {error}", file=sys.stderr)
        return 2
    outcomes = check_experts(ids, [t for t in args.tasks.split(",") if t], args.seeds, args.first_seed)
    print(format_table(outcomes))
    return 0


def _replay_eval_seeds(args) -> int:
    from sim_bridge.fr3.drawer_suite import TASKS

    try:
        seeds = [int(v) for v in args.eval_seeds.split(",") if v.strip()]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        print(f"error: --eval-seeds: non-negative integers, got {args.eval_seeds!r}", file=sys.stderr)
        return 2
    if args.tasks not in TASKS:
        print(
            f"error: --tasks: one task ({', '.join(TASKS)}) with --eval-seeds, got {args.tasks!r}",
            file=sys.stderr,
        )
        return 2
    if args.objects not in ("seen", "unseen"):
        print(f"error: --objects: seen or unseen with --eval-seeds, got {args.objects!r}", file=sys.stderr)
        return 2
    print(format_scenes(check_eval_scenes(args.tasks, seeds, args.objects)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
