"""Evaluate a student checkpoint in simulation: β = 0 episodes, per-task success with 95% intervals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from mtdagger.stats import wilson_interval
from mtdagger.training.rollout import RolloutEngine, RolloutJob, collect_episodes


@dataclass(frozen=True)
class TaskResult:
    task: str
    episodes: int
    successes: int
    mean_steps: float

    @property
    def rate(self) -> float:
        return self.successes / self.episodes if self.episodes else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.episodes)


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
            seed=seed + 1000 * run_tasks.index(task) + j,
            beta=0.0,
            max_steps=max_steps,
        )
        for task in tasks
        for j in range(episodes)
    ]
    outcomes: dict[str, list[tuple[bool, int]]] = defaultdict(list)
    for episode in collect_episodes(
        jobs, backend_config, student_factory, contract, workers=workers, engine=engine
    ):
        outcomes[episode.task_name].append((episode.success, episode.num_steps))
    results = []
    for task in tasks:
        rows = outcomes[task]
        results.append(
            TaskResult(
                task=task,
                episodes=len(rows),
                successes=sum(s for s, _ in rows),
                mean_steps=sum(n for _, n in rows) / max(len(rows), 1),
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
    ):
        table.add_column(column, justify=justify)
    for r in results:
        lo, hi = r.interval
        table.add_row(
            r.task, str(r.episodes), f"{r.rate:.2f}", f"[{lo:.2f}, {hi:.2f}]", f"{r.mean_steps:.0f}"
        )
    total = sum(r.episodes for r in results)
    successes = sum(r.successes for r in results)
    if total:
        lo, hi = wilson_interval(successes, total)
        table.add_row("[bold]all", str(total), f"[bold]{successes / total:.2f}", f"[{lo:.2f}, {hi:.2f}]", "")
    return table
