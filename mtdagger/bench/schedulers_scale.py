"""`mtdagger bench schedulers-scale`: allocation + update time per round for 1,000 to 100,000 tasks.

The question (method notes, open question 1): does the scheduler stay negligible when the task
count grows by orders of magnitude? Targets: <= 1 ms at 1,000 tasks and <= 100 ms at 100,000,
on one core. For each scheduler and task count this times one round, `allocate_array(B)` +
`update_arrays(...)` (vectors in task order), and as the baseline in the same run the dict API
the DAgger loop uses (`allocate` + `update` with one TaskFeedback per task). Both paths are fed
the same rounds and must give identical counts (the `same counts` column; a mismatch fails the
command).

Times are medians over `--repeats` rounds. `cpu ms` is this process's CPU time
(time.process_time): on a shared machine the wall clock also counts the time the process waits
for a core, which says nothing about the scheduler; `wall ms` is printed beside it, with the
load average, so the reader can judge. numpy runs these element-wise ops on one thread.
AMF is not in the table: its greedy batch costs O(B · N · P · m²) in the sample count P, a
different question from the ranked schedulers' O(N log N).
"""

from __future__ import annotations

import os
import time

import numpy as np

from mtdagger.bench.table import print_table
from mtdagger.scheduling import SchedulerConfig, TaskFeedback, make_scheduler, scheduler_config

VARIANTS: dict[str, dict] = {
    "uniform": {"name": "uniform"},
    "task_need": {"name": "task_need", "kalman": True},
    "task_need (no KF)": {"name": "task_need", "kalman": False},
    "perf_gain": {"name": "perf_gain"},
    "hybrid": {"name": "hybrid"},
    "drats": {"name": "drats"},
}
TARGET_MS = {1_000: 1.0, 100_000: 100.0}


def _config(label: str, num_tasks: int) -> SchedulerConfig:
    fields = dict(VARIANTS[label])
    if fields["name"] == "drats":  # the floor must stay feasible: min_prob · N <= 1
        fields["min_prob"] = min(0.025, 0.5 / num_tasks)
    return scheduler_config(**fields)


def _round_feedback(rng: np.random.Generator, counts: np.ndarray):
    """Feedback for a round: every allocated episode evaluated, random successes and losses."""
    rollouts = counts.astype(np.int64)
    successes = rng.binomial(rollouts, rng.random(counts.size))
    before = 1.0 + rng.random(counts.size)
    after = before - 0.3 * rng.random(counts.size)
    return rollouts, successes, before, after


def _as_dict(tasks, rollouts, successes, before, after) -> dict[str, TaskFeedback]:
    return {
        t: TaskFeedback(int(n), int(s), float(b), float(a))
        for t, n, s, b, a in zip(tasks, rollouts, successes, before, after)
    }


def measure(label: str, num_tasks: int, repeats: int, seed: int = 0) -> dict:
    """Median CPU and wall ms per round for both paths, and whether their counts agreed."""
    tasks = [f"task-{i}" for i in range(num_tasks)]
    budget = 5 * num_tasks
    fast = make_scheduler(tasks, _config(label, num_tasks))
    slow = make_scheduler(tasks, _config(label, num_tasks))
    rng = np.random.default_rng(seed)
    cpu, wall, cpu_dict, wall_dict, same = [], [], [], [], True
    for _ in range(repeats + 1):  # the first round warms caches and is not timed
        state = rng.bit_generator.state
        c0, w0 = time.process_time(), time.perf_counter()
        counts = fast.allocate_array(budget)
        c1, w1 = time.process_time(), time.perf_counter()
        feedback = _round_feedback(rng, counts)  # not timed: the round's outcome, not the scheduler
        c2, w2 = time.process_time(), time.perf_counter()
        fast.update_arrays(*feedback)
        cpu.append(c1 - c0 + time.process_time() - c2)
        wall.append(w1 - w0 + time.perf_counter() - w2)
        rng.bit_generator.state = state  # the dict path sees the very same round
        c0, w0 = time.process_time(), time.perf_counter()
        counts_dict = slow.allocate(budget)
        c1, w1 = time.process_time(), time.perf_counter()
        feedback = _as_dict(tasks, *_round_feedback(rng, np.array(list(counts_dict.values()))))
        c2, w2 = time.process_time(), time.perf_counter()
        slow.update(feedback)
        cpu_dict.append(c1 - c0 + time.process_time() - c2)
        wall_dict.append(w1 - w0 + time.perf_counter() - w2)
        same &= list(counts_dict.values()) == counts.tolist()
    ms = lambda xs: 1e3 * float(np.median(xs[1:]))  # noqa: E731
    return {
        "cpu": ms(cpu),
        "wall": ms(wall),
        "cpu_dict": ms(cpu_dict),
        "wall_dict": ms(wall_dict),
        "same": same,
    }


def run(args) -> int:
    sizes = list(args.tasks)  # checked by the parser: integers >= 1
    rows, ok = [], True
    for num_tasks in sizes:
        repeats = args.repeats if num_tasks <= 10_000 else max(3, args.repeats // 10)
        for label in VARIANTS:
            m = measure(label, num_tasks, repeats)
            target = TARGET_MS.get(num_tasks)
            verdict = "-" if target is None else ("yes" if m["cpu"] <= target else "NO")
            ok &= m["same"]
            rows.append(
                [
                    label,
                    f"{num_tasks:,}",
                    f"{m['cpu']:.3f}",
                    f"{m['wall']:.3f}",
                    "-" if target is None else f"{target:g}",
                    verdict,
                    f"{m['cpu_dict']:.3f}",
                    "yes" if m["same"] else "NO",
                ]
            )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print_table(
        f"scheduler allocation + update per round (budget 5 per task; load average {load}, "
        f"{os.cpu_count()} cores)",
        [
            "scheduler",
            "tasks",
            "cpu ms",
            "wall ms",
            "target ms",
            "meets target (cpu)",
            "dict API cpu ms (baseline)",
            "same counts",
        ],
        rows,
    )
    if not ok:
        print("ERROR: the array and dict paths allocated different counts")
    return 0 if ok else 1
