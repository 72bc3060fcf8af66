"""Durable file writes: atomic replace, fsynced directories, and the temp-file prefix.

The implementation is `mtdagger.files` (the project's one writer, whose errors name the
destination); this module keeps the names the episode store, checkpoints and the `rollout --out`
folder import. The store's orphan scan relies on `TEMP_PREFIX` to recognise an interrupted write.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from mtdagger import files
from mtdagger.files import TEMP_PREFIX as TEMP_PREFIX  # re-export
from mtdagger.files import ensure_dir as _ensure_dir  # noqa: F401 - re-export
from mtdagger.files import fsync_dir as _fsync_dir  # noqa: F401 - re-export


def _write_synced(handle: io.BufferedWriter, data: bytes) -> None:
    handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())


def atomic_write_bytes(final_path: Path, data: bytes) -> Path:
    """`mtdagger.files.atomic_write_bytes` (errors name `final_path`), writing through this
    module's `_write_synced`, looked up at call time (tests/test_episode_store.py pauses in it)."""
    return files.atomic_write_bytes(final_path, data, write=lambda handle, raw: _write_synced(handle, raw))
