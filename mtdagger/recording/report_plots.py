"""The report's PNGs (`report.write_report` writes them): success, latency, trajectories.

Each plot carries what is needed to explain a failure without the markdown beside it: n per task
and a title on the success bars, the control-period budget on the latency bars, and on the
trajectories the goal and object of each episode (when recorded), the safety filter's workspace
box and a legend.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mtdagger.files import output_error
from mtdagger.recording.bag_reader import EpisodeSummary, EvaluationBag

if TYPE_CHECKING:
    from mtdagger.recording.report import StageLatency, TaskSuccess

_COLOURS = {True: "tab:green", False: "tab:red", None: "tab:gray"}


def save_png(fig, path: Path) -> None:
    """Write beside the target, then rename: a kill mid-write leaves the previous PNG, never half a
    file (issue 11 found a 0-byte PNG after a kill)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, path)
    except OSError as error:  # one line naming the PNG, never the temp file
        raise output_error(path, error) from None
    finally:
        tmp.unlink(missing_ok=True)


def _figure(width: float, height: float):
    # The object API (no pyplot): no global figure state, no GUI backend, safe in any thread.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def workspace_box(bags: Sequence[EvaluationBag]) -> tuple[np.ndarray, np.ndarray] | None:
    """The safety filter's workspace box (base frame) the bags were recorded with, if known: from
    the metadata's `safety_limits` (recorded since issue 11), else the named robot's config."""
    for bag in bags:
        if bag.metadata is None:
            continue
        limits = bag.metadata.config.get("safety_limits")
        try:
            if not isinstance(limits, dict):
                from mtdagger.control.robot_config import load_robot_config

                limits = load_robot_config(bag.metadata.robot).safety.to_dict()
            low = np.asarray(limits["workspace_min"], dtype=np.float64)
            high = np.asarray(limits["workspace_max"], dtype=np.float64)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if low.shape == high.shape == (3,) and np.all(np.isfinite(low)) and np.all(np.isfinite(high)):
            return low, high
    return None


def control_period_ms(bags: Sequence[EvaluationBag]) -> float | None:
    """The control period (ms) of the bags: the latency budget of one step (None if unknown)."""
    periods = {bag.metadata.control_period_s for bag in bags if bag.metadata is not None}
    return 1000.0 * min(periods) if periods else None


def plot_success(rows: list[TaskSuccess], split_rows: list[TaskSuccess], path: Path) -> Path:
    """Bars per task (all objects, then each split), with the Wilson interval and a dot at the rate
    so that a 0% bar is still visible; each bar is labelled with its successes / n."""
    series = [("all", rows)] + [
        (str(split), [r for r in split_rows if r.split == split])
        for split in dict.fromkeys(r.split for r in split_rows)
    ]
    tasks = [r.task for r in rows]
    width = 0.8 / len(series)
    fig = _figure(max(4.5, 1.0 * len(tasks) * len(series) + 1.5), 3.5)
    ax = fig.add_subplot()
    for k, (label, members) in enumerate(series):
        by_task = {r.task: r for r in members if r.episodes > 0}
        xs = [i + (k - (len(series) - 1) / 2) * width for i, task in enumerate(tasks) if task in by_task]
        shown = [by_task[task] for task in tasks if task in by_task]
        rates = [r.rate for r in shown]
        errors = [[r.rate - r.ci_low for r in shown], [r.ci_high - r.rate for r in shown]]
        bars = ax.bar(xs, rates, width, alpha=0.6, label=f"{label} objects" if label != "all" else "all")
        ax.errorbar(
            xs,
            rates,
            yerr=errors,
            fmt="o",
            color=bars.patches[0].get_facecolor() if shown else None,
            capsize=3,
            markersize=4,
        )
        for x, row in zip(xs, shown):
            ax.annotate(f"{row.successes}/{row.episodes}", (x, row.ci_high), xytext=(0, 3),
                        textcoords="offset points", ha="center", fontsize=7)
    ax.set_xticks(range(len(tasks)), tasks, rotation=30, ha="right")
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("success rate (95% Wilson CI)")
    scored = sum(r.episodes for r in rows)
    incomplete = sum(r.incomplete for r in rows)
    ax.set_title(f"Success per task: {scored} scored episode(s)"
                 + (f", {incomplete} incomplete not scored" if incomplete else ""), fontsize=10)
    if len(series) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    save_png(fig, path)
    return path


def plot_latency(rows: list[StageLatency], path: Path, budget_ms: float | None = None) -> Path:
    """p50/p90/p99 per stage, against the control period: the whole step must fit in it."""
    fig = _figure(max(4.0, 1.0 * len(rows) + 2), 3.5)
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    for k, (name, values) in enumerate(
        (("p50", [r.p50 for r in rows]), ("p90", [r.p90 for r in rows]), ("p99", [r.p99 for r in rows]))
    ):
        ax.bar(x + (k - 1) * 0.27, values, 0.27, label=name)
    if budget_ms is not None:
        ax.axhline(budget_ms, color="black", linestyle="--", linewidth=1.0,
                   label=f"control period {budget_ms:.1f} ms (budget)")
    ax.set_xticks(x, [r.stage for r in rows], rotation=30, ha="right")
    ax.set_ylabel("ms per step")
    ax.set_title("Control-loop latency per stage", fontsize=10)
    ax.legend(fontsize=8)
    save_png(fig, path)
    return path


def plot_trajectories(
    episodes: list[EpisodeSummary], path: Path, box: tuple[np.ndarray, np.ndarray] | None = None
) -> Path:
    """Per task: top view (x-y) above, side view (x-z) below, one line per episode (colour =
    outcome), its start (dot), the goal (star) and object (square) when recorded, in the episode's
    colour, and the safety filter's workspace box (dashed) so a failure at a wall reads as one."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    tasks = list(dict.fromkeys(e.task for e in episodes))
    fig = _figure(3.2 * len(tasks) + 1.8, 6.0)
    axes = fig.subplots(2, len(tasks), squeeze=False)
    for column, task in enumerate(tasks):
        top, side = axes[0][column], axes[1][column]
        for episode in (e for e in episodes if e.task == task):
            xyz = episode.ee_positions
            colour = _COLOURS[episode.success]
            for ax, (a, b) in ((top, (0, 1)), (side, (0, 2))):
                if len(xyz):
                    ax.plot(xyz[:, a], xyz[:, b], color=colour, linewidth=1.0, alpha=0.8)
                    ax.plot(xyz[0, a], xyz[0, b], "o", color=colour, markersize=3)
                for point, marker in ((episode.goal_position, "*"), (episode.object_position, "s")):
                    if point is not None:
                        size = 7 if marker == "*" else 4
                        ax.plot(point[a], point[b], marker, color=colour, markersize=size,
                                markeredgecolor="black", markeredgewidth=0.5)
        if box is not None:
            low, high = box
            for ax, (a, b) in ((top, (0, 1)), (side, (0, 2))):
                ax.add_patch(Rectangle((low[a], low[b]), high[a] - low[a], high[b] - low[b], fill=False,
                                       linestyle="--", edgecolor="black", linewidth=0.8))
        top.set_title(task, fontsize=9)
        top.set_xlabel("x (m)")
        top.set_ylabel("y (m)")
        side.set_xlabel("x (m)")
        side.set_ylabel("z (m)")
        top.set_aspect("equal", adjustable="datalim")
    handles = [Line2D([], [], color=_COLOURS[outcome], label=label)
               for outcome, label in ((True, "success"), (False, "failure"), (None, "incomplete"))]
    handles += [
        Line2D([], [], marker="o", linestyle="", color="gray", markersize=3, label="start"),
        Line2D([], [], marker="*", linestyle="", color="gray", markeredgecolor="black", label="goal"),
        Line2D([], [], marker="s", linestyle="", color="gray", markeredgecolor="black", label="object"),
    ]
    if box is not None:
        handles.append(Line2D([], [], linestyle="--", color="black", label="safety workspace"))
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    fig.suptitle("End-effector trajectories (base frame)", fontsize=10)
    save_png(fig, path)
    return path
