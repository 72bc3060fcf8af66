"""The student as a policy: observation dict in, convention action out.

`StudentPolicy` is what rollouts, the in-process runtime and the ROS policy node call. It owns
the whole input/output contract of a checkpoint: which observation keys the architecture reads,
normalisation, the task-name ↔ index mapping, and denormalisation back to the action convention.

Non-finite output: `__call__` raises `NonFiniteActionError` rather than returning NaN. A NaN
action is never a usable command; raising makes the failure visible at its source (the rollout
worker records the episode as failed, the runtime's safety layer holds the arm) instead of
relying on every consumer to check. The safety filter downstream still rejects non-finite
actions as a second line of defence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mtdagger import keys
from mtdagger.control.action import ActionConvention
from mtdagger.data import dataset as batch_keys
from mtdagger.data.normalization import NormalizationStats
from mtdagger.perception.contract import PointCloudContract
from mtdagger.policy.checkpoint import CheckpointMeta, checkpoint_id, load_checkpoint
from mtdagger.policy.networks import forward_batch

GRIPPER_INDEX = 3


class NonFiniteActionError(FloatingPointError):
    """The student produced NaN/inf; the action must not be executed."""


def _as_float_array(obs: Mapping[str, Any], key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key not in obs:
        raise KeyError(f"observation lacks {key!r} (present: {sorted(obs)})")
    array = np.asarray(obs[key], dtype=np.float32)
    if array.shape != shape:
        raise ValueError(f"observation {key!r} has shape {array.shape}; this checkpoint needs {shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"observation {key!r} contains non-finite values")
    return array


class StudentPolicy:
    def __init__(self, model: nn.Module, meta: CheckpointMeta) -> None:
        self.model = model.eval()
        self.meta = meta
        self.architecture = meta.architecture
        self.normalization = NormalizationStats.from_dict(meta.normalization)
        self._task_to_index = {name: i for i, name in enumerate(meta.tasks)}
        self._device = next(model.parameters()).device

    @classmethod
    def from_checkpoint(cls, directory: str | Path, **expect: Any) -> StudentPolicy:
        """Load + validate (see load_checkpoint for the expect_* keywords)."""
        model, meta = load_checkpoint(directory, **expect)
        return cls(model, meta)

    @property
    def tasks(self) -> list[str]:
        return list(self.meta.tasks)

    @property
    def contract(self) -> PointCloudContract | None:
        contract = self.meta.point_cloud_contract
        return None if contract is None else PointCloudContract.from_dict(contract)

    @property
    def action_convention(self) -> ActionConvention:
        return ActionConvention.from_dict(self.meta.action_convention)

    @property
    def checkpoint_id(self) -> str:
        return checkpoint_id(self.meta)

    def task_index_of(self, obs: Mapping[str, Any]) -> int:
        """The task index from `task.index` and/or `task.name`; both present must agree."""
        index = obs.get(keys.TASK_INDEX)
        name = obs.get(keys.TASK_NAME)
        if name is not None:
            if name not in self._task_to_index:
                raise ValueError(f"task {name!r} is not one of this checkpoint's tasks {self.tasks}")
            by_name = self._task_to_index[name]
            if index is not None and int(index) != by_name:
                raise ValueError(
                    f"observation task.index={int(index)} but task.name={name!r} is index {by_name} "
                    "in this checkpoint"
                )
            return by_name
        if index is None:
            raise KeyError(f"observation has neither {keys.TASK_INDEX!r} nor {keys.TASK_NAME!r}")
        index = int(index)
        if not 0 <= index < len(self._task_to_index):
            raise ValueError(f"task.index={index} is out of range for {len(self._task_to_index)} tasks")
        return index

    def _inputs(self, obs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The batch (of one) that the checkpoint's architecture declares it reads
        (`input_keys()` of its config), built from an observation dict."""
        config = self.meta.architecture_config
        builders = {
            batch_keys.TASK_INDEX: lambda: torch.tensor([self.task_index_of(obs)], dtype=torch.long),
            batch_keys.POINT_CLOUD: lambda: _as_float_array(obs, keys.POINT_CLOUD, (config["num_points"], 3)),
            batch_keys.STATE: lambda: self.normalization.normalize("state", self._state(obs)),
            batch_keys.EE_POSITION: lambda: self._state(obs)[:3],
            batch_keys.PRIVILEGED: lambda: self.normalization.normalize(
                "privileged", _as_float_array(obs, keys.PRIVILEGED, (config["privileged_dim"],))
            ),
        }
        inputs = {}
        for key in self.model.config.input_keys():
            value = builders[key]()
            inputs[key] = value if isinstance(value, torch.Tensor) else torch.from_numpy(value)[None]
        return inputs

    def _state(self, obs: Mapping[str, Any]) -> np.ndarray:
        dim = self.meta.architecture_config.get("state_dim", keys.STATE_DIM)
        return _as_float_array(obs, keys.STATE, (dim,))

    def predict_batch(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Model output for an already-normalised batch (TransitionDataset keys), in the
        NORMALISED action space, with gradients: this is what the trainer's loss compares to
        batch['action']."""
        return forward_batch(self.model, batch)

    def __call__(self, obs: Mapping[str, Any]) -> np.ndarray:
        """One observation dict (mtdagger.keys) → float32[4] action in the action convention."""
        inputs = self._inputs(obs)
        with torch.inference_mode():
            normalised = self.predict_batch(inputs)[0].float().cpu().numpy()
        action = np.asarray(self.normalization.denormalize("action", normalised), dtype=np.float32)
        if not np.all(np.isfinite(action)):
            raise NonFiniteActionError(
                f"student {self.checkpoint_id} produced a non-finite action {action.tolist()} "
                f"for task {self.tasks[int(inputs[batch_keys.TASK_INDEX][0])]!r}"
            )
        action[GRIPPER_INDEX] = np.clip(action[GRIPPER_INDEX], -1.0, 1.0)
        return action


@dataclass(frozen=True)
class CheckpointStudentFactory:
    """Picklable recipe for a StudentPolicy, built inside a rollout worker process.

    Workers receive this (a path), not a model, so nothing heavy or torch-specific is pickled
    across processes, and each worker loads and validates the checkpoint itself.
    """

    checkpoint_dir: str
    expect_tasks: Sequence[str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "checkpoint_dir", str(self.checkpoint_dir))
        if self.expect_tasks is not None:
            object.__setattr__(self, "expect_tasks", tuple(self.expect_tasks))

    def build(self) -> Callable[[Mapping[str, Any]], np.ndarray]:
        # No torch.set_num_threads here: building in the training process would leave BC on one
        # thread afterwards, so results depended on --workers. The rollout code runs every student
        # on one thread, in worker processes and in-process alike (training/rollout.py).
        expect_tasks = None if self.expect_tasks is None else list(self.expect_tasks)
        return StudentPolicy.from_checkpoint(self.checkpoint_dir, expect_tasks=expect_tasks)
