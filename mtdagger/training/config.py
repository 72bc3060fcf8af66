"""Typed training configuration, read from a YAML preset and overridable from the command line.

Presets live in `configs/<name>.yaml`; `mtdagger train --set dagger.rounds=3` overrides one
value. Unknown keys are errors, so a typo in a preset cannot silently fall back to a default.
Two sections pick their dataclass by name, and the other keys are that class's own fields:
`scheduler: {name: task_need, temperature: 0.5}` and `dagger.beta: {schedule: linear,
rampdown_rounds: 3}` (a field of another scheduler or schedule is refused, naming the valid ones).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mtdagger.config_choice import choice_fields
from mtdagger.config_validation import Bounds, ConfigError, build_dataclass
from mtdagger.files import load_yaml, yaml_problem
from mtdagger.perception.contract import PointCloudContract
from mtdagger.scheduling import SCHEDULER_CONFIGS, SchedulerConfig, TaskNeedConfig, scheduler_config_from_dict
from mtdagger.training.beta import BETA_SCHEDULES, BetaSchedule, LinearBeta, beta_schedule_from_dict


@dataclass(frozen=True)
class SimConfig:
    backend: str = "metaworld"
    tasks: str = "mt10"  # suite name or comma-separated task names
    max_episode_steps: int = 200
    camera: str = "configs/cameras/metaworld_d435.yaml"
    # Training-time perception robustness (sim_bridge/camera/depth_noise.py): 'none', the preset name
    # ('realsense' / 'default') or a mapping of the config's fields. Used for every rollout of
    # the run, student evaluation included.
    depth_noise: Any = "none"
    randomize_camera: Any = "none"

    def __post_init__(self) -> None:
        from sim_bridge.camera.depth_noise import CameraRandomizationConfig, DepthNoiseConfig

        for name, cls in (("depth_noise", DepthNoiseConfig), ("randomize_camera", CameraRandomizationConfig)):
            try:
                cls.from_value(getattr(self, name))
            except (TypeError, ValueError) as error:
                raise ValueError(f"sim.{name}: {error}") from error


@dataclass(frozen=True)
class StudentConfig:
    architecture: str = "state"  # 'state' (privileged state) or 'pointnet' (point cloud)
    config: dict = field(default_factory=dict)  # passed to the architecture's config dataclass


@dataclass(frozen=True)
class DaggerConfig:
    rounds: int = 6  # rounds after round 0
    initial_episodes_per_task: int = 2  # round 0: expert demonstrations per task
    # Round 0 exceptions, task -> demonstrations, e.g. {peg-insert-side-v3: 200}: more data for a
    # task whose held-out loss stays the highest, without growing every task's share
    # (docs/results/student.md, tenth session). The other tasks keep their seeds and episodes.
    initial_episodes_by_task: dict = field(default_factory=dict)
    budget_per_round: int = 20  # expert-labelled episodes per round, split by the scheduler
    retrain: str = "finetune"  # 'finetune' the previous student or train 'scratch' each round
    holdout_fraction: float = 0.2
    eval_episodes_per_task: int = 3  # student-only (β=0) episodes per task per round, not stored
    # The β schedule, itself the config: `beta: {schedule: linear, rampdown_rounds: 3}` (beta.py).
    beta: BetaSchedule = field(default_factory=LinearBeta)

    def round_zero_episodes(self, tasks: list[str]) -> dict[str, int]:
        """Round 0's expert demonstrations per task; an exception naming a task the run does not
        have is refused (a typo would otherwise silently change nothing)."""
        unknown = sorted(set(self.initial_episodes_by_task) - set(tasks))
        if unknown:
            raise ValueError(
                f"dagger.initial_episodes_by_task: {', '.join(map(repr, unknown))} is not a task of "
                f"this run (tasks: {', '.join(tasks)})"
            )
        return {t: self.initial_episodes_by_task.get(t, self.initial_episodes_per_task) for t in tasks}


@dataclass(frozen=True)
class BCConfig:
    epochs: int = 20  # epochs per round (fine-tuning and from scratch alike)
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    # 'constant', or 'cosine': the learning rate falls from `lr` to 0 over each fit (every round's
    # fine-tune anneals again), so a round ends at a settled model rather than wherever the last
    # full-size steps left it (docs/results/student.md, ninth session).
    lr_schedule: str = "constant"
    # Point-cloud augmentation (training only; bc.augment_points, docs/results/student.md):
    # Gaussian jitter per point and one random translation per cloud with the gripper's
    # position not moved (the depth noise and the calibration error of a real camera), and one
    # random translation of the whole scene, cloud and gripper position together (against
    # memorising where the few demonstrations put their goals).
    point_jitter_m: float = 0.0
    point_shift_m: float = 0.0
    scene_shift_m: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    name: str = "custom"
    seed: int = 0
    workers: int = 2
    sim: SimConfig = field(default_factory=SimConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    point_cloud: PointCloudContract | None = None  # required for point-cloud students
    dagger: DaggerConfig = field(default_factory=DaggerConfig)
    # The scheduler's own config, picked by name: `scheduler: {name: task_need, temperature: 0.5}`
    # (mtdagger/scheduling/registry.py; each scheduler module declares its fields).
    scheduler: SchedulerConfig = field(default_factory=TaskNeedConfig)
    bc: BCConfig = field(default_factory=BCConfig)
    # Where rollouts and evaluation run: null = this machine's process pool (`workers`
    # processes); 'auto' = the Ray cluster `ray start` runs here; 'local' = a private Ray in this
    # process; HOST:PORT = that cluster's head. With Ray, `workers` is the number of actors.
    # The episodes are the same either way (the driver assigns the seeds; docs/distributed.md).
    ray: str | None = None

    def __post_init__(self) -> None:
        check_ray_address(self.ray)
        if self.uses_point_clouds and self.point_cloud is None:
            raise ValueError(
                f"a {self.student.architecture!r} student needs a point_cloud section (the contract)"
            )
        if self.dagger.retrain not in ("finetune", "scratch"):
            raise ValueError(f"dagger.retrain must be 'finetune' or 'scratch', got {self.dagger.retrain!r}")
        _check_episode_counts(self.dagger.initial_episodes_by_task, "dagger.initial_episodes_by_task")
        if self.bc.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"bc.lr_schedule must be 'constant' or 'cosine', got {self.bc.lr_schedule!r}")

    @property
    def uses_point_clouds(self) -> bool:
        from mtdagger.policy.networks import STUDENT_REGISTRY

        known = STUDENT_REGISTRY.get(self.student.architecture)
        return known is not None and known[0].uses_point_cloud

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["point_cloud"] = None if self.point_cloud is None else self.point_cloud.to_dict()
        data["scheduler"] = self.scheduler.to_dict()
        data["dagger"]["beta"] = self.dagger.beta.to_dict()
        return data


def _check_episode_counts(counts: dict, name: str) -> None:
    """A task -> episode-count mapping: task names as strings, counts whole numbers in [1, 100000]."""
    for task, count in counts.items():
        if not isinstance(task, str) or not task:
            raise ValueError(f"{name}: task names must be non-empty strings, got {task!r}")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100_000:
            raise ValueError(f"{name}.{task} must be a whole number in [1, 100000], got {count!r}")


def check_ray_address(address: Any, name: str = "ray") -> str | None:
    """None (the local pool), 'auto', 'local' or a cluster address such as 10.0.0.5:6379 or
    ray://host:10001; anything else is refused with a one-line error naming `name`."""
    if address is None:
        return None
    if not isinstance(address, str) or not address.strip() or any(c.isspace() for c in address):
        raise ValueError(f"{name}: expected 'auto', 'local' or a cluster address HOST:PORT, got {address!r}")
    if address not in ("auto", "local") and ":" not in address:
        raise ValueError(f"{name}: {address!r} is not 'auto', 'local' or HOST:PORT")
    return address


def _build(cls: type, data: Any, where: str) -> Any:
    """Build a (nested) frozen dataclass from plain YAML data. The generic validator
    (mtdagger/config_validation.py) checks unknown keys and each field's type from its annotation,
    nested sections included, and ranges from FIELD_BOUNDS or the field's metadata."""
    return build_dataclass(cls, data, where, FIELD_BOUNDS)


# Ranges of the numeric fields above (a field's own `metadata=bounds(...)` works too).
FIELD_BOUNDS: dict[tuple[type, str], Bounds] = {
    (TrainConfig, "seed"): Bounds(ge=0, lt=2**31),
    (TrainConfig, "workers"): Bounds(ge=1, le=256),
    (SimConfig, "max_episode_steps"): Bounds(ge=1, le=100_000),
    (DaggerConfig, "rounds"): Bounds(ge=0, le=10_000),
    (DaggerConfig, "initial_episodes_per_task"): Bounds(ge=1, le=100_000),
    (DaggerConfig, "budget_per_round"): Bounds(ge=0, le=1_000_000),
    (DaggerConfig, "holdout_fraction"): Bounds(ge=0, lt=1),
    (DaggerConfig, "eval_episodes_per_task"): Bounds(ge=0, le=100_000),
    (BCConfig, "epochs"): Bounds(ge=1, le=100_000),
    (BCConfig, "batch_size"): Bounds(ge=1, le=1_000_000),
    (BCConfig, "lr"): Bounds(gt=0, le=10),
    (BCConfig, "weight_decay"): Bounds(ge=0),
    (BCConfig, "grad_clip"): Bounds(ge=0),
    (BCConfig, "point_jitter_m"): Bounds(ge=0, le=0.1),
    (BCConfig, "point_shift_m"): Bounds(ge=0, le=0.1),
    (BCConfig, "scene_shift_m"): Bounds(ge=0, le=0.2),
}


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        path, sep, raw = item.partition("=")
        keys = path.strip().split(".")
        if not sep or not all(k.strip() for k in keys):
            raise ConfigError(f"--set {item!r} must look like key.path=value (e.g. dagger.rounds=3)")
        try:
            value = load_yaml(raw)
        except yaml.YAMLError as error:
            problem = _yaml_problem(error)
            raise ConfigError(f"--set {path}: value {raw!r} is not valid YAML ({problem})") from None
        node = data
        for depth, key in enumerate(keys[:-1]):
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                section = ".".join(keys[: depth + 1])
                raise ConfigError(f"--set {path}: {section} is a value, not a section")
        node[keys[-1]] = value
    return data


_yaml_problem = yaml_problem  # the name other modules import


def read_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """A YAML file that must hold a non-empty mapping; one-line errors naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} not found")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{what} {str(path)!r} is not valid YAML: {_yaml_problem(error)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {str(path)!r} is not UTF-8 text") from None
    if data is None:
        raise ConfigError(f"{what} {str(path)!r} is empty; it must be a YAML mapping of settings")
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {str(path)!r} must be a YAML mapping, got {type(data).__name__}")
    return data


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"--config: training config {str(path)!r} not found (presets live in configs/)"
        )
    data = read_yaml_mapping(path, "training config")
    apply_overrides(data, overrides or [])
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    return _build(TrainConfig, _with_choices_built(data), "")


# Sections whose dataclass is picked by a key (mtdagger/config_choice.py): path -> builder. The
# generic validator takes a built dataclass as is, so these are built first, by name.
_CHOICE_SECTIONS = {
    ("scheduler",): scheduler_config_from_dict,
    ("dagger", "beta"): beta_schedule_from_dict,
}
# The same sections for `settable_keys`: base class -> (the choosing key, the choices).
_CHOICE_TYPES = {SchedulerConfig: ("name", SCHEDULER_CONFIGS), BetaSchedule: ("schedule", BETA_SCHEDULES)}


def _with_choices_built(data: Any) -> Any:
    """A copy of `data` with every choice section present built into its dataclass (sections that
    are not mappings are left for the generic validator to refuse, naming them)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for path, build in _CHOICE_SECTIONS.items():
        parent = out
        for key in path[:-1]:
            if not isinstance(parent.get(key), dict):
                break
            parent[key] = dict(parent[key])
            parent = parent[key]
        else:
            if path[-1] in parent:
                parent[path[-1]] = build(parent[path[-1]], ".".join(path))
    return out


def settable_keys() -> list[str]:
    """Every `section.key` that `--set` accepts, with its type (for `train --help`)."""
    import typing

    out: list[str] = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints.get(f.name)
            inner = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)] or [hint]
            if inner[0] in _CHOICE_TYPES:  # the choosing key, then every choice's fields
                key, choices = _CHOICE_TYPES[inner[0]]
                out.extend(f"{prefix}{f.name}.{name}" for name in [key, *choice_fields(choices)])
            elif dataclasses.is_dataclass(inner[0]) and isinstance(inner[0], type):
                walk(inner[0], f"{prefix}{f.name}.")
            else:
                out.append(f"{prefix}{f.name}")

    walk(TrainConfig, "")
    return out
