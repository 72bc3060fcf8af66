"""Summaries of a scheduler study: episodes to a target, final success, paired gaps to uniform.

Pure functions over the runs' metrics (lists of per-round dicts, as metrics.json holds them), so
they are tested without a simulator. Every interval is a 95% percentile bootstrap over seeds
(scipy.stats.bootstrap). Seeds are paired across schedulers (same seed: same round-0 data,
same initialisation and the same evaluation episodes), so the difference to uniform is taken
per seed before bootstrapping: that removes the between-seed variance both share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

Metrics = list[dict]


def episodes_to_target(metrics: Metrics, target: float) -> int | None:
    """Cumulative expert episodes at the first evaluation whose mean success >= target (None: never)."""
    for entry in metrics:
        if entry.get("mean_eval_success") is not None and entry["mean_eval_success"] >= target:
            return int(entry["cumulative_expert_episodes"])
    return None


def bootstrap_mean(
    values: Sequence[float], resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its 95% percentile-bootstrap interval.

    One value has no interval (NaN bounds); identical values give a zero-width one."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    if v.size == 1:
        return (float(v[0]), math.nan, math.nan)
    if np.all(v == v[0]):
        return (float(v[0]), float(v[0]), float(v[0]))
    result = stats.bootstrap(
        (v,),
        np.mean,
        confidence_level=0.95,
        n_resamples=resamples,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return (float(v.mean()), float(result.confidence_interval.low), float(result.confidence_interval.high))


def fmt_interval(triple: tuple[float, float, float], digits: int = 2) -> str:
    mean, low, high = triple
    if math.isnan(mean):
        return "-"
    if math.isnan(low):
        return f"{mean:.{digits}f} (n=1)"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def summarise(runs: dict[str, list[Metrics]], targets: Sequence[float], baseline: str = "uniform") -> dict:
    """Per scheduler: episodes to each target, final mean / worst success, paired Δ to `baseline`.

    `runs[label][i]` is seed i's metrics; every label must have the same seeds in the same order.
    Episodes to a target average only the seeds that reached it (`reached` says how many): a
    seed that never reaches the target is censored, not counted as the budget.
    """
    base = runs.get(baseline)
    out = {}
    for label, seeds in runs.items():
        final_mean = [m[-1]["mean_eval_success"] for m in seeds]
        final_worst = [m[-1]["worst_eval_success"] for m in seeds]
        entry = {
            "seeds": len(seeds),
            "budget": seeds[0][-1]["cumulative_expert_episodes"],
            "final_mean": bootstrap_mean(final_mean),
            "final_worst": bootstrap_mean(final_worst),
            "final_mean_values": final_mean,
            "final_worst_values": final_worst,
            "targets": {},
        }
        for target in targets:
            reached = [episodes_to_target(m, target) for m in seeds]
            entry["targets"][str(target)] = {
                "values": reached,
                "reached": sum(r is not None for r in reached),
                "interval": bootstrap_mean([r for r in reached if r is not None]),
            }
        if base is not None and len(base) == len(seeds):
            entry["delta_mean_vs_uniform"] = bootstrap_mean(
                [m[-1]["mean_eval_success"] - b[-1]["mean_eval_success"] for m, b in zip(seeds, base)]
            )
            entry["delta_worst_vs_uniform"] = bootstrap_mean(
                [m[-1]["worst_eval_success"] - b[-1]["worst_eval_success"] for m, b in zip(seeds, base)]
            )
        out[label] = entry
    return out


def beats_baseline(entry: dict) -> bool:
    """True when the paired 95% interval of Δ final mean success lies entirely above 0."""
    _, low, _ = entry.get("delta_mean_vs_uniform", (math.nan, math.nan, math.nan))
    return not math.isnan(low) and low > 0


def curve_band(seeds: list[Metrics]) -> tuple[list[float], list[float], list[float], list[float]]:
    """x = cumulative expert episodes (identical across seeds: same budget per round), and the
    mean success with its bootstrap band at each evaluation point."""
    xs = [float(e["cumulative_expert_episodes"]) for e in seeds[0]]
    means, lows, highs = [], [], []
    for r in range(len(xs)):
        mean, low, high = bootstrap_mean([m[r]["mean_eval_success"] for m in seeds], resamples=500)
        means.append(mean)
        lows.append(mean if math.isnan(low) else low)
        highs.append(mean if math.isnan(high) else high)
    return xs, means, lows, highs
