"""`mtdagger eval --robustness`: one checkpoint's success under the real camera's conditions.

Conditions (sim_bridge/camera/depth_noise.py): clean depth; RealSense-like depth noise; camera
randomisation (the camera moves 2 cm / 2° / 2 % focal length, and the cloud is made with its
TRUE pose: a new viewpoint, no error); calibration error (the camera is off by up to 1 cm per axis
and 1°, and the cloud is made with the NOMINAL pose, as on a robot whose hand-eye calibration is
slightly wrong); and the combinations training and a real trial meet. Every condition runs the
SAME episode seeds, so the columns differ only in what the camera delivers. The last column is
the change from clean to the last condition (noise + calibration error: the real trial's case).
`--conditions` runs a subset (`select_conditions`), e.g. only the target's clean and
noise + calibration error at 20 episodes per task for the price of six conditions at 7.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mtdagger.stats import wilson_interval
from mtdagger.training.evaluate import TaskResult


@dataclass(frozen=True)
class Condition:
    key: str  # the name `eval --conditions` takes
    label: str
    depth_noise: str  # SimConfig.depth_noise value
    randomize_camera: Any  # SimConfig.randomize_camera value: 'none', 'default' or a mapping


# A per-episode calibration error: each axis uniform in ±1 cm, a rotation of up to 1° about a
# random axis, the cloud computed with the nominal (believed) camera pose.
CALIBRATION_ERROR = {"translation_m": 0.01, "rotation_deg": 1.0, "report_nominal_camera": True}

CONDITIONS = (
    Condition("clean", "clean", "none", "none"),
    Condition("noise", "noise", "realsense", "none"),
    Condition("randomised", "randomised", "none", "default"),
    Condition("calibration", "calibration error", "none", CALIBRATION_ERROR),
    Condition("noise+randomised", "noise + randomised", "realsense", "default"),
    Condition("noise+calibration", "noise + calibration error", "realsense", CALIBRATION_ERROR),
)


def select_conditions(keys: str | None) -> tuple[Condition, ...]:
    """`eval --conditions clean,noise+calibration`: a subset of CONDITIONS, kept in their order
    (so the change column still reads from the first to the last). The target's two conditions
    alone cost a third of the six; the episodes saved buy a tighter interval where it matters.
    None or '' selects all six."""
    if not keys:
        return CONDITIONS
    wanted = [k.strip() for k in keys.split(",") if k.strip()]
    known = {c.key for c in CONDITIONS}
    unknown = [k for k in wanted if k not in known]
    if unknown or not wanted:
        raise ValueError(
            f"--conditions: unknown {', '.join(map(repr, unknown)) or 'empty list'}; "
            f"choose from {', '.join(c.key for c in CONDITIONS)}"
        )
    return tuple(c for c in CONDITIONS if c.key in wanted)


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
    """Rows: tasks and 'all'; columns: each condition's success [95% Wilson CI], then the change
    in points from the first condition to the last (negative: success fell)."""
    from rich.table import Table

    labels = list(results)
    table = Table(title=title)
    table.add_column("task")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column(f"change {labels[0]} -> {labels[-1]} (points)", justify="right")
    tasks = [r.task for r in results[labels[0]]]
    for i, task in enumerate(tasks):
        cells = [results[label][i] for label in labels]
        change = 100 * (cells[-1].rate - cells[0].rate) if cells[0].episodes and cells[-1].episodes else None
        table.add_row(
            task,
            *[_cell(c.successes, c.episodes) for c in cells],
            "-" if change is None else f"{change:+.0f}",
        )
    totals = {
        label: (sum(r.successes for r in rs), sum(r.episodes for r in rs)) for label, rs in results.items()
    }
    first, last = totals[labels[0]], totals[labels[-1]]
    change = 100 * (last[0] / last[1] - first[0] / first[1]) if first[1] and last[1] else None
    table.add_row(
        "[bold]all",
        *[_cell(*totals[label]) for label in labels],
        "-" if change is None else f"{change:+.0f}",
    )
    return table
