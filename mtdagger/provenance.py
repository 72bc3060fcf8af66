"""Provenance helpers: which code and which bytes produced a result (DESIGN.md §6).

Checkpoints and episode files record the git commit and content hashes so a result can be traced
back to its code and data. These helpers never raise for "not in a git checkout": provenance is
best-effort metadata and must not stop a training run or a robot trial.
"""

from __future__ import annotations

import hashlib
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

UNKNOWN = "unknown"
_CHUNK_BYTES = 1 << 20
_GIT_TIMEOUT_S = 10.0


def _git(repo_dir: Path, *args: str) -> str | None:
    """Run one read-only git command; None on any failure (no git, not a repo, timeout)."""
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=repo_dir,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.strip()


def _default_repo_dir() -> Path:
    # The checkout this package is imported from, not the caller's working directory: a run
    # launched from elsewhere must still record the code it actually ran.
    return Path(__file__).resolve().parent


def git_commit(repo_dir: str | Path | None = None) -> str:
    """The HEAD commit hash of the checkout at `repo_dir` (default: this package's), or 'unknown'.

    Never raises: outside a git checkout, without git installed, or on a broken repository the
    answer is 'unknown'.
    """
    directory = Path(repo_dir) if repo_dir is not None else _default_repo_dir()
    if not directory.is_dir():
        return UNKNOWN
    commit = _git(directory, "rev-parse", "HEAD")
    return commit if commit else UNKNOWN


def git_is_dirty(repo_dir: str | Path | None = None) -> bool | None:
    """Whether tracked files differ from HEAD (None when it cannot be told).

    A commit hash alone does not identify the code when the tree had local edits; recording this
    flag beside it says whether the hash can be trusted to reproduce the run.
    """
    directory = Path(repo_dir) if repo_dir is not None else _default_repo_dir()
    if not directory.is_dir():
        return None
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Streamed sha256 of a file (constant memory, so large episode files are fine)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def utc_now_iso() -> str:
    """Timestamp for provenance records: UTC, ISO 8601, second resolution."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def training_provenance(
    *, dataset_hash: str, round: int, scheduler: str, run_id: str, **extra: Any
) -> dict[str, Any]:
    """The provenance dict a checkpoint stores: code, data, and where in the run it was made."""
    return {
        "git_commit": git_commit(),
        "git_dirty": git_is_dirty(),
        "dataset_hash": dataset_hash,
        "round": int(round),
        "scheduler": scheduler,
        "run_id": run_id,
        "created_at": utc_now_iso(),
        **extra,
    }
