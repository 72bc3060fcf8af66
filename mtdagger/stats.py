"""Small statistics shared by evaluation, reports and benchmarks."""

from __future__ import annotations

import math


def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval for a success rate.

    Wilson rather than the normal approximation because evaluation runs are small (10-50
    episodes) and rates sit near 0 or 1, where the normal interval leaves [0, 1].

    The closed form cancels catastrophically at the ends (0/3 gave a lower bound of 5.6e-17 > 0, and
    10/10 an upper bound of 1 - 1e-16 < 1), so the ends are set exactly (0 successes: low = 0; all
    successes: high = 1, as the exact formula gives) and the bounds are clamped to contain the rate:
    callers draw `rate - low` and `high - rate` as error bars, which must never be negative.
    """
    if trials <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= trials:
        raise ValueError(f"successes={successes} must lie in [0, trials={trials}]")
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    low = 0.0 if successes == 0 else min(max(0.0, centre - half), p)
    high = 1.0 if successes == trials else max(min(1.0, centre + half), p)
    return (low, high)
