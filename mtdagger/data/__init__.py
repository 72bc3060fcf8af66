"""Episodes, the episode store, normalisation and training datasets.

Torch-dependent names (TransitionDataset, NormalizationStats, split_by_task) are imported on
first use, so processes that only store episodes (rollout workers, the store's crash tests) do
not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from mtdagger.data.episode import Episode
from mtdagger.data.episode_format import CorruptEpisodeError, EpisodeStoreError
from mtdagger.data.store import EpisodeRecord, EpisodeStore

_LAZY = {
    "NormalizationStats": "mtdagger.data.normalization",
    "TransitionDataset": "mtdagger.data.dataset",
    "split_by_task": "mtdagger.data.dataset",
}

__all__ = [
    "CorruptEpisodeError",
    "Episode",
    "EpisodeRecord",
    "EpisodeStore",
    "EpisodeStoreError",
    "NormalizationStats",
    "TransitionDataset",
    "split_by_task",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
