"""Durable file writes: atomic replace, fsynced directories, and the temp-file prefix.

Separate from the episode store because these helpers know nothing about episodes: checkpoints
and the `rollout --out` folder write their files the same way, and the store's orphan scan
relies on `TEMP_PREFIX` to recognise an interrupted write.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

TEMP_PREFIX = ".tmp-"


def _fsync_dir(directory: Path) -> None:
    """Make a rename/creation inside `directory` durable (POSIX; a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _ensure_dir(directory: Path) -> None:
    """mkdir -p, fsyncing each parent whose entry we created (a new dir entry is data too)."""
    if directory.is_dir():
        return
    _ensure_dir(directory.parent)
    with contextlib.suppress(FileExistsError):
        directory.mkdir()
    _fsync_dir(directory.parent)


def _write_synced(handle: io.BufferedWriter, data: bytes) -> None:
    handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())


def atomic_write_bytes(final_path: Path, data: bytes) -> None:
    """Write `data` to `final_path` so a reader sees the old state or all of it, never part.

    Temp file in the same directory (same filesystem, so the rename is atomic), fsync, rename,
    fsync the directory. On any failure the temp file is removed and the error re-raised.
    """
    final_path = Path(final_path)
    _ensure_dir(final_path.parent)
    fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part", dir=final_path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            _write_synced(handle, data)
        os.replace(temp_name, final_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    _fsync_dir(final_path.parent)
