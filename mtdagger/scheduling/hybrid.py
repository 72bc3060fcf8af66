"""Hybrid: a weighted mix of the task-need and performance-gain ranks.

    r_i = w · rank_normalise(1 - p̂)_i + (1 - w) · rank_normalise(max(0, L_before - L_after))_i
    weights = softmax(r / τ)                (w = `need_weight`)

r is already in [0, 1], so it goes to the softmax as is (no second ranking): w = 1 reproduces the
task-need weights exactly and w = 0 the perf-gain weights, and a w in between interpolates the
two rank vectors. Mixing ranks, not raw scores, is what makes a success gap and a loss drop
commensurable. Per the method notes, hybrid TN+PG was not explored in the paper: ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from mtdagger.config_validation import bounds
from mtdagger.scheduling.allocation import rank_normalise
from mtdagger.scheduling.base import FeedbackBatch
from mtdagger.scheduling.perf_gain import LossGainTracker
from mtdagger.scheduling.ranked import RankedScheduler
from mtdagger.scheduling.task_need import TaskNeedConfig


@dataclass(frozen=True)
class HybridConfig(TaskNeedConfig):
    """Every task-need knob (its success filter included) plus the mix of the two ranks.

    need_weight: w in [0, 1], the weight of the task-need rank; 1 - w goes to the perf-gain rank.
    """

    name: ClassVar[str] = "hybrid"
    need_weight: float = field(default=0.5, metadata=bounds(ge=0, le=1))


class HybridScheduler(RankedScheduler):
    config_class = HybridConfig
    name = HybridConfig.name

    def __init__(self, tasks: Sequence[str], config: HybridConfig) -> None:
        super().__init__(tasks, config)
        self.success = config.success_tracker(len(self.tasks))
        self.loss_gain = LossGainTracker(len(self.tasks))

    def need_scores(self) -> np.ndarray:
        return 1.0 - self.success.estimate(self.config.kalman)

    def gain_scores(self) -> np.ndarray:
        return self.loss_gain.gain.copy()

    def scores(self) -> np.ndarray:
        """The mixed rank r (see module doc); it is also what the softmax sees."""
        w = self.config.need_weight
        return w * rank_normalise(self.need_scores()) + (1.0 - w) * rank_normalise(self.gain_scores())

    def normalised_scores(self) -> np.ndarray:
        return self.scores()

    def _observe(self, batch: FeedbackBatch) -> None:
        self.success.observe(batch)
        self.loss_gain.observe(batch)

    def _diagnostic_columns(self) -> dict[str, np.ndarray]:
        return {
            **super()._diagnostic_columns(),
            "need_score": self.need_scores(),
            "need_rank": rank_normalise(self.need_scores()),
            "gain_score": self.gain_scores(),
            "gain_rank": rank_normalise(self.gain_scores()),
            **self.success.columns(self.config.kalman),
        }

    def _state(self) -> dict[str, Any]:
        return {"success": self.success.state_dict(), "loss_gain": self.loss_gain.state_dict()}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        for key in ("success", "loss_gain"):
            if key not in state:
                raise ValueError(f"hybrid state is missing {key!r}")
        self.success.load_state_dict(state["success"])
        self.loss_gain.load_state_dict(state["loss_gain"])
