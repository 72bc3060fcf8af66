"""From per-task scores to per-task episode counts: rank normalisation, softmax, floor + rounding.

Every score-based scheduler ends here, so the budget arithmetic lives in one place:

    r_i = (rank_i - 1) / (N - 1)            average ranks (ties share the mean of their ranks), r ∈ [0, 1]
    w_i = exp(r_i / τ) / Σ_j exp(r_j / τ)   temperature softmax
    n_i = f + LR_i(B - N·f; w)              per-task floor f, then largest-remainder rounding

Ranks rather than raw scores make the allocation invariant to any strictly increasing transform of
the scores (a success gap and a loss drop live on different scales; ranks put them on one). The
floor keeps every task in the data ("cascading neglect": a starved task is never measured again,
so its score never recovers). Largest remainder makes the counts sum to the budget exactly, which
plain rounding does not.

With a single task (or all scores tied) every r_i is 0.5: the average rank of a fully tied group is
(N + 1) / 2, and (N + 1)/2 - 1 over N - 1 is 1/2; a lone task is the N = 1 case of that rule.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

# Fractional parts closer than this count as tied, so float noise (1/3 computed two ways) never
# decides who gets the extra episode: the deterministic tie rule does.
_TIE_DECIMALS = 9


def average_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of `scores` (smallest = 1), ties given the average of the ranks they span:
    scipy.stats.rankdata(method="average"), after the finite-vector check."""
    return rankdata(_finite_vector(scores, "scores"), method="average").astype(np.float64, copy=False)


def rank_normalise(scores: np.ndarray) -> np.ndarray:
    """r_i = (rank_i - 1)/(N - 1) ∈ [0, 1], ties averaged; 0.5 for a single task (see module doc)."""
    ranks = average_ranks(scores)
    if ranks.size <= 1:
        return np.full(ranks.size, 0.5)
    return (ranks - 1.0) / (ranks.size - 1.0)


def softmax_weights(normalised: np.ndarray, temperature: float) -> np.ndarray:
    """w_i = exp(r_i/τ) / Σ_j exp(r_j/τ), computed as exp((r_i - max r)/τ) so tiny τ cannot overflow."""
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    r = _finite_vector(normalised, "normalised scores")
    if r.size == 0:
        return r
    logits = (r - r.max()) / temperature  # all <= 0, the largest exactly 0, so the sum is >= 1
    weights = np.exp(logits)
    return weights / weights.sum()


def largest_remainder(weights: np.ndarray, total: int, tie_priority: np.ndarray | None = None) -> np.ndarray:
    """Integer counts proportional to `weights` that sum to `total` exactly (Hamilton's method).

    Each task gets floor(total·w_i); the episodes left over go one each to the largest fractional
    parts. Equal fractional parts are broken by `tie_priority` (lower first; default: list order),
    so the result is deterministic.

    Selection is O(N): fraction (rounded to _TIE_DECIMALS) and priority are packed into one
    integer key that is unique per task, so the `left` largest keys are a unique set that
    argpartition finds without sorting (the same set a full sort by (fraction, priority) picks).
    """
    w = _finite_vector(weights, "weights")
    if w.size == 0:
        raise ValueError("cannot allocate over zero tasks")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {w.tolist()}")
    total = _non_negative_int(total, "total")
    priority = np.arange(w.size) if tie_priority is None else np.asarray(tie_priority)
    if priority.shape != w.shape:
        raise ValueError(f"tie_priority has shape {priority.shape}, weights {w.shape}")
    quotas = w / w.sum() * total
    counts = np.floor(quotas).astype(np.int64)
    left = int(np.clip(total - counts.sum(), 0, w.size))
    if left == 0:
        return counts
    fractions = np.rint((quotas - counts) * 10**_TIE_DECIMALS).astype(np.int64)  # in [0, 10^9]
    rank_in_priority = _priority_ranks(priority)
    key = fractions * w.size + (w.size - 1 - rank_in_priority)  # < 10^9·N + N: fits in int64
    winners = np.argpartition(-key, left - 1)[:left] if left < w.size else np.arange(w.size)
    counts[winners] += 1
    return counts


def _priority_ranks(priority: np.ndarray) -> np.ndarray:
    """0 = served first: lower priority first, equal priorities in list order.

    The schedulers' tie priority is a rotation of 0..N-1, which is its own rank (O(N) check);
    anything else is ranked by a stable sort."""
    n = priority.size
    if np.issubdtype(priority.dtype, np.integer) and n and priority.min() >= 0 and priority.max() < n:
        if np.all(np.bincount(priority, minlength=n) == 1):
            return priority.astype(np.int64, copy=False)
    ranks = np.empty(n, dtype=np.int64)
    ranks[np.argsort(priority, kind="stable")] = np.arange(n)
    return ranks


def effective_floor(budget: int, num_tasks: int, floor: int) -> int:
    """The per-task floor actually honoured: `floor`, lowered to budget // num_tasks when the budget
    cannot give every task `floor` episodes (then every task still gets as many as fit evenly)."""
    return min(floor, budget // num_tasks)


def allocate_counts(
    weights: np.ndarray, budget: int, floor: int, tie_priority: np.ndarray | None = None
) -> np.ndarray:
    """n_i = f + largest_remainder(w, B - N·f), with f = effective_floor(B, N, floor).

    Guarantees: Σ n_i = B; n_i >= floor whenever B >= floor·N (else n_i >= B // N); B = 0 gives
    all zeros.
    """
    w = _finite_vector(weights, "weights")
    budget = _non_negative_int(budget, "budget")
    floor = _non_negative_int(floor, "floor")
    if w.size == 0:
        raise ValueError("cannot allocate over zero tasks")
    base = effective_floor(budget, w.size, floor)
    return base + largest_remainder(w, budget - base * w.size, tie_priority)


def _finite_vector(values: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{what} must be a 1-D vector, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} must be finite, got {array.tolist()}")
    return array


def _non_negative_int(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return int(value)
