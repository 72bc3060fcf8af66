"""Per-object success of the FR3 drawer experts, through the backend's action adapter.

    python -m sim_bridge.fr3.expert_check --seeds 3 [--objects all] [--tasks drawer-open,drawer-close]

Prints one row per (object, task) with the object's split and handle type, then the success rate
per split. The experts act through exactly the path a student does (safety filter, IK, servos).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from dataclasses import dataclass

from mtdagger import keys


@dataclass(frozen=True)
class ExpertOutcome:
    task: str
    object_id: int
    split: str
    handle_type: str
    seed: int
    success: bool
    first_success_step: int | None


def run_expert_episode(backend, task: str, seed: int, object_id: int) -> ExpertOutcome:
    """One expert episode; success = the task's success flag at the last step (the drawer stays
    where the expert left it), as the training loop's per-step flags end."""
    expert = backend.make_expert(task)
    observation = backend.reset(task, seed, object_id=object_id)
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
    return ExpertOutcome(
        task, object_id, result.info["object.split"], spec.handle_type, seed, bool(result.success), first
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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
