"""AMF: give expert episodes to the tasks whose demonstrations tell us most about the expert.

After AMF (Bagatella, Hübotter, Martius, Krause, "Active Fine-Tuning of Generalist Policies",
arXiv 2410.05026; method notes §3). The expert policy is modelled as linear in the student's
embedding φ(s, c) of a state (the input of the student's last linear layer), with a Gaussian
prior and Gaussian label noise:

    a*(x) = θᵀ φ(x) + noise,  θ ~ N(0, I/λ),  noise ~ N(0, σ²)
    posterior precision after the training data D:   A = λ I + Σ_{x∈D} φ(x) φ(x)ᵀ / σ²
    posterior variance of the expert at a state x':  v(x') = φ(x')ᵀ A⁻¹ φ(x')

The value of one more episode of task c is the information it gives about the expert's action
at the states the student will meet on every task c' (each task weighted equally):

    gain(c) = Σ_c' 1/N · mean_{x' ~ d_c'} ½ log((σ² + v(x')) / (σ² + v_{+c}(x')))

with v_{+c} the variance after also conditioning on the episode. Batch selection is greedy
(the b-th episode is chosen after conditioning on the b − 1 chosen before it; information gain
is submodular, so greedy is within a constant factor of the best batch): repeated picks of one
task show diminishing returns, and a task whose states the data already covers gains little.

Approximations (stated, on purpose):
- State distributions d_c: the states the *current* student visits in its β = 0 evaluation
  rollouts of task c, subsampled to `samples_per_task` evenly spaced states. The paper estimates
  the expert's occupancy by importance-weighting collected trajectories; in DAgger the new
  episodes of task c are β-mixed rollouts of this same student, so its own state distribution
  is the natural (and far cheaper) estimate of both where demonstrations will land and where
  the policy will be tested.
- One episode of task c, of T_c steps, is represented by its m_c sample states, each observed
  with noise σ²·m_c/T_c (the same total precision as T_c observations spread over them).
- Embeddings are last-layer features, not loss-gradient embeddings, and the model is refit
  (features recomputed) only once per round, when the loop passes new embeddings.
- The floor's episodes are conditioned on first (they are collected whatever AMF says); the
  greedy picks share out the rest. Before the first embeddings AMF splits uniformly.

Everything allocation needs is the P×P posterior covariance of the sample states (P = Σ m_c),
kept in `state_dict()`, so a resumed run allocates exactly as the uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from mtdagger.config_validation import bounds
from mtdagger.scheduling.allocation import effective_floor, rank_normalise
from mtdagger.scheduling.base import FeedbackBatch, SchedulerConfig, StudentEmbeddings, TaskScheduler


@dataclass(frozen=True)
class AmfConfig(SchedulerConfig):
    """AMF's model of the expert (module doc) and the floor `min_per_task` (SchedulerConfig).

    label_noise: σ² > 0, the noise of the expert's action labels in the linear-Gaussian model.
    prior_precision: λ > 0, the prior precision of the model's weights (larger: trust the data less).
    samples_per_task: visited states kept per task to stand for its state distribution, >= 1; the
      allocation costs O(P³) in P = Σ samples, so keep N·samples_per_task in the hundreds.
    """

    name: ClassVar[str] = "amf"
    label_noise: float = field(default=1.0, metadata=bounds(gt=0))
    prior_precision: float = field(default=1.0, metadata=bounds(gt=0))
    samples_per_task: int = field(default=16, metadata=bounds(ge=1))


def even_subsample(rows: np.ndarray, m: int) -> np.ndarray:
    """At most m rows, evenly spaced over the episode order (deterministic, covers early and late)."""
    if len(rows) <= m:
        return rows
    return rows[np.linspace(0, len(rows) - 1, m).round().astype(np.int64)]


class AmfScheduler(TaskScheduler):
    config_class = AmfConfig
    name = AmfConfig.name
    wants_embeddings: ClassVar[bool] = True

    def __init__(self, tasks: Sequence[str], config: AmfConfig) -> None:
        super().__init__(tasks, config)
        n = len(self.tasks)
        self.covariance = np.zeros((0, 0))  # posterior covariance of the sample states
        self.sizes = np.zeros(n, dtype=np.int64)  # sample states per task (blocks of covariance)
        self.steps = np.ones(n)  # mean episode length per task
        self._pending: StudentEmbeddings | None = None

    # ---- the embeddings hook ---------------------------------------------------------------------

    def observe_embeddings(self, embeddings: StudentEmbeddings) -> None:
        """Keep this round's embeddings; the next `update()` turns them into the model."""
        embeddings.check(self.tasks)
        self._pending = embeddings

    def _observe(self, batch: FeedbackBatch) -> None:
        """AMF reads embeddings, not success or loss; without new embeddings it keeps its model."""
        if self._pending is None:
            return
        emb, self._pending = self._pending, None
        cfg = self.config
        d = emb.train_gram.shape[0]
        precision = cfg.prior_precision * np.eye(d) + emb.train_gram / cfg.label_noise
        empty = np.zeros((0, d))
        blocks = [
            even_subsample(np.asarray(emb.visited.get(t, empty)), cfg.samples_per_task) for t in self.tasks
        ]
        samples = np.concatenate(blocks).astype(np.float64) if blocks else np.zeros((0, d))
        self.sizes = np.array([len(b) for b in blocks], dtype=np.int64)
        self.steps = np.array([float(emb.episode_steps.get(t, 1.0)) for t in self.tasks])
        solved = cho_solve(cho_factor(precision), samples.T)  # A⁻¹ Φᵀ
        covariance = samples @ solved
        self.covariance = (covariance + covariance.T) / 2.0

    # ---- allocation ------------------------------------------------------------------------------

    def allocate_array(self, budget: int) -> np.ndarray:
        if self.covariance.size == 0:  # no embeddings yet: uniform
            return super().allocate_array(budget)
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
            raise ValueError(f"budget must be an integer >= 0, got {budget!r}")
        floor = effective_floor(int(budget), len(self.tasks), self.config.min_per_task)
        counts = np.full(len(self.tasks), floor, dtype=np.int64)
        cov = self.covariance.copy()
        for c in np.flatnonzero(self.sizes > 0):
            for _ in range(floor):
                cov = self._condition(cov, c)
        priority = self._tie_priority()
        for _ in range(int(budget) - floor * len(self.tasks)):
            gains = np.round(self._gains(cov), 12)  # float noise never decides: the tie rule does
            best = np.lexsort((priority, -gains))[0]
            counts[best] += 1
            if self.sizes[best] > 0:
                cov = self._condition(cov, best)
        return counts

    def _block(self, c: int) -> slice:
        start = int(self.sizes[:c].sum())
        return slice(start, start + int(self.sizes[c]))

    def _noise(self, c: int) -> float:
        return self.config.label_noise * self.sizes[c] / max(self.steps[c], 1.0)

    def _condition(self, cov: np.ndarray, c: int) -> np.ndarray:
        """Posterior covariance after one more episode of task c (rank-m_c Gaussian update)."""
        block = self._block(c)
        cross = cov[:, block]
        inner = cov[block, block] + self._noise(c) * np.eye(self.sizes[c])
        factor = np.linalg.cholesky(inner)
        half = np.linalg.solve(factor, cross.T)  # L⁻¹ C[I, :]
        return cov - half.T @ half

    def _target_weights(self) -> np.ndarray:
        """1/(N·m_c) on each of task c's sample states: every task weighs alike."""
        measured = self.sizes > 0
        per_task = np.where(measured, 1.0 / (np.count_nonzero(measured) * np.maximum(self.sizes, 1)), 0.0)
        return np.repeat(per_task, self.sizes)

    def _gains(self, cov: np.ndarray) -> np.ndarray:
        """Information gain of one more episode of each task, given covariance `cov`."""
        sigma2 = self.config.label_noise
        variance = np.clip(np.diag(cov), 0.0, None)
        weights = self._target_weights()
        gains = np.zeros(len(self.tasks))
        for c in np.flatnonzero(self.sizes > 0):
            block = self._block(c)
            inner = cov[block, block] + self._noise(c) * np.eye(self.sizes[c])
            half = np.linalg.solve(np.linalg.cholesky(inner), cov[block, :])
            after = np.clip(variance - np.einsum("ij,ij->j", half, half), 0.0, None)
            gains[c] = 0.5 * float(weights @ np.log((sigma2 + variance) / (sigma2 + after)))
        return gains

    # ---- diagnostics and state -------------------------------------------------------------------

    def _weights(self) -> np.ndarray:
        """For diagnostics and the no-embedding case: one-episode gains, normalised (uniform if none)."""
        n = len(self.tasks)
        if self.covariance.size == 0:
            return np.full(n, 1.0 / n)
        gains = self._gains(self.covariance)
        return gains / gains.sum() if gains.sum() > 0 else np.full(n, 1.0 / n)

    def _diagnostic_columns(self) -> dict[str, np.ndarray]:
        gains = np.zeros(len(self.tasks)) if self.covariance.size == 0 else self._gains(self.covariance)
        return {"score": gains, "rank": rank_normalise(gains), "samples": self.sizes.astype(np.float64)}

    def _state(self) -> dict[str, Any]:
        return {
            "covariance": self.covariance.tolist(),
            "sizes": self.sizes.tolist(),
            "steps": self.steps.tolist(),
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        for key in ("covariance", "sizes", "steps"):
            if key not in state:
                raise ValueError(f"amf state is missing {key!r}")
        sizes = np.asarray(state["sizes"], dtype=np.int64)
        steps = np.asarray(state["steps"], dtype=np.float64)
        total = int(sizes.sum()) if sizes.size else 0
        covariance = np.asarray(state["covariance"], dtype=np.float64).reshape(total, total)
        n = len(self.tasks)
        finite = np.all(np.isfinite(covariance)) and np.all(np.isfinite(steps))
        if sizes.shape != (n,) or steps.shape != (n,) or np.any(sizes < 0) or not finite:
            raise ValueError(f"amf state must hold {n} sample sizes, {n} step counts and a finite covariance")
        self.covariance, self.sizes, self.steps = covariance, sizes, steps
