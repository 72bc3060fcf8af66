"""Training plots: what a researcher looks at first after a DAgger run.

- success per task per round (heatmap: a task left behind shows as a cold row),
- allocation per round (stacked bars: where the scheduler spent the expert),
- mean success vs cumulative expert episodes (the data-efficiency curve schedulers compete on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def _success_matrix(metrics: list[dict[str, Any]], tasks: list[str]) -> np.ndarray:
    matrix = np.full((len(tasks), len(metrics)), np.nan)
    for j, entry in enumerate(metrics):
        for i, task in enumerate(tasks):
            value = entry.get("eval_success", {}).get(task)
            if value is not None:
                matrix[i, j] = value
    return matrix


def plot_success_per_task(metrics: list[dict[str, Any]], tasks: list[str], path: Path) -> None:
    matrix = _success_matrix(metrics, tasks)
    fig, ax = plt.subplots(figsize=(3.5 + 0.6 * max(len(metrics), 2), 1.2 + 0.35 * len(tasks)))
    image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(metrics)), [str(m["round"]) for m in metrics])
    ax.set_yticks(range(len(tasks)), tasks)
    ax.set_xlabel("round")
    ax.set_title("student success per task (β=0 evaluation)")
    for i in range(len(tasks)):
        for j in range(len(metrics)):
            if np.isfinite(matrix[i, j]):
                colour = "black" if matrix[i, j] > 0.6 else "white"
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7, color=colour)
    fig.colorbar(image, ax=ax, label="success rate")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_allocation(metrics: list[dict[str, Any]], tasks: list[str], path: Path) -> None:
    rounds = [m["round"] for m in metrics]
    counts = np.array([[m.get("allocation", {}).get(t, 0) for m in metrics] for t in tasks], dtype=float)
    fig, ax = plt.subplots(figsize=(7, 4))
    bottom = np.zeros(len(metrics))
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(tasks), 2)))
    for i, task in enumerate(tasks):
        ax.bar(rounds, counts[i], bottom=bottom, label=task, color=colours[i])
        bottom += counts[i]
    ax.set_xlabel("round")
    ax.set_ylabel("expert-labelled episodes")
    ax.set_title("allocation per round")
    ax.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_success_vs_expert_episodes(
    curves: dict[str, list[tuple[float, float]]], path: Path, title: str
) -> None:
    """One line per run/scheduler: (cumulative expert episodes, mean success) points."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, points in curves.items():
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", label=label)
    ax.set_xlabel("cumulative expert-labelled episodes")
    ax.set_ylabel("mean success (β=0 evaluation)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_training_plots(metrics: list[dict[str, Any]], tasks: list[str], plots_dir: Path) -> list[Path]:
    plots_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        plots_dir / "success_per_task.png",
        plots_dir / "allocation.png",
        plots_dir / "success_vs_expert_episodes.png",
    ]
    plot_success_per_task(metrics, tasks, paths[0])
    plot_allocation(metrics, tasks, paths[1])
    curve = [
        (m["cumulative_expert_episodes"], m["mean_eval_success"]) for m in metrics if "mean_eval_success" in m
    ]
    plot_success_vs_expert_episodes({"student": curve}, paths[2], "data efficiency")
    return paths
