"""Training data: per-task train/held-out splits of stored episodes, and the transition dataset.

The split is at *episode* level (steps of one episode are strongly correlated; splitting steps
would leak the held-out episode into training) and per task (the performance-gain scheduler
reads each task's held-out BC loss, so every task with enough data needs held-out episodes).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol, TypeVar

import numpy as np
import torch
from torch.utils.data import Dataset

from mtdagger.data.episode import Episode
from mtdagger.data.normalization import NormalizationStats

# Item/batch keys (the trainer, StudentPolicy.predict_batch and the networks agree on these).
STATE = "state"
PRIVILEGED = "privileged"
TASK_INDEX = "task_index"
POINT_CLOUD = "point_cloud"
EE_POSITION = "ee_position"  # raw state[:3]: the gripper's position, base frame, metres
ACTION = "action"


class _SplittableRecord(Protocol):
    @property
    def task(self) -> str: ...

    @property
    def round(self) -> int: ...

    @property
    def seed(self) -> int: ...


RecordT = TypeVar("RecordT", bound=_SplittableRecord)


def holdout_draw(task: str, round_index: int, episode_seed: int, seed: int = 0) -> float:
    """A uniform number in [0, 1) fixed by the episode's identity (task, round, episode seed) and
    the run seed: the same episode gets the same draw in every round and after a resume."""
    digest = hashlib.sha256(f"{seed}:{task}:{round_index}:{episode_seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_by_task(
    records: Sequence[RecordT], holdout_fraction: float = 0.2, seed: int = 0
) -> tuple[list[RecordT], list[RecordT]]:
    """Split episodes into (train, heldout), per task, with membership fixed per episode.

    Why fixed: the performance-gain scheduler reads a task's held-out loss before and after each
    update. If episodes were re-ranked as data grows, episodes already trained on would slide
    into the held-out set and part of the "held-out" loss would be training loss. So an
    episode's membership depends only on itself and on the task's *earlier* episodes (ordered by
    (round, episode seed)), and adding later episodes never moves an earlier one.

    Rule, per task, visiting its episodes in (round, seed) order:
    - the first episode is training data (a task must never be left without training data);
    - the second is held out (every task with >= 2 episodes has a held-out loss);
    - every later one is held out iff holdout_draw(task, round, seed) < holdout_fraction.
    So the held-out share tends to `holdout_fraction` as data grows (a little above it while
    a task has few episodes). Both outputs keep the input order.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must lie in (0, 1), got {holdout_fraction}")
    by_task: dict[str, list[RecordT]] = defaultdict(list)
    for record in records:
        by_task[record.task].append(record)
    heldout_ids: set[int] = set()
    for task, task_records in by_task.items():
        ordered = sorted(task_records, key=lambda r: (r.round, r.seed))
        for position, record in enumerate(ordered):
            if position == 1 or (
                position >= 2 and holdout_draw(task, record.round, record.seed, seed) < holdout_fraction
            ):
                heldout_ids.add(id(record))
    train = [r for r in records if id(r) not in heldout_ids]
    heldout = [r for r in records if id(r) in heldout_ids]
    return train, heldout


def _concat_checked(episodes: Sequence[Episode], field: str) -> np.ndarray:
    arrays = [getattr(e, field) for e in episodes]
    shapes = {a.shape[1:] for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"episodes disagree on the shape of {field!r} per step: {sorted(shapes)}")
    stacked = np.concatenate(arrays).astype(np.float32, copy=False)
    bad = ~np.isfinite(stacked.reshape(len(stacked), -1)).all(axis=1)
    if bad.any():
        step = int(np.flatnonzero(bad)[0])
        raise ValueError(f"episode data {field!r} has non-finite values (first at stacked step {step})")
    return stacked


class TransitionDataset(Dataset):
    """Every step of the given episodes as one sample, normalised once at construction.

    Items are dicts of tensors: 'state' (4,), 'privileged' (P,), 'task_index' () long,
    'point_cloud' (N, 3) and 'ee_position' (3,) (raw state[:3]) when `use_point_clouds`, and
    'action' (4,) = the EXPERT label (the DAgger target; the executed action may have been the
    student's). All but the point cloud
    are normalised with `stats` (see normalization.py for why clouds and ee_position are not).

    Arrays are concatenated once and items index into them, so memory is one copy of the data
    and `batch(indices)` gathers a whole mini-batch without a per-item Python loop.

    An empty episode list gives an empty dataset (len 0; feature widths from `stats`, a point
    cloud width of 0): a task split can legitimately have no held-out episodes yet, and the
    caller's "nothing to evaluate" check is simpler than a special case here. Training on an
    empty dataset is the trainer's to refuse.
    """

    def __init__(
        self, episodes: Sequence[Episode], *, use_point_clouds: bool, stats: NormalizationStats
    ) -> None:
        self.use_point_clouds = use_point_clouds
        self.stats = stats
        self.episode_lengths = [e.num_steps for e in episodes]
        if not episodes:
            self.tensors = self._empty_tensors(stats, use_point_clouds)
            return
        if use_point_clouds:
            missing = [f"{e.task_name}/seed {e.seed}" for e in episodes if e.point_clouds is None]
            if missing:
                raise ValueError(f"use_point_clouds=True but episodes have no point_clouds: {missing[:5]}")
        tensors = {
            STATE: torch.from_numpy(stats.normalize("state", _concat_checked(episodes, "states"))),
            PRIVILEGED: torch.from_numpy(
                stats.normalize("privileged", _concat_checked(episodes, "privileged"))
            ),
            ACTION: torch.from_numpy(stats.normalize("action", _concat_checked(episodes, "expert_actions"))),
            TASK_INDEX: torch.from_numpy(
                np.concatenate([np.full(e.num_steps, e.task_index, dtype=np.int64) for e in episodes])
            ),
        }
        if use_point_clouds:
            clouds = _concat_checked(episodes, "point_clouds")
            if clouds.ndim != 3 or clouds.shape[2] != 3:
                raise ValueError(
                    f"point_clouds must be (T, N, 3) per episode, got per-step {clouds.shape[1:]}"
                )
            tensors[POINT_CLOUD] = torch.from_numpy(np.ascontiguousarray(clouds))
            # Gripper-frame students read where the gripper is in metres, like the cloud.
            tensors[EE_POSITION] = torch.from_numpy(_concat_checked(episodes, "states")[:, :3].copy())
        self.tensors: dict[str, torch.Tensor] = tensors

    @staticmethod
    def _empty_tensors(stats: NormalizationStats, use_point_clouds: bool) -> dict[str, torch.Tensor]:
        tensors = {
            STATE: torch.zeros(0, stats.dim("state")),
            PRIVILEGED: torch.zeros(0, stats.dim("privileged")),
            ACTION: torch.zeros(0, stats.dim("action")),
            TASK_INDEX: torch.zeros(0, dtype=torch.long),
        }
        if use_point_clouds:
            tensors[POINT_CLOUD] = torch.zeros(0, 0, 3)
            tensors[EE_POSITION] = torch.zeros(0, 3)
        return tensors

    def __len__(self) -> int:
        return len(self.tensors[ACTION])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: tensor[index] for key, tensor in self.tensors.items()}

    def batch(self, indices: torch.Tensor | Sequence[int]) -> dict[str, torch.Tensor]:
        """A mini-batch as stacked tensors (one gather per key)."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return {key: tensor[index] for key, tensor in self.tensors.items()}

    def task_indices(self) -> np.ndarray:
        return self.tensors[TASK_INDEX].numpy()
