"""One finished episode, as collected by a rollout worker and stored by the episode store.

Frozen and validated on construction (as `imitation`'s Trajectory is): an episode whose arrays
disagree in length is a bug at collection time and must never reach the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Episode:
    task_name: str
    task_index: int
    seed: int
    beta: float  # probability that the expert acted at each step
    states: np.ndarray  # (T, 4) float32: EE xyz (base frame) + gripper opening
    privileged: np.ndarray  # (T, P) float32: simulator state for the expert
    actions: np.ndarray  # (T, 4) float32: the action actually executed
    expert_actions: np.ndarray  # (T, 4) float32: the expert's label for each visited state
    actor_is_expert: np.ndarray  # (T,) bool: which policy acted at each step
    success_per_step: np.ndarray  # (T,) bool
    point_clouds: np.ndarray | None = None  # (T, N, 3) float32 when the student needs clouds
    label_source: str = "expert"
    student_checkpoint_id: str | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        T = len(self.actions)
        if T == 0:
            raise ValueError("an episode needs at least one step")
        per_step = {
            "states": self.states,
            "privileged": self.privileged,
            "actions": self.actions,
            "expert_actions": self.expert_actions,
            "actor_is_expert": self.actor_is_expert,
            "success_per_step": self.success_per_step,
        }
        if self.point_clouds is not None:
            per_step["point_clouds"] = self.point_clouds
        for name, array in per_step.items():
            if len(array) != T:
                raise ValueError(f"episode field {name!r} has {len(array)} steps, actions have {T}")
        if self.actions.shape[1:] != (4,) or self.expert_actions.shape[1:] != (4,):
            raise ValueError("actions and expert_actions must be (T, 4)")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {self.beta}")

    @property
    def num_steps(self) -> int:
        return len(self.actions)

    @property
    def success(self) -> bool:
        """An episode succeeds if any step succeeds (MetaWorld maintainers' definition)."""
        return bool(np.any(self.success_per_step))
