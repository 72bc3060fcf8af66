"""`mtdagger eval --robustness`: one checkpoint's success under four perception conditions.

Conditions: clean depth, RealSense-like depth noise, camera pose/intrinsics randomisation, and
both (sim_bridge/depth_noise.py presets). Every condition runs the SAME episode seeds, so the
columns differ only in what the camera delivers, and the drop from clean to both is the cost of
real-depth artefacts on this student.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mtdagger.stats import wilson_interval
from mtdagger.training.evaluate import TaskResult


@dataclass(frozen=True)
class Condition:
    label: str
    depth_noise: str  # SimConfig.depth_noise value
    randomize_camera: str  # SimConfig.randomize_camera value


CONDITIONS = (
    Condition("clean", "none", "none"),
    Condition("noise", "realsense", "none"),
    Condition("randomised", "none", "default"),
    Condition("noise + randomised", "realsense", "default"),
)


def evaluate_conditions(
    evaluate: Callable[[Condition], list[TaskResult]], conditions=CONDITIONS
) -> dict[str, list[TaskResult]]:
    """`evaluate(condition)` runs one condition's episodes (same seeds every time)."""
    return {condition.label: evaluate(condition) for condition in conditions}


def _cell(successes: int, episodes: int) -> str:
    if not episodes:
        return "-"
    lo, hi = wilson_interval(successes, episodes)
    return f"{successes / episodes:.2f} [{lo:.2f}, {hi:.2f}]"


def robustness_table(results: dict[str, list[TaskResult]], title: str):
    """Rows: tasks and 'all'; columns: each condition's success [95% Wilson CI], then the drop
    in points from the first condition to the last."""
    from rich.table import Table

    labels = list(results)
    table = Table(title=title)
    table.add_column("task")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column(f"drop {labels[0]} -> {labels[-1]} (points)", justify="right")
    tasks = [r.task for r in results[labels[0]]]
    for i, task in enumerate(tasks):
        cells = [results[label][i] for label in labels]
        drop = 100 * (cells[0].rate - cells[-1].rate) if cells[0].episodes and cells[-1].episodes else None
        table.add_row(
            task,
            *[_cell(c.successes, c.episodes) for c in cells],
            "-" if drop is None else f"{drop:+.0f}",
        )
    totals = {
        label: (sum(r.successes for r in rs), sum(r.episodes for r in rs)) for label, rs in results.items()
    }
    first, last = totals[labels[0]], totals[labels[-1]]
    drop = 100 * (first[0] / first[1] - last[0] / last[1]) if first[1] and last[1] else None
    table.add_row(
        "[bold]all",
        *[_cell(*totals[label]) for label in labels],
        "-" if drop is None else f"{drop:+.0f}",
    )
    return table
