"""Evaluate a student checkpoint in simulation: β = 0 episodes, per-task success with 95% intervals."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from mtdagger.episode_seeds import episode_seed
from mtdagger.stats import wilson_interval
from mtdagger.training.rollout import RolloutEngine, RolloutJob, collect_episodes


@dataclass(frozen=True)
class TaskResult:
    task: str
    episodes: int
    successes: int
    mean_steps: float
    # The reset seeds of the failed episodes: which scenes to look at and, across robustness
    # conditions, whether a failure belongs to the scene (fails everywhere) or to the camera.
    failed_seeds: tuple[int, ...] = ()
    # The step at which each successful episode first succeeded: how much slack the task leaves to
    # the horizon (a student that succeeds late fails the scenes where it is a little slower).
    first_success_steps: tuple[int, ...] = ()

    @property
    def median_first_success(self) -> float | None:
        return statistics.median(self.first_success_steps) if self.first_success_steps else None

    @property
    def rate(self) -> float:
        return self.successes / self.episodes if self.episodes else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.episodes)


class _Outcome(NamedTuple):
    """What evaluation keeps of one episode (not its clouds)."""

    success: bool
    steps: int
    seed: int
    first_success: int | None


def evaluate_student(
    student_factory,
    backend_config,
    tasks: list[str],
    run_tasks: list[str],
    *,
    episodes: int,
    seed: int,
    contract,
    max_steps: int | None,
    workers: int = 1,
    engine: RolloutEngine | None = None,
) -> list[TaskResult]:
    """Roll out `episodes` student-only episodes per task. `run_tasks` is the checkpoint's task list
    (the student's task index), `tasks` the subset to evaluate. `engine`: where the episodes run
    (None: the local pool; e.g. Ray actors give the same episodes)."""
    jobs = [
        RolloutJob(
            task=task,
            task_index=run_tasks.index(task),
            seed=episode_seed(seed, run_tasks.index(task), j),
            beta=0.0,
            max_steps=max_steps,
        )
        for task in tasks
        for j in range(episodes)
    ]
    outcomes: dict[str, list[_Outcome]] = defaultdict(list)
    for episode in collect_episodes(
        jobs, backend_config, student_factory, contract, workers=workers, engine=engine
    ):
        first = episode.metadata.get("first_success_step")  # run_episode's record; None: never
        outcomes[episode.task_name].append(_Outcome(episode.success, episode.num_steps, episode.seed, first))
    results = []
    for task in tasks:
        rows = outcomes[task]
        results.append(
            TaskResult(
                task=task,
                episodes=len(rows),
                successes=sum(o.success for o in rows),
                mean_steps=sum(o.steps for o in rows) / max(len(rows), 1),
                failed_seeds=tuple(sorted(o.seed for o in rows if not o.success)),
                first_success_steps=tuple(sorted(o.first_success for o in rows if o.success)),
            )
        )
    return results


def results_table(results: list[TaskResult], title: str):
    from rich.table import Table

    table = Table(title=title)
    for column, justify in (
        ("task", "left"),
        ("episodes", "right"),
        ("success", "right"),
        ("95% CI", "right"),
        ("mean steps", "right"),
        ("first success (median step)", "right"),
    ):
        table.add_column(column, justify=justify)
    for r in results:
        lo, hi = r.interval
        first = "-" if r.median_first_success is None else f"{r.median_first_success:.0f}"
        table.add_row(
            r.task, str(r.episodes), f"{r.rate:.2f}", f"[{lo:.2f}, {hi:.2f}]", f"{r.mean_steps:.0f}", first
        )
    total = sum(r.episodes for r in results)
    successes = sum(r.successes for r in results)
    if total:
        lo, hi = wilson_interval(successes, total)
        table.add_row(
            "[bold]all", str(total), f"[bold]{successes / total:.2f}", f"[{lo:.2f}, {hi:.2f}]", "", ""
        )
    return table


def failed_seeds_lines(results_by_label: dict[str, list[TaskResult]]) -> list[str]:
    """One line per task with a failure: its failed episodes' seeds under each condition (one
    label for a plain evaluation). Empty when every episode succeeded."""
    lines = []
    labels = list(results_by_label)
    for i, task in enumerate(r.task for r in results_by_label[labels[0]]):
        cells = [(label, results_by_label[label][i].failed_seeds) for label in labels]
        if any(seeds for _, seeds in cells):
            listed = " | ".join(f"{label}: {', '.join(map(str, seeds)) or '-'}" for label, seeds in cells)
            lines.append(f"  {task}  {listed}")
    return lines
