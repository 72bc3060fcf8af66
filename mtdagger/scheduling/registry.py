"""Scheduler names → classes: the only place a config's `name` is resolved (no eval of class names)."""

from __future__ import annotations

from collections.abc import Sequence

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


def make_scheduler(tasks: Sequence[str], config: SchedulerConfig) -> TaskScheduler:
    """The scheduler named by `config.name`, over `tasks` (order fixes the tie rule and the state)."""
    try:
        cls = SCHEDULERS[config.name]
    except KeyError:
        raise ValueError(f"unknown scheduler {config.name!r}; valid: {', '.join(SCHEDULERS)}") from None
    return cls(tasks, config)
