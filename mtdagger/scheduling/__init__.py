"""Task schedulers for multitask DAgger: how each round's expert budget is split across tasks.

The DAgger loop uses `make_scheduler(tasks, config)` with the scheduler's own config dataclass
(`scheduler_config("task_need", temperature=0.5)`, or `TaskNeedConfig(...)`), then per round
`allocate(budget)` → roll out → `update({task: TaskFeedback(...)})`; `state_dict()` for resume.
For many tasks, `allocate_array` / `update_arrays` do the same on vectors in task order. A
scheduler with `wants_embeddings` (AMF) also gets `observe_embeddings(StudentEmbeddings)` before
each `update`.
"""

from mtdagger.scheduling.amf import AmfConfig, AmfScheduler
from mtdagger.scheduling.base import SchedulerConfig, StudentEmbeddings, TaskFeedback, TaskScheduler
from mtdagger.scheduling.drats import DratsConfig, DratsScheduler
from mtdagger.scheduling.hybrid import HybridConfig, HybridScheduler
from mtdagger.scheduling.perf_gain import PerfGainConfig, PerfGainScheduler
from mtdagger.scheduling.ranked import RankedConfig
from mtdagger.scheduling.registry import (
    DEFAULT_SCHEDULER,
    SCHEDULER_CONFIGS,
    SCHEDULERS,
    make_scheduler,
    scheduler_config,
    scheduler_config_from_dict,
    scheduler_config_like,
)
from mtdagger.scheduling.task_need import TaskNeedConfig, TaskNeedScheduler
from mtdagger.scheduling.uniform import UniformConfig, UniformScheduler

__all__ = [
    "DEFAULT_SCHEDULER",
    "SCHEDULERS",
    "SCHEDULER_CONFIGS",
    "AmfConfig",
    "AmfScheduler",
    "DratsConfig",
    "DratsScheduler",
    "HybridConfig",
    "HybridScheduler",
    "PerfGainConfig",
    "PerfGainScheduler",
    "RankedConfig",
    "SchedulerConfig",
    "StudentEmbeddings",
    "TaskFeedback",
    "TaskNeedConfig",
    "TaskNeedScheduler",
    "TaskScheduler",
    "UniformConfig",
    "UniformScheduler",
    "make_scheduler",
    "scheduler_config",
    "scheduler_config_from_dict",
    "scheduler_config_like",
]
