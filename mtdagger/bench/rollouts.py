"""`mtdagger bench rollouts`: episodes per second, this machine's process pool vs Ray actors.

Every row runs the same jobs (the expert, β = 1, `--episodes` per task on the same seeds) and
must return the same episodes as the baseline row, the local pool with the first worker count
(the `same episodes` column; a mismatch fails the command). Rows:

- `local pool`: training/rollout.py's spawn pool, started per call, as every round starts it
  (`workers` 1 runs in the calling process, as training does);
- `ray (cold)`: the first call on new Ray actors, actor start-up included (a run's round 0; the
  cluster's own start, for `--ray local`, is not timed);
- `ray (warm)`: a second call on the same actors, which kept their simulator and experts (what
  every later round pays).

Times are wall-clock seconds of the whole call, so the rows are comparable with what a training
round waits for. On a machine with fewer cores than workers the rows measure contention, not
scaling: the table prints the core count beside them.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def add_parser(bench: Any, positive: Any, positive_list: Any) -> None:
    """The command's flags (mtdagger/cli.py calls this with its argparse types for a positive
    integer and a list of them; nothing heavy is imported here)."""
    b = bench.add_parser("rollouts", help="episodes/s: local process pool vs Ray actors, same jobs")
    b.add_argument("--tasks", default="reach-v3,button-press-topdown-v3", help="MetaWorld tasks rolled out")
    b.add_argument("--episodes", type=positive, default=8, help="episodes per task per row")
    b.add_argument("--max-steps", type=positive, default=100, help="steps per episode")
    b.add_argument("--workers", type=positive_list, default="1,2", help="comma-separated worker counts")
    b.add_argument("--ray", default="local", metavar="ADDRESS", help="Ray cluster of the Ray rows")
    b.set_defaults(module="mtdagger.bench.rollouts")


def _jobs(tasks: list[str], episodes: int, max_steps: int) -> list:
    from mtdagger.training.rollout import RolloutJob

    return [
        RolloutJob(task=task, task_index=i, seed=1000 * i + j, beta=1.0, max_steps=max_steps)
        for i, task in enumerate(tasks)
        for j in range(episodes)
    ]


def _timed(jobs, backend_config, workers: int, engine=None) -> tuple[float, dict]:
    from mtdagger.training.rollout import collect_episodes

    t0 = time.perf_counter()
    episodes = collect_episodes(
        jobs, backend_config, None, None, workers=workers, progress=False, engine=engine
    )
    by_job = {(e.task_name, e.seed): e.actions for e in episodes}
    return time.perf_counter() - t0, by_job


def _same(a: dict, b: dict) -> bool:
    import numpy as np

    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def measure(tasks: list[str], episodes: int, max_steps: int, workers: list[int], address: str) -> list[list]:
    """The table's rows: [engine, workers, episodes, seconds, episodes/s, speed-up, same episodes]."""
    from mtdagger.distributed.ray_rollouts import RayRollouts, connect
    from mtdagger.training.config import SimConfig
    from mtdagger.training.sim_setup import backend_config_for

    sim = SimConfig(tasks=",".join(tasks), max_episode_steps=max_steps)
    backend_config = backend_config_for(sim, tasks, render_depth=False)
    jobs = _jobs(tasks, episodes, max_steps)
    timings: list[tuple[str, int, float, dict]] = []
    for n in workers:
        seconds, by_job = _timed(jobs, backend_config, n)
        timings.append(("local pool" if n > 1 else "local (in-process)", n, seconds, by_job))
    connect(address)  # the cluster itself is not timed (a `local` one starts here)
    for n in workers:
        engine = RayRollouts(address, n)
        try:
            for label in ("ray (cold)", "ray (warm)"):
                seconds, by_job = _timed(jobs, backend_config, n, engine)
                timings.append((label, n, seconds, by_job))
        finally:
            engine.close()
    baseline_seconds, baseline = timings[0][2], timings[0][3]
    return [
        [
            label,
            n,
            len(jobs),
            seconds,
            len(jobs) / seconds,
            baseline_seconds / seconds,
            _same(by_job, baseline),
        ]
        for label, n, seconds, by_job in timings
    ]


def run(args) -> int:
    from mtdagger.bench.table import print_table
    from mtdagger.training.config import check_ray_address

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    try:
        check_ray_address(args.ray, "--ray")
        if not tasks:
            raise ValueError("--tasks: name at least one MetaWorld task")
        rows = measure(tasks, args.episodes, args.max_steps, list(args.workers), args.ray)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    columns = ["engine", "workers", "episodes", "wall s", "episodes/s", "vs local 1st row", "same episodes"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print_table(
        f"rollouts: {', '.join(tasks)}, {args.episodes} expert episodes/task of {args.max_steps} steps; "
        f"{os.cpu_count()} cores, load average {load}; ray at {args.ray}",
        columns,
        rows,
    )
    if not all(row[-1] for row in rows):
        print("error: an engine returned other episodes than the local pool", file=sys.stderr)
        return 1
    return 0
