"""Performance gain: give more expert episodes to the tasks whose held-out BC loss is still dropping.

    s_i = max(0, L_i,before - L_i,after)

for the latest round in which the task reported both losses. A task that reports no losses in a
round keeps its last known gain (0 until its first report): no new evidence, so no change of
opinion. Caveat from the method notes ("metric detachment"): loss can fall while success does not;
the hybrid scheduler exists to hedge that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mtdagger.scheduling.base import FeedbackBatch, vector_from_state
from mtdagger.scheduling.ranked import RankedConfig, RankedScheduler


@dataclass(frozen=True)
class PerfGainConfig(RankedConfig):
    """Performance gain has only the ranked knobs: `temperature` and `min_per_task` (RankedConfig)."""

    name: ClassVar[str] = "perf_gain"


class LossGainTracker:
    """Last known loss drop per task, and how many rounds reported one."""

    def __init__(self, num_tasks: int) -> None:
        self.gain = np.zeros(num_tasks)
        self.reports = np.zeros(num_tasks, dtype=np.int64)

    def observe(self, batch: FeedbackBatch) -> None:
        reported = batch.has_losses
        drop = np.maximum(0.0, np.nan_to_num(batch.loss_before - batch.loss_after))
        self.gain = np.where(reported, drop, self.gain)
        self.reports = self.reports + reported

    def state_dict(self) -> dict[str, Any]:
        return {"gain": self.gain.tolist(), "reports": self.reports.tolist()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        gain = vector_from_state(state, "gain", self.gain.size)
        reports = vector_from_state(state, "reports", self.gain.size)
        if np.any(gain < 0) or np.any(reports < 0) or np.any(reports != np.round(reports)):
            raise ValueError("loss-gain state needs gains >= 0 and integer report counts >= 0")
        self.gain, self.reports = gain, reports.astype(np.int64)


class PerfGainScheduler(RankedScheduler):
    config_class = PerfGainConfig
    name = PerfGainConfig.name

    def __init__(self, tasks: Sequence[str], config: PerfGainConfig) -> None:
        super().__init__(tasks, config)
        self.loss_gain = LossGainTracker(len(self.tasks))

    def scores(self) -> np.ndarray:
        return self.loss_gain.gain.copy()

    def _observe(self, batch: FeedbackBatch) -> None:
        self.loss_gain.observe(batch)

    def _diagnostic_columns(self) -> dict[str, np.ndarray]:
        return {**super()._diagnostic_columns(), "loss_reports": self.loss_gain.reports.astype(np.float64)}

    def _state(self) -> dict[str, Any]:
        return {"loss_gain": self.loss_gain.state_dict()}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        if "loss_gain" not in state:
            raise ValueError("perf_gain state is missing 'loss_gain'")
        self.loss_gain.load_state_dict(state["loss_gain"])
