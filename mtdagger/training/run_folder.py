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
from pathlib import Path
from typing import Any

import yaml

from mtdagger.files import atomic_write_text, load_yaml
from mtdagger.training.config import config_from_dict


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON via temp file + fsync + rename, so a kill never leaves half a file behind."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False))


def _read_json(path: Path, what: str) -> Any:
    """A run file's JSON, or a one-line ValueError naming the file (truncated by a full disk, edited)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"--resume: {path} ({what}) is not valid JSON ({error}); it was truncated or edited. "
            "Restore it from a backup, or start a new run with another --out"
        ) from None


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
            saved = _as_this_version_writes_it(load_yaml(self.config_path.read_text(), str(self.config_path)))
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
        state = _read_json(self.state_path, "the resume point")
        if not isinstance(state, dict) or not {"run_id", "completed_round"} <= set(state):
            raise ValueError(f"--resume: {self.state_path} is not a run state (no run_id / completed_round)")
        return state

    def save_state(self, state: dict[str, Any]) -> None:
        write_json_atomic(self.state_path, state)

    def load_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.is_file():
            return []
        metrics = _read_json(self.metrics_path, "the per-round metrics")
        if not isinstance(metrics, list):
            raise ValueError(f"--resume: {self.metrics_path} is not a list of per-round metrics")
        return metrics

    def check_resumable(self) -> None:
        """Read every file a resume starts from (state, metrics, the episode manifest), without
        changing any: a damaged one is refused here, naming it, before anything starts."""
        from mtdagger.data.store import check_manifest

        self.load_state()
        self.load_metrics()
        check_manifest(self.data_dir)

    def save_metrics(self, metrics: list[dict[str, Any]]) -> None:
        write_json_atomic(self.metrics_path, metrics)


def _as_this_version_writes_it(saved: Any) -> Any:
    """A saved config read back through the config classes: a field added since the run started
    (`point_cloud.table_band_m`) takes its default, which keeps the old behaviour, so a resume
    after an upgrade compares like with like. A config that no longer parses is compared as
    written, and the difference is reported."""
    try:
        return config_from_dict(saved).to_dict()
    except (TypeError, ValueError):
        return saved
