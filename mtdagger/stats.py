"""Small statistics shared by evaluation, reports and benchmarks."""

from __future__ import annotations

from scipy.stats import binomtest


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a success rate (scipy's `binomtest(...).proportion_ci`).

    Wilson rather than the normal approximation because evaluation runs are small (10-50
    episodes) and rates sit near 0 or 1, where the normal interval leaves [0, 1].

    No trials give the uninformative (0, 1) (scipy refuses n = 0). The ends are exact (0 successes:
    low = 0; all successes: high = 1), and the bounds are clamped to contain the rate: callers draw
    `rate - low` and `high - rate` as error bars, which must never be negative, even by 1e-16.
    """
    if trials <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= trials:
        raise ValueError(f"successes={successes} must lie in [0, trials={trials}]")
    interval = binomtest(int(successes), int(trials)).proportion_ci(confidence, method="wilson")
    rate = successes / trials
    return (min(max(0.0, interval.low), rate), max(min(1.0, interval.high), rate))
