"""Command-line path and count checks that run before any simulator or model is built.

A user who typed a wrong `--out` or `--episodes 0` should learn it in one line at once, not after
minutes of simulation (or never, with an empty bag). Each check raises `PathError` (a ValueError)
whose message names the flag; commands print it and exit with code 2.
"""

from __future__ import annotations

import os
from pathlib import Path

# More workers than this is a typo (one MuJoCo process each), not a machine.
MAX_WORKERS = 256
_DEFAULT_ROOT = Path(__file__).resolve().parents[2]


class PathError(ValueError):
    """A command-line path or count is unusable; the message names the flag."""


def _writable_parent(path: Path) -> Path:
    """The nearest existing ancestor of `path` (where the first new directory would be created)."""
    parent = path.parent if path.parent != path else path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def check_output_dir(
    path: str | Path, flag: str, *, must_be_empty: bool, must_not_exist: bool = False
) -> Path:
    """`path` can become (or already is) a writable output directory."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PathError(f"{flag} {str(path)!r} is a file, not a directory")
    if path.is_dir():
        if must_not_exist:
            raise PathError(f"{flag} {str(path)!r} already exists; pick a new path (nothing is overwritten)")
        if must_be_empty and any(path.iterdir()):
            raise PathError(f"{flag} {str(path)!r} is not empty; pick a new or empty directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise PathError(f"{flag} {str(path)!r} is not writable")
        return path
    parent = _writable_parent(path)
    if not parent.is_dir():
        raise PathError(f"{flag} {str(path)!r}: {str(parent)!r} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PathError(f"{flag} {str(path)!r} cannot be created: {str(parent)!r} is not writable")
    return path


def check_count(value: int | None, flag: str, *, minimum: int = 1, maximum: int | None = None) -> None:
    """An integer flag in [minimum, maximum]; None (the flag's 'use the default') passes."""
    if value is None:
        return
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise PathError(f"{flag} must be >= {minimum}{upper}, got {value}")


def resolve_input_file(path: str | Path, flag: str) -> Path:
    """An input file as given, else relative to the repository root (so the defaults
    `configs/...` work from any directory); a clear 'not found' naming the flag otherwise."""
    given = Path(path)
    for candidate in (given, _DEFAULT_ROOT / given):
        if candidate.is_file():
            return candidate
        if candidate.exists():
            raise PathError(f"{flag} {str(path)!r} is not a file")
        if given.is_absolute():
            break
    raise PathError(f"{flag} {str(path)!r} not found (looked in the current directory and the repository)")

