"""The `rollout --out DIR` folder: every finished episode on disk as it finishes, atomically.

Layout:
    DIR/rollout.json                       the settings that produced the folder (policy, tasks, seeds...)
    DIR/episodes/<task>/seed_<n>.npz       one finished episode (the episode store's no-pickle format)
    DIR/<task>_cloud.png, <task>_cloud.npz  the mid-episode point cloud of the task's first seed

Why: a killed rollout must lose no finished episode, and no file may ever be seen half-written.
Every file is written to a temp name in its directory, fsynced and renamed (`atomic_write_bytes`),
so a kill leaves the old state or the new file, never a 0-byte one. Re-running the same command
with the same `--out` resumes: finished episodes are read back instead of re-run. A folder made
with other settings is refused (never mixed), so a cloud pair always comes from one (task, seed)
and a deterministic replay: the PNG and the .npz cannot disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mtdagger.commands.paths import PathError, check_output_dir
from mtdagger.data.durable_write import TEMP_PREFIX, atomic_write_bytes
from mtdagger.data.episode import Episode
from mtdagger.data.episode_format import episode_from_bytes, episode_to_bytes

SPEC_FILE = "rollout.json"
EPISODES_DIR = "episodes"
# Settings that change speed, not episodes: a resume may change them.
_FREE_SETTINGS = ("workers", "out")


class RolloutOutput:
    def __init__(self, root: str | Path, spec: dict[str, Any]) -> None:
        self.root = Path(root)
        self.spec = {k: v for k, v in spec.items() if k not in _FREE_SETTINGS}

    def open(self) -> bool:
        """Check or create the folder; True when it resumes an earlier run of the same settings."""
        check_output_dir(self.root, "--out", must_be_empty=False)
        spec_path = self.root / SPEC_FILE
        if spec_path.is_file():
            try:
                saved = json.loads(spec_path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise PathError(
                    f"--out {str(self.root)!r}: {SPEC_FILE} is unreadable; pick a new --out"
                ) from None
            if saved != self.spec:
                changed = sorted(k for k in set(saved) | set(self.spec) if saved.get(k) != self.spec.get(k))
                raise PathError(
                    f"--out {str(self.root)!r} holds a rollout with other settings ({', '.join(changed)}); "
                    "pick a new --out"
                )
            return True
        if self.root.is_dir() and any(self.root.iterdir()):
            raise PathError(
                f"--out {str(self.root)!r} is not empty and holds no {SPEC_FILE}; pick a new --out"
            )
        atomic_write_bytes(spec_path, (json.dumps(self.spec, indent=2, sort_keys=True) + "\n").encode())
        return False

    def episode_path(self, task: str, seed: int) -> Path:
        return self.root / EPISODES_DIR / task / f"seed_{int(seed)}.npz"

    def load_finished(self, task: str, seed: int) -> Episode | None:
        """The stored episode, or None if it never finished (or its file is unreadable: re-run it)."""
        path = self.episode_path(task, seed)
        if not path.is_file():
            return None
        try:
            episode = episode_from_bytes(path.read_bytes(), source=str(path))
        except ValueError:
            return None
        return episode if (episode.task_name, episode.seed) == (task, seed) else None

    def add(self, episode: Episode) -> Path:
        path = self.episode_path(episode.task_name, episode.seed)
        atomic_write_bytes(path, episode_to_bytes(episode))
        return path

    def cloud_paths(self, task: str) -> tuple[Path, Path]:
        stem = self.root / f"{task}_cloud"
        return stem.with_suffix(".png"), stem.with_suffix(".npz")

    def cloud_done(self, task: str) -> bool:
        return all(p.is_file() for p in self.cloud_paths(task))

    def leftovers(self) -> list[Path]:
        """Temp files of writes a kill interrupted (ignored by every read)."""
        return sorted(p for p in self.root.rglob(f"{TEMP_PREFIX}*") if p.is_file())
