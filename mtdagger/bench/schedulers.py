"""`mtdagger bench schedulers`: every scheduler on the same preset, budget and seeds.

Each variant trains the state student with the same DAgger preset (default
configs/mt10-state-quick.yaml) for `--seeds` seeds; only the scheduler differs. Reported:
- expert episodes needed before the β=0 evaluation's mean success first reaches `--target`
  (mean over seeds that reached it, and how many did);
- mean and worst-task success at the fixed final budget (mean ± std over seeds).
Uniform allocation is the baseline row. Whether a scheduler beats it is a result, not a given:
with few evaluation episodes per task the differences are often within noise, which the std
column shows.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from mtdagger.bench.table import print_table
from mtdagger.scheduling import SchedulerConfig
from mtdagger.training.config import load_train_config
from mtdagger.training.plots import plot_success_vs_expert_episodes

VARIANTS: dict[str, dict] = {
    "uniform": {"name": "uniform"},
    "task_need": {"name": "task_need", "kalman": True},
    "task_need (no KF)": {"name": "task_need", "kalman": False},
    "perf_gain": {"name": "perf_gain"},
    "hybrid": {"name": "hybrid", "kalman": True},
    "drats": {"name": "drats"},
}


def _run_variant(base_config, label: str, seed: int, out: Path) -> list[dict]:
    from mtdagger.training.dagger import DaggerLoop

    scheduler = dataclasses.replace(base_config.scheduler, **VARIANTS[label])
    config = dataclasses.replace(
        base_config, scheduler=scheduler, seed=seed, name=f"{base_config.name}-{label}"
    )
    run_dir = out / f"{label.replace(' ', '_').replace('(', '').replace(')', '')}-seed{seed}"
    metrics_path = run_dir / "metrics.json"
    if (run_dir / "checkpoints" / "final").exists():  # finished earlier: reuse (benchmarks are long)
        return json.loads(metrics_path.read_text())
    loop = DaggerLoop(config, run_dir, resume=run_dir.exists())
    loop.train()
    return loop.metrics


def episodes_to_target(metrics: list[dict], target: float) -> int | None:
    for entry in metrics:
        if entry.get("mean_eval_success") is not None and entry["mean_eval_success"] >= target:
            return int(entry["cumulative_expert_episodes"])
    return None


def run(args) -> int:
    base = load_train_config(args.config, [f"sim.tasks={args.suite}"])
    if not isinstance(base.scheduler, SchedulerConfig):
        raise TypeError("scheduler config did not load")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, curves, summary = [], {}, {}
    # Seed-major order: an interrupted benchmark leaves complete seeds (every scheduler), and a
    # re-run reuses every finished run.
    all_runs = {label: [] for label in VARIANTS}
    for seed in range(args.seeds):
        for label in VARIANTS:
            all_runs[label].append(_run_variant(base, label, seed, out))
    for label, runs in all_runs.items():
        reached = [e for e in (episodes_to_target(m, args.target) for m in runs) if e is not None]
        final_mean = np.array([m[-1]["mean_eval_success"] for m in runs])
        final_worst = np.array([m[-1]["worst_eval_success"] for m in runs])
        budget = runs[0][-1]["cumulative_expert_episodes"]
        rows.append(
            [
                label,
                f"{np.mean(reached):.0f}" if reached else "not reached",
                f"{len(reached)}/{len(runs)}",
                f"{final_mean.mean():.3f} ± {final_mean.std():.3f}",
                f"{final_worst.mean():.3f} ± {final_worst.std():.3f}",
                budget,
            ]
        )
        # Mean curve over seeds (rounds align: same budget per round for every scheduler).
        xs = [e["cumulative_expert_episodes"] for e in runs[0]]
        ys = np.mean([[e["mean_eval_success"] for e in m] for m in runs], axis=0)
        curves[label] = list(zip(xs, ys.tolist()))
        summary[label] = {
            "episodes_to_target": reached,
            "final_mean": final_mean.tolist(),
            "final_worst": final_worst.tolist(),
            "budget": budget,
        }
    print_table(
        f"schedulers on {args.suite} ({args.seeds} seeds, preset {base.name}, "
        f"target mean success {args.target})",
        [
            "scheduler",
            "expert eps to target",
            "seeds reaching",
            "final mean success",
            "final worst task",
            "expert eps (budget)",
        ],
        rows,
    )
    plot_path = out / "schedulers_success_vs_expert_episodes.png"
    plot_success_vs_expert_episodes(curves, plot_path, f"{args.suite}: mean over {args.seeds} seeds")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"plot: {plot_path}\nsummary: {out / 'summary.json'}")
    return 0
