"""Scheduler names → classes and their configs: the only place a config's `name` is resolved.

Each scheduler declares its own frozen config dataclass (`config_class`) and takes its name from
it. `scheduler_config(name, **fields)` builds the named one: an unknown field is refused naming it
and the valid ones (no eval of class names, no flat bag of every scheduler's knobs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from mtdagger.config_choice import build_choice
from mtdagger.scheduling.amf import AmfScheduler
from mtdagger.scheduling.base import SchedulerConfig, TaskScheduler
from mtdagger.scheduling.drats import DratsScheduler
from mtdagger.scheduling.hybrid import HybridScheduler
from mtdagger.scheduling.perf_gain import PerfGainScheduler
from mtdagger.scheduling.task_need import TaskNeedScheduler
from mtdagger.scheduling.uniform import UniformScheduler

SCHEDULERS: dict[str, type[TaskScheduler]] = {
    cls.name: cls
    for cls in (
        UniformScheduler,
        TaskNeedScheduler,
        PerfGainScheduler,
        HybridScheduler,
        DratsScheduler,
        AmfScheduler,
    )
}
SCHEDULER_CONFIGS: dict[str, type[SchedulerConfig]] = {
    name: cls.config_class for name, cls in SCHEDULERS.items()
}
# The scheduler of a `scheduler:` section that names none (and of TrainConfig's default).
DEFAULT_SCHEDULER = "task_need"


def scheduler_config_from_dict(data: Mapping[str, Any], where: str = "scheduler") -> SchedulerConfig:
    """The config `data["name"]` names (default task_need), from the rest of `data` (YAML/JSON)."""
    return build_choice(SCHEDULER_CONFIGS, data, "name", DEFAULT_SCHEDULER, where)


def scheduler_config(name: str, **fields: Any) -> SchedulerConfig:
    """e.g. scheduler_config("drats", eta=2.0): the named scheduler's config from its own fields."""
    return scheduler_config_from_dict({"name": name, **fields})


def scheduler_config_like(base: SchedulerConfig, name: str, **fields: Any) -> SchedulerConfig:
    """The `name` scheduler's config keeping `base`'s values of the fields both have (the floor, the
    temperature, ...), with `fields` on top: e.g. every scheduler of a study on one preset's settings."""
    cls = SCHEDULER_CONFIGS.get(name)
    own = set() if cls is None else {f.name for f in dataclasses.fields(cls)}
    shared = {key: value for key, value in dataclasses.asdict(base).items() if key in own}
    return scheduler_config(name, **{**shared, **fields})


def make_scheduler(tasks: Sequence[str], config: SchedulerConfig) -> TaskScheduler:
    """The scheduler `config` is for, over `tasks` (order fixes the tie rule and the state)."""
    if not isinstance(config, SchedulerConfig):
        raise ValueError(f"config must be a scheduler config, got {type(config).__name__}")
    try:
        cls = SCHEDULERS[config.name]
    except KeyError:
        raise ValueError(f"unknown scheduler {config.name!r}; valid: {', '.join(SCHEDULERS)}") from None
    return cls(tasks, config)
