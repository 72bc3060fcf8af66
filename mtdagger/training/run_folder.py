"""The run folder: everything a training run leaves behind, in one documented layout.

RUN_DIR/
  config.yaml          resolved configuration (after --set overrides)
  state.json           resume point: last completed round + scheduler state
  metrics.json         one entry per completed round (see runner.metrics_entry)
  data/                episode store (npz files + manifest.sqlite)
  checkpoints/round_XXX/, checkpoints/final/
  tensorboard/         TensorBoard event files
  plots/*.png          success per task per round, allocation per round, success vs expert episodes
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON via temp file + fsync + rename, so a kill never leaves half a file behind."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


RESUMABLE_CHANGES = ("workers",)


class RunFolder:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    @property
    def metrics_path(self) -> Path:
        return self.root / "metrics.json"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def tensorboard_dir(self) -> Path:
        return self.root / "tensorboard"

    @property
    def plots_dir(self) -> Path:
        return self.root / "plots"

    def checkpoint_dir(self, round_index: int | None = None) -> Path:
        name = "final" if round_index is None else f"round_{round_index:03d}"
        return self.root / "checkpoints" / name

    def create(self, config: dict[str, Any], *, resume: bool) -> None:
        """Create a new run, or check that a resumed one exists and has the same config."""
        if resume:
            if not self.config_path.is_file():
                raise FileNotFoundError(f"--resume: {self.root} holds no run (no config.yaml)")
            saved = yaml.safe_load(self.config_path.read_text())
            # The worker count changes speed, not results (episodes are stored and read back in
            # seed order), so a resume may use another one.
            saved, config = (
                {k: v for k, v in c.items() if k not in RESUMABLE_CHANGES} for c in (saved, config)
            )
            if saved != config:
                changed = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
                raise ValueError(
                    f"--resume: config differs from the run's saved config in section(s) {changed}; "
                    "resume with the same preset and overrides"
                )
            return
        if self.root.exists() and any(self.root.iterdir()):
            raise FileExistsError(
                f"{self.root} is not empty; pass --resume to continue it or pick a new --out"
            )
        for directory in (self.root, self.data_dir, self.plots_dir, self.tensorboard_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def load_state(self) -> dict[str, Any] | None:
        if not self.state_path.is_file():
            return None
        return json.loads(self.state_path.read_text())

    def save_state(self, state: dict[str, Any]) -> None:
        write_json_atomic(self.state_path, state)

    def load_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.is_file():
            return []
        return json.loads(self.metrics_path.read_text())

    def save_metrics(self, metrics: list[dict[str, Any]]) -> None:
        write_json_atomic(self.metrics_path, metrics)
