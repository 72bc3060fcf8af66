"""Per-feature mean/std normalisation of the student's inputs and of its action labels.

Computed once from the *training* episodes and stored in every checkpoint, so deployment
normalises exactly as training did.

What is normalised, and what is not:
- `state` (EE position + gripper opening), `privileged` (simulator state) and `action` (the
  expert label) are z-scored per dimension. The action's xyz displacements are millimetre-sized
  and the gripper command is ±1; z-scoring makes the BC loss weigh them alike.
- Point clouds are NOT normalised. By the point-cloud contract they are metric coordinates in
  the robot base frame, already bounded by the contract's workspace crop box (stored in the same
  checkpoint). Dataset statistics would tie the encoder to the spatial spread of the training
  scenes (a new object placement would shift the stats), and a second set of numbers would then
  have to agree between sim and the real robot. Metric coordinates need no such agreement.

The std floor. A dimension that is constant in the training data has std 0 (padding slots in
MetaWorld's 39-D observation, a goal fixed per task, a gripper label that never changes) and
would divide by zero. Each std is floored at

    max(REL_STD_FLOOR * largest std among the key's dimensions, ABS_STD_FLOOR)

Relative to the key's own spread because the keys have different units (metres, unitless
gripper, quaternions); relative to the feature's own |mean| would depend on where the base
frame's origin happens to be. The absolute floor only matters when every dimension of a key is
constant. A floored dimension carried no information in training, so at deployment any change
in it is out of distribution; the floor keeps that finite, it cannot make it meaningful.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mtdagger.data.episode import Episode

NORMALIZED_KEYS = ("state", "privileged", "action")
REL_STD_FLOOR = 1e-3
ABS_STD_FLOOR = 1e-6


def floored_std(std: np.ndarray) -> np.ndarray:
    std = np.asarray(std, dtype=np.float64)
    scale = float(std.max()) if std.size else 0.0
    return np.maximum(std, max(REL_STD_FLOOR * scale, ABS_STD_FLOOR))


@dataclass(frozen=True)
class NormalizationStats:
    """Mean and (floored) std per key; arrays are float32 vectors, one entry per feature dim."""

    mean: Mapping[str, np.ndarray]
    std: Mapping[str, np.ndarray]
    num_samples: int = 0

    def __post_init__(self) -> None:
        mean = {k: np.asarray(v, dtype=np.float32).reshape(-1) for k, v in self.mean.items()}
        std = {k: np.asarray(v, dtype=np.float32).reshape(-1) for k, v in self.std.items()}
        if set(mean) != set(std):
            raise ValueError(f"normalization keys differ: mean has {sorted(mean)}, std has {sorted(std)}")
        for key in mean:
            if mean[key].shape != std[key].shape:
                raise ValueError(
                    f"normalization.{key}: mean has {mean[key].size} dims but std has {std[key].size}"
                )
            if not (np.all(np.isfinite(mean[key])) and np.all(np.isfinite(std[key]))):
                raise ValueError(f"normalization.{key} contains non-finite values")
            if np.any(std[key] <= 0):
                raise ValueError(f"normalization.{key}.std must be positive, got {std[key].tolist()}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> NormalizationStats:
        """Stats of (num_samples, dim) arrays per key (float64 accumulation, then floored)."""
        mean, std, counts = {}, {}, set()
        for key, values in arrays.items():
            values = np.asarray(values, dtype=np.float64)
            if values.ndim != 2 or len(values) == 0:
                raise ValueError(
                    f"normalization.{key}: need a non-empty (samples, dims) array, got {values.shape}"
                )
            if not np.all(np.isfinite(values)):
                raise ValueError(f"normalization.{key}: training data contains non-finite values")
            mean[key] = values.mean(axis=0)
            std[key] = floored_std(values.std(axis=0))
            counts.add(len(values))
        return cls(mean=mean, std=std, num_samples=max(counts, default=0))

    @classmethod
    def from_episodes(cls, episodes: Sequence[Episode]) -> NormalizationStats:
        """Stats from training episodes; the action stats come from the EXPERT labels, which are
        what the student is trained to output."""
        if not episodes:
            raise ValueError("cannot compute normalization statistics from zero episodes")
        dims = {e.privileged.shape[1:] for e in episodes}
        if len(dims) != 1:
            raise ValueError(f"episodes disagree on the privileged state shape: {sorted(dims)}")
        return cls.from_arrays(
            {
                "state": np.concatenate([e.states for e in episodes]),
                "privileged": np.concatenate([e.privileged for e in episodes]),
                "action": np.concatenate([e.expert_actions for e in episodes]),
            }
        )

    def dim(self, key: str) -> int:
        return int(self._mean(key).size)

    def _mean(self, key: str) -> np.ndarray:
        if key not in self.mean:
            raise KeyError(f"no normalization statistics for {key!r}; have {sorted(self.mean)}")
        return self.mean[key]

    def _check_dims(self, key: str, x: np.ndarray | torch.Tensor) -> None:
        if x.shape[-1] != self.dim(key):
            raise ValueError(f"{key} has {x.shape[-1]} features but normalization.{key} has {self.dim(key)}")

    def normalize(self, key: str, x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """(x - mean) / std over the last axis; numpy in → float32 numpy out, tensor in → tensor out."""
        self._check_dims(key, x)
        mean, std = self._mean(key), self.std[key]
        if isinstance(x, torch.Tensor):
            return (x - torch.as_tensor(mean, dtype=x.dtype, device=x.device)) / torch.as_tensor(
                std, dtype=x.dtype, device=x.device
            )
        return ((np.asarray(x, dtype=np.float32) - mean) / std).astype(np.float32, copy=False)

    def denormalize(self, key: str, x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        self._check_dims(key, x)
        mean, std = self._mean(key), self.std[key]
        if isinstance(x, torch.Tensor):
            return x * torch.as_tensor(std, dtype=x.dtype, device=x.device) + torch.as_tensor(
                mean, dtype=x.dtype, device=x.device
            )
        return (np.asarray(x, dtype=np.float32) * std + mean).astype(np.float32, copy=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (lists of floats) for the checkpoint sidecar."""
        return {
            "num_samples": int(self.num_samples),
            "std_floor": {"relative": REL_STD_FLOOR, "absolute": ABS_STD_FLOOR},
            "features": {
                key: {"mean": self.mean[key].tolist(), "std": self.std[key].tolist()}
                for key in sorted(self.mean)
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NormalizationStats:
        if not isinstance(data, Mapping) or not isinstance(data.get("features"), Mapping):
            raise ValueError("normalization must be a mapping with a 'features' mapping")
        mean, std = {}, {}
        for key, entry in data["features"].items():
            if not isinstance(entry, Mapping) or "mean" not in entry or "std" not in entry:
                raise ValueError(f"normalization.features.{key} needs 'mean' and 'std'")
            mean[key], std[key] = entry["mean"], entry["std"]
        return cls(mean=mean, std=std, num_samples=int(data.get("num_samples", 0)))
