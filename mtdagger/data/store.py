"""The episode store: every finished episode on disk, atomically, with a provenance manifest.

DESIGN.md §6 asks that a killed run loses no finished episode and never trusts a half-written
one. The protocol that gives this, per episode:

1. serialise the episode to bytes in memory (compressed .npz, no pickle) and hash them;
2. write a temp file in the episode's final directory, flush and fsync it;
3. `os.replace` it onto its final name and fsync the directory, so the name is durable;
4. only then insert the manifest row (SQLite, WAL, synchronous=FULL, one transaction).

The manifest is the single source of truth. A kill before step 4 commits leaves at most a temp
file or a renamed file without a row: both are *orphans*, ignored by every read and removable
with `cleanup_orphans()`. A row exists only for a file that was completely on disk first, and
its content hash lets `load` detect later corruption.

Idempotence: the key (run_id, round, task, seed) is UNIQUE in the manifest. `add` of a key that
is already there returns the stored record, so a resumed run can simply re-add its plan and
only the missing episodes are written. Each file name carries a fresh episode id, so even two
writers racing on one key cannot overwrite the file a committed row points at (the loser's file
becomes an orphan).

Steps 1 and 2-3 live in their own modules, `mtdagger.data.episode_format` (the bytes) and
`mtdagger.data.durable_write` (the atomic write); this module is the manifest and its queries.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtdagger.data.durable_write import TEMP_PREFIX as TEMP_PREFIX  # re-export
from mtdagger.data.durable_write import _ensure_dir
from mtdagger.data.durable_write import _fsync_dir as _fsync_dir  # re-export
from mtdagger.data.durable_write import atomic_write_bytes as atomic_write_bytes  # re-export
from mtdagger.data.episode import Episode
from mtdagger.data.episode_format import CorruptEpisodeError as CorruptEpisodeError  # re-export
from mtdagger.data.episode_format import EpisodeStoreError as EpisodeStoreError  # re-export
from mtdagger.data.episode_format import episode_from_bytes as episode_from_bytes  # re-export
from mtdagger.data.episode_format import episode_to_bytes as episode_to_bytes  # re-export
from mtdagger.provenance import sha256_bytes, utc_now_iso

MANIFEST_NAME = "manifest.sqlite"
EPISODES_DIR = "episodes"
MANIFEST_SCHEMA_VERSION = 1
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    episode_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    task TEXT NOT NULL,
    task_index INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    beta REAL NOT NULL,
    expert_steps INTEGER NOT NULL,
    label_source TEXT NOT NULL,
    student_checkpoint_id TEXT,
    success INTEGER NOT NULL,
    num_steps INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    UNIQUE (run_id, round, task, seed)
);
CREATE INDEX IF NOT EXISTS episodes_by_run_round ON episodes (run_id, round, task);
"""


@dataclass(frozen=True)
class EpisodeRecord:
    """One manifest row: where an episode is and how it was produced."""

    episode_id: str
    run_id: str
    round: int
    task: str
    task_index: int
    seed: int
    beta: float
    expert_steps: int  # steps in which the expert acted; the per-step actor array is in the file
    label_source: str
    student_checkpoint_id: str | None
    success: bool
    num_steps: int
    content_hash: str  # sha256 of the .npz file
    path: str  # POSIX path relative to the store root
    created_at: str


_COLUMNS = tuple(EpisodeRecord.__dataclass_fields__)


def _record_from_row(row: Sequence[Any]) -> EpisodeRecord:
    values = dict(zip(_COLUMNS, row))
    values["success"] = bool(values["success"])
    return EpisodeRecord(**values)


def _safe_component(name: str) -> str:
    """A path component that cannot escape its directory (task names come from configs)."""
    cleaned = _SAFE_NAME.sub("_", name).strip(".")
    return cleaned or "_"


def hash_content_hashes(content_hashes: Iterable[str]) -> str:
    """Order-independent identity of a set of episode files (the dataset hash)."""
    return sha256_bytes("\n".join(sorted(content_hashes)).encode("ascii"))


def check_manifest(root: str | Path) -> None:
    """Refuse a manifest under `root` that SQLite cannot read whole (truncated, overwritten), naming
    it; no manifest yet is fine. Reads only: nothing is created or changed."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        return
    try:
        # Read-only. Without a -wal file (nothing uncommitted to the main file), also immutable: no
        # -wal or -shm is created, so a refused resume changes nothing; with one (a killed run's),
        # its pages must be read, and the -shm beside it is used as is.
        wal = path.with_name(f"{path.name}-wal").is_file()
        uri = f"{path.resolve().as_uri()}?mode=ro" + ("" if wal else "&immutable=1")
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            if verdict == "ok":
                db.execute("SELECT COUNT(*) FROM episodes").fetchone()
    except sqlite3.DatabaseError as error:
        verdict = str(error)
    if verdict != "ok":
        raise EpisodeStoreError(
            f"episode manifest {path} is damaged ({verdict}): it cannot be resumed from. Restore it "
            "from a backup, or start a new run with another --out (the episode files stay where they are)"
        )


# --------------------------------------------------------------------------- the store


class EpisodeStore:
    """Episodes of one run under `root`, with the manifest at `root/manifest.sqlite`.

    Several runs may share a root; every query is scoped to this store's `run_id`. One process
    writes at a time (the training process; rollout workers hand their episodes to it).
    """

    def __init__(self, root: str | Path, run_id: str) -> None:
        if not isinstance(run_id, str) or not run_id.strip():
            raise ValueError(f"run_id must be a non-empty string, got {run_id!r}")
        self.root = Path(root)
        self.run_id = run_id
        _ensure_dir(self.root)
        self._connection = self._open_manifest(self.root / MANIFEST_NAME)

    @staticmethod
    def _open_manifest(path: Path) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed add() survives power loss, not only a killed process.
            connection.execute("PRAGMA synchronous=FULL")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > MANIFEST_SCHEMA_VERSION:
                raise EpisodeStoreError(
                    f"manifest {path} has schema version {version}; this code reads {MANIFEST_SCHEMA_VERSION}"
                )
            connection.executescript(_SCHEMA)
            connection.execute(f"PRAGMA user_version={MANIFEST_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as error:
            raise EpisodeStoreError(f"cannot open episode manifest {path}: {error}") from error
        return connection

    @staticmethod
    def run_ids_in(root: str | Path) -> list[str]:
        """The run ids that have episodes under `root` (empty when there is no manifest yet)."""
        path = Path(root) / MANIFEST_NAME
        if not path.is_file():
            return []
        with contextlib.closing(sqlite3.connect(path)) as connection:
            try:
                rows = connection.execute("SELECT DISTINCT run_id FROM episodes ORDER BY run_id").fetchall()
            except sqlite3.OperationalError:  # created but the table not yet
                return []
        return [row[0] for row in rows]

    # -- lifecycle

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> EpisodeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries

    def _select(self, where: str, params: Sequence[Any]) -> list[EpisodeRecord]:
        rows = self._connection.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM episodes WHERE run_id = ? {where} "
            "ORDER BY round, task_index, task, seed",
            (self.run_id, *params),
        ).fetchall()
        return [_record_from_row(row) for row in rows]

    def get(self, round: int, task: str, seed: int) -> EpisodeRecord | None:
        found = self._select("AND round = ? AND task = ? AND seed = ?", (int(round), task, int(seed)))
        return found[0] if found else None

    def has(self, round: int, task: str, seed: int) -> bool:
        return self.get(round, task, seed) is not None

    def records(self, round: int | None = None, task: str | None = None) -> list[EpisodeRecord]:
        """This run's records, ordered by (round, task_index, task, seed) whatever the add order."""
        where, params = "", []
        if round is not None:
            where += " AND round = ?"
            params.append(int(round))
        if task is not None:
            where += " AND task = ?"
            params.append(task)
        return self._select(where, params)

    def __len__(self) -> int:
        return self._connection.execute(
            "SELECT COUNT(*) FROM episodes WHERE run_id = ?", (self.run_id,)
        ).fetchone()[0]

    def dataset_hash(self, records: Iterable[EpisodeRecord] | None = None) -> str:
        """sha256 over the sorted content hashes of `records` (default: all of this run's)."""
        chosen = self.records() if records is None else records
        return hash_content_hashes(record.content_hash for record in chosen)

    # -- writes

    def add(self, episode: Episode, *, round: int) -> EpisodeRecord:
        """Store `episode` as part of `round`; idempotent on (run_id, round, task, seed)."""
        if not isinstance(episode, Episode):
            raise TypeError(f"add() takes an Episode, got {type(episode).__name__}")
        if isinstance(round, bool) or not isinstance(round, (int, np.integer)) or round < 0:
            raise ValueError(f"round must be a non-negative integer, got {round!r}")
        round = int(round)
        existing = self.get(round, episode.task_name, episode.seed)
        if existing is not None:
            return existing

        data = episode_to_bytes(episode)
        episode_id = uuid.uuid4().hex
        relative = (
            Path(EPISODES_DIR)
            / _safe_component(self.run_id)
            / f"round_{round:04d}"
            / _safe_component(episode.task_name)
            / f"seed_{int(episode.seed)}_{episode_id[:12]}.npz"
        )
        atomic_write_bytes(self.root / relative, data)

        record = EpisodeRecord(
            episode_id=episode_id,
            run_id=self.run_id,
            round=round,
            task=episode.task_name,
            task_index=int(episode.task_index),
            seed=int(episode.seed),
            beta=float(episode.beta),
            expert_steps=int(np.count_nonzero(episode.actor_is_expert)),
            label_source=episode.label_source,
            student_checkpoint_id=episode.student_checkpoint_id,
            success=episode.success,
            num_steps=episode.num_steps,
            content_hash=sha256_bytes(data),
            path=relative.as_posix(),
            created_at=utc_now_iso(),
        )
        row = tuple(int(v) if isinstance(v, bool) else v for v in (getattr(record, c) for c in _COLUMNS))
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            cursor = self._connection.execute(
                f"INSERT INTO episodes ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
                "ON CONFLICT (run_id, round, task, seed) DO NOTHING",
                row,
            )
            self._connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("ROLLBACK")
            raise
        if cursor.rowcount == 0:
            # Another writer committed this key between our check and our insert: theirs stands.
            with contextlib.suppress(OSError):
                (self.root / relative).unlink()
            winner = self.get(round, episode.task_name, episode.seed)
            assert winner is not None, "conflicting row vanished"
            return winner
        return record

    # -- reads

    def load(self, record: EpisodeRecord) -> Episode:
        """Read an episode back, refusing it if its bytes changed since they were stored."""
        path = self.root / record.path
        try:
            data = path.read_bytes()
        except FileNotFoundError as error:
            raise EpisodeStoreError(
                f"episode {record.episode_id} ({record.task}, seed {record.seed}, round {record.round}) "
                f"is in the manifest but its file {record.path} is missing"
            ) from error
        actual = sha256_bytes(data)
        if actual != record.content_hash:
            raise CorruptEpisodeError(
                f"episode file {record.path} is corrupt: manifest content_hash={record.content_hash} "
                f"but the file hashes to {actual}"
            )
        return episode_from_bytes(data, source=record.path)

    def load_all(self, records: Iterable[EpisodeRecord]) -> list[Episode]:
        return [self.load(record) for record in records]

    # -- maintenance

    def verify(self) -> list[tuple[EpisodeRecord, str]]:
        """(record, problem) for each of this run's records whose file is missing or corrupt."""
        problems = []
        for record in self.records():
            try:
                self.load(record)
            except EpisodeStoreError as error:
                problems.append((record, str(error)))
        return problems

    def orphans(self) -> list[str]:
        """Files under the episodes dir that no manifest row (of any run) points at.

        Temp files from interrupted writes and renamed files whose row never committed are both
        here: neither is trusted, whatever it contains.
        """
        known = {row[0] for row in self._connection.execute("SELECT path FROM episodes")}
        base = self.root / EPISODES_DIR
        if not base.is_dir():
            return []
        found = []
        for path in base.rglob("*"):
            if not path.is_file():
                continue
            relative = path.relative_to(self.root).as_posix()
            if path.name.startswith(TEMP_PREFIX) or relative not in known:
                found.append(relative)
        return sorted(found)

    def cleanup_orphans(self, *, dry_run: bool = False) -> list[str]:
        """Remove `orphans()` (root-relative paths returned). Call only while no writer is active:
        another process's in-flight temp file is indistinguishable from an abandoned one."""
        removed = self.orphans()
        if not dry_run:
            for relative in removed:
                with contextlib.suppress(FileNotFoundError):
                    (self.root / relative).unlink()
        return removed
