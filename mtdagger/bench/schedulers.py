"""`mtdagger bench schedulers`: every scheduler on the same preset, budget, seeds and evaluation.

Each variant trains the state student with one DAgger preset (default
configs/mt10-state-sched.yaml) for `--seeds` seeds; only the scheduler differs. Seed i is the
same for every scheduler: same round-0 demonstrations, initialisation and β=0 evaluation
episodes (fixed seeds, `eval_episodes_per_task` per task at every round). The preset gives the
scheduler most of each round to steer (budget 40 over 10 tasks with a floor of 1: 30 steered).

Reported with 95% bootstrap intervals over seeds (schedulers_stats.py): expert episodes until
the mean β=0 success first reaches each `--targets` value; final mean and worst-task success;
the paired difference of final mean success to uniform, and whether its interval excludes 0.
A plot shows mean success against cumulative expert episodes with the bootstrap band.

Cached and resumable: every run lives in `<out>/<suite>/<scheduler>-seed<i>/`; a finished run
is read back, an interrupted one resumes (DaggerRunner's resume), so re-running the command
continues where it stopped. Seed-major order: an interruption leaves complete seeds. Round 0
runs once per seed and is shared by its schedulers (`<out>/<suite>/round0-seed<i>/`;
schedulers_cells.py). `--ray ADDRESS` runs the cells as Ray tasks across a cluster.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mtdagger.bench.schedulers_cells import run_cell, run_cells_on_ray, shared_round0, variant_config
from mtdagger.bench.schedulers_stats import beats_baseline, curve_band, fmt_interval, summarise
from mtdagger.bench.table import print_table
from mtdagger.training.config import check_ray_address, load_train_config

VARIANTS: dict[str, dict] = {
    "uniform": {"name": "uniform"},
    "task_need": {"name": "task_need", "kalman": True},
    "task_need (no KF)": {"name": "task_need", "kalman": False},
    "perf_gain": {"name": "perf_gain"},
    "hybrid": {"name": "hybrid", "kalman": True},
    "drats": {"name": "drats"},
    "amf": {"name": "amf"},
}

# Ten MT50 tasks outside MT10, picked for a spread of difficulty for a state student (easy
# button/handle presses, medium slides and levers, hard tool use).
SUITES = {
    "mt50-subset": (
        "button-press-v3,handle-press-v3,coffee-button-v3,reach-wall-v3,plate-slide-v3,"
        "faucet-open-v3,lever-pull-v3,hammer-v3,basketball-v3,stick-pull-v3"
    ),
}


def run_dir_name(label: str, seed: int) -> str:
    return f"{label.replace(' ', '_').replace('(', '').replace(')', '')}-seed{seed}"


def _run_variant(base_config, label: str, seed: int, out: Path) -> list[dict]:
    config = variant_config(base_config, VARIANTS[label], label, seed)
    return run_cell(config, out / run_dir_name(label, seed), shared_round0(base_config, seed, out))


def _run_all(
    base, labels: list[str], seeds: range, out: Path, ray: str | None
) -> dict[str, list[list[dict]]]:
    """Every (scheduler, seed) cell, seed-major here, or all at once as Ray tasks (`--ray`)."""
    if ray is None:
        return {label: [_run_variant(base, label, seed, out) for seed in seeds] for label in labels}
    cells = [
        (label, seed, variant_config(base, VARIANTS[label], label, seed), out / run_dir_name(label, seed))
        for seed in seeds
        for label in labels
    ]
    done = run_cells_on_ray(ray, cells, base, out.resolve())
    return {label: [done[(label, seed)] for seed in seeds] for label in labels}


def _labels(spec: str) -> list[str]:
    labels = [s.strip() for s in spec.split(",") if s.strip()] if spec != "all" else list(VARIANTS)
    unknown = [label for label in labels if label not in VARIANTS]
    if unknown or not labels:
        valid = ", ".join(VARIANTS)
        raise ValueError(f"--schedulers: unknown {unknown or repr(spec)}; valid: {valid} (or all)")
    return labels


def _targets(text: str) -> list[float]:
    try:
        targets = [float(t) for t in text.split(",")]
    except ValueError:
        targets = []
    if not targets or not all(0.0 < t <= 1.0 for t in targets):
        raise ValueError(f"--targets takes comma-separated success rates in (0, 1], got {text!r}")
    return targets


def run(args) -> int:
    tasks = SUITES.get(args.suite, args.suite)
    try:
        labels = _labels(args.schedulers)
        targets = _targets(args.targets)
        check_ray_address(getattr(args, "ray", None), "--ray")
        base = load_train_config(args.config, [f"sim.tasks={tasks}", *args.set])
        from mtdagger.training.preflight import preflight

        preflight(base)
    except (FileNotFoundError, ValueError) as error:  # before any run folder or simulator
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out) / args.suite
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)  # split a study across machines
    runs = _run_all(base, labels, seeds, out, getattr(args, "ray", None))
    elapsed = time.perf_counter() - t0
    summary = summarise(runs, targets)
    rows = []
    for label in labels:
        s = summary[label]
        row = [label]
        for target in targets:
            t = s["targets"][str(target)]
            row += [fmt_interval(t["interval"], 0), f"{t['reached']}/{s['seeds']}"]
        row += [fmt_interval(s["final_mean"]), fmt_interval(s["final_worst"])]
        delta = s.get("delta_mean_vs_uniform")
        row += ["-" if label == "uniform" or delta is None else fmt_interval(delta)]
        row += ["-" if label == "uniform" else ("yes" if beats_baseline(s) else "no")]
        rows.append(row)
    columns = ["scheduler"]
    for target in targets:
        columns += [f"expert eps to {target:g}", "seeds reaching"]
    columns += ["final mean success", "final worst task", "Δ mean vs uniform (paired)", "beats uniform"]
    budget = summary[labels[0]]["budget"]
    print_table(
        f"schedulers on {args.suite}: seeds {seeds.start}-{seeds.stop - 1}, preset {base.name}, "
        f"{base.dagger.eval_episodes_per_task} β=0 eval episodes/task/round, "
        f"{budget} expert episodes in all; mean [95% bootstrap CI]",
        columns,
        rows,
    )
    plot_path = out / "schedulers_success_vs_expert_episodes.png"
    bands = {label: curve_band(runs[label]) for label in labels}
    _plot(bands, plot_path, f"{args.suite}: {args.seeds} seeds")
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps({"elapsed_s_this_call": elapsed, "schedulers": summary}, indent=2))
    print(f"plot: {plot_path}\nsummary: {summary_path}\nthis call: {elapsed / 60:.1f} min")
    return 0


def _plot(bands: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (xs, means, lows, highs) in bands.items():
        (line,) = ax.plot(xs, means, marker="o", markersize=3, label=label)
        ax.fill_between(xs, lows, highs, color=line.get_color(), alpha=0.12)
    ax.set_xlabel("cumulative expert-labelled episodes")
    ax.set_ylabel("mean success (β=0 evaluation)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title + " (band: 95% bootstrap over seeds)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
