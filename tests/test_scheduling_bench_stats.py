"""The scheduler study's summaries (bench/schedulers_stats.py), on hand-made metrics."""

from __future__ import annotations

import math

import pytest

from mtdagger.bench.schedulers import SUITES, VARIANTS, _labels
from mtdagger.bench.schedulers_stats import (
    beats_baseline,
    bootstrap_mean,
    curve_band,
    episodes_to_target,
    fmt_interval,
    summarise,
)


def _metrics(successes, worst=None, per_round=20, start=10):
    return [
        {
            "cumulative_expert_episodes": start + per_round * r,
            "mean_eval_success": s,
            "worst_eval_success": (worst or successes)[r],
        }
        for r, s in enumerate(successes)
    ]


def test_episodes_to_target_is_the_first_evaluation_reaching_it():
    m = _metrics([0.2, 0.65, 0.5, 0.85])
    assert episodes_to_target(m, 0.6) == 30
    assert episodes_to_target(m, 0.8) == 70
    assert episodes_to_target(m, 0.9) is None


def test_bootstrap_interval_contains_the_mean_and_handles_degenerate_samples():
    mean, low, high = bootstrap_mean([0.1, 0.4, 0.3, 0.2, 0.5])
    assert mean == pytest.approx(0.3)
    assert low < mean < high
    assert 0.1 <= low and high <= 0.5
    assert bootstrap_mean([0.4, 0.4]) == (0.4, 0.4, 0.4)
    one = bootstrap_mean([0.7])
    assert one[0] == 0.7 and math.isnan(one[1])
    assert fmt_interval(one) == "0.70 (n=1)"
    assert fmt_interval(bootstrap_mean([])) == "-"


def test_a_scheduler_better_on_every_seed_beats_uniform_and_a_noisy_one_does_not():
    uniform = [_metrics([0.1, 0.3 + 0.1 * s]) for s in range(5)]
    better = [_metrics([0.1, 0.45 + 0.1 * s + 0.01 * (s % 2)]) for s in range(5)]  # +0.15 paired
    noisy = [_metrics([0.1, 0.3 + 0.1 * s + (0.2 if s % 2 else -0.2)]) for s in range(5)]
    summary = summarise({"uniform": uniform, "better": better, "noisy": noisy}, targets=[0.6])
    assert beats_baseline(summary["better"])
    assert summary["better"]["delta_mean_vs_uniform"][0] == pytest.approx(0.154)
    assert not beats_baseline(summary["noisy"])
    assert summary["better"]["targets"]["0.6"]["reached"] == 3  # 0.65, 0.76, 0.85
    assert summary["uniform"]["targets"]["0.6"]["reached"] == 2


def test_curve_band_follows_the_cumulative_episodes():
    xs, means, lows, highs = curve_band([_metrics([0.1, 0.5]), _metrics([0.3, 0.7])])
    assert xs == [10.0, 30.0]
    assert means == pytest.approx([0.2, 0.6])
    assert all(lo <= m <= hi for lo, m, hi in zip(lows, means, highs))


def test_every_scheduler_is_in_the_study_and_the_mt50_subset_names_real_tasks():
    from sim_bridge.suites import resolve_tasks

    assert {v["name"] for v in VARIANTS.values()} == {
        "uniform", "task_need", "perf_gain", "hybrid", "drats", "amf"
    }
    assert len(resolve_tasks(SUITES["mt50-subset"])) == 10
    assert _labels("all") == list(VARIANTS)
    with pytest.raises(ValueError, match="unknown"):
        _labels("uniform,nope")
