"""The one small interface every simulator backend implements (MetaWorld/MuJoCo, IsaacLab).

A backend owns one simulated scene at a time. Observations are dicts keyed by `mtdagger.keys`;
actions follow `mtdagger.control.action` (base-frame EE displacement + gripper), and each
backend converts them to its simulator's native command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mtdagger.control.action import ActionConvention
from mtdagger.perception.frames import DepthFrame


@dataclass(frozen=True)
class StepResult:
    observation: dict[str, Any]
    success: bool  # the task's per-step success flag
    done: bool  # episode over (time limit reached)
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Expert(Protocol):
    """A per-task state-based expert: privileged simulator state in, convention action out."""

    def act(self, privileged: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class SimBackend(Protocol):
    action_convention: ActionConvention
    max_episode_steps: int

    def task_names(self) -> list[str]: ...

    def reset(self, task: str, seed: int) -> dict[str, Any]: ...

    def step(self, action: np.ndarray) -> StepResult: ...

    def render_depth(self) -> DepthFrame: ...

    def make_expert(self, task: str) -> Expert: ...

    def close(self) -> None: ...


class UnknownTaskError(ValueError):
    """Raised for a task name the backend does not know; the message lists the valid names."""

    def __init__(self, name: str, valid: list[str]) -> None:
        super().__init__(f"unknown task {name!r}; valid tasks: {', '.join(valid)}")
        self.name = name
        self.valid = valid
