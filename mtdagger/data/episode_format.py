"""The on-disk format of one episode: compressed .npz bytes, no pickle, a format version.

Separate from the episode store because it is only the bytes <-> Episode mapping: the
`rollout --out` folder writes and reads the same format without a manifest. The store's error
classes live here because decoding raises `CorruptEpisodeError`; `mtdagger.data.store`
re-exports them.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from mtdagger.data.episode import Episode

FILE_FORMAT_VERSION = 1
_META_ENTRY = "meta_json"
_OPTIONAL_ARRAYS = ("point_clouds",)
_REQUIRED_ARRAYS = (
    "states",
    "privileged",
    "actions",
    "expert_actions",
    "actor_is_expert",
    "success_per_step",
)


class EpisodeStoreError(RuntimeError):
    """The store cannot do what was asked (missing file, unreadable manifest, ...)."""


class CorruptEpisodeError(EpisodeStoreError):
    """An episode file no longer matches the content hash recorded when it was stored."""


def _json_default(value: Any) -> Any:
    """Let numpy scalars/arrays in episode metadata through as plain JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def episode_to_bytes(episode: Episode) -> bytes:
    """An Episode as compressed .npz bytes; scalars and metadata in one JSON string entry.

    Raises ValueError for content that could only be stored with pickle (object arrays, metadata
    that is not JSON): such data would be unloadable with allow_pickle=False.
    """
    arrays: dict[str, np.ndarray] = {}
    for name in _REQUIRED_ARRAYS + _OPTIONAL_ARRAYS:
        value = getattr(episode, name)
        if value is None:
            continue
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise ValueError(f"episode field {name!r} has dtype object; store numeric arrays only")
        arrays[name] = array
    meta = {
        "format_version": FILE_FORMAT_VERSION,
        "task_name": episode.task_name,
        "task_index": int(episode.task_index),
        "seed": int(episode.seed),
        "beta": float(episode.beta),
        "label_source": episode.label_source,
        "student_checkpoint_id": episode.student_checkpoint_id,
        "metadata": episode.metadata,
    }
    try:
        meta_json = json.dumps(meta, default=_json_default, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise ValueError(f"episode metadata is not JSON-serialisable: {error}") from error
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays, **{_META_ENTRY: np.array(meta_json)})
    return buffer.getvalue()


def episode_from_bytes(data: bytes, *, source: str = "<bytes>") -> Episode:
    """Inverse of `episode_to_bytes`; never unpickles."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            contents = {name: archive[name] for name in archive.files}
    except Exception as error:  # zipfile/np errors vary; all mean "not a readable episode"
        raise CorruptEpisodeError(f"{source} is not a readable episode archive: {error}") from error
    if _META_ENTRY not in contents:
        raise CorruptEpisodeError(f"{source} has no {_META_ENTRY!r} entry")
    meta = json.loads(str(contents.pop(_META_ENTRY)))
    if meta.get("format_version") != FILE_FORMAT_VERSION:
        raise CorruptEpisodeError(
            f"{source} has format_version={meta.get('format_version')!r}; this code reads "
            f"{FILE_FORMAT_VERSION}"
        )
    missing = [name for name in _REQUIRED_ARRAYS if name not in contents]
    if missing:
        raise CorruptEpisodeError(f"{source} lacks arrays {missing}")
    return Episode(
        task_name=meta["task_name"],
        task_index=meta["task_index"],
        seed=meta["seed"],
        beta=meta["beta"],
        label_source=meta["label_source"],
        student_checkpoint_id=meta["student_checkpoint_id"],
        metadata=meta["metadata"],
        point_clouds=contents.get("point_clouds"),
        **{name: contents[name] for name in _REQUIRED_ARRAYS},
    )
