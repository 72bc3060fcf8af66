"""Typed training configuration, read from a YAML preset and overridable from the command line.

Presets live in `configs/<name>.yaml`; `mtdagger train --set dagger.rounds=3` overrides one
value. Unknown keys are errors, so a typo in a preset cannot silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mtdagger.perception.contract import PointCloudContract
from mtdagger.scheduling import SchedulerConfig


@dataclass(frozen=True)
class SimConfig:
    backend: str = "metaworld"
    tasks: str = "mt10"  # suite name or comma-separated task names
    max_episode_steps: int = 200
    camera: str = "configs/cameras/metaworld_d435.yaml"


@dataclass(frozen=True)
class StudentConfig:
    architecture: str = "state"  # 'state' (privileged state) or 'pointnet' (point cloud)
    config: dict = field(default_factory=dict)  # passed to the architecture's config dataclass


@dataclass(frozen=True)
class BetaConfig:
    schedule: str = "linear"
    params: dict = field(default_factory=lambda: {"rampdown_rounds": 3})


@dataclass(frozen=True)
class DaggerConfig:
    rounds: int = 6  # rounds after round 0
    initial_episodes_per_task: int = 2  # round 0: expert demonstrations per task
    budget_per_round: int = 20  # expert-labelled episodes per round, split by the scheduler
    retrain: str = "finetune"  # 'finetune' the previous student or train 'scratch' each round
    holdout_fraction: float = 0.2
    eval_episodes_per_task: int = 3  # student-only (β=0) episodes per task per round, not stored
    beta: BetaConfig = field(default_factory=BetaConfig)


@dataclass(frozen=True)
class BCConfig:
    epochs: int = 20  # epochs per round (fine-tuning and from scratch alike)
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    name: str = "custom"
    seed: int = 0
    workers: int = 2
    sim: SimConfig = field(default_factory=SimConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    point_cloud: PointCloudContract | None = None  # required for point-cloud students
    dagger: DaggerConfig = field(default_factory=DaggerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    bc: BCConfig = field(default_factory=BCConfig)

    def __post_init__(self) -> None:
        if self.student.architecture == "pointnet" and self.point_cloud is None:
            raise ValueError("a 'pointnet' student needs a point_cloud section (the contract)")
        if self.dagger.retrain not in ("finetune", "scratch"):
            raise ValueError(f"dagger.retrain must be 'finetune' or 'scratch', got {self.dagger.retrain!r}")

    @property
    def uses_point_clouds(self) -> bool:
        return self.student.architecture == "pointnet"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["point_cloud"] = None if self.point_cloud is None else self.point_cloud.to_dict()
        return data


def _build(cls: type, data: Any, where: str) -> Any:
    """Build a (nested) frozen dataclass from plain YAML data, rejecting unknown keys."""
    if cls is PointCloudContract:
        return None if data is None else PointCloudContract.from_dict(data)
    if not dataclasses.is_dataclass(cls):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"config section {where or '<root>'} must be a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown} in {where or '<root>'}; valid: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        target = _FIELD_TYPES.get((cls, name))
        kwargs[name] = _build(target, value, f"{where}.{name}".lstrip(".")) if target else value
    return cls(**kwargs)


_FIELD_TYPES: dict[tuple[type, str], type] = {
    (TrainConfig, "sim"): SimConfig,
    (TrainConfig, "student"): StudentConfig,
    (TrainConfig, "point_cloud"): PointCloudContract,
    (TrainConfig, "dagger"): DaggerConfig,
    (TrainConfig, "scheduler"): SchedulerConfig,
    (TrainConfig, "bc"): BCConfig,
    (DaggerConfig, "beta"): BetaConfig,
}


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key.path=value")
        path, raw = item.split("=", 1)
        node = data
        keys = path.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {key!r} is not a section")
        node[keys[-1]] = yaml.safe_load(raw)
    return data


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config {path} not found (presets live in configs/)")
    data = yaml.safe_load(path.read_text()) or {}
    apply_overrides(data, overrides or [])
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    return _build(TrainConfig, data, "")
