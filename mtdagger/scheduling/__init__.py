"""Task schedulers for multitask DAgger: how each round's expert budget is split across tasks.

The DAgger loop uses `make_scheduler(tasks, SchedulerConfig(...))`, then per round
`allocate(budget)` → roll out → `update({task: TaskFeedback(...)})`; `state_dict()` for resume.
"""

from mtdagger.scheduling.base import SchedulerConfig, TaskFeedback, TaskScheduler
from mtdagger.scheduling.drats import DratsScheduler
from mtdagger.scheduling.hybrid import HybridScheduler
from mtdagger.scheduling.perf_gain import PerfGainScheduler
from mtdagger.scheduling.registry import SCHEDULERS, make_scheduler
from mtdagger.scheduling.task_need import TaskNeedScheduler
from mtdagger.scheduling.uniform import UniformScheduler

__all__ = [
    "SCHEDULERS",
    "DratsScheduler",
    "HybridScheduler",
    "PerfGainScheduler",
    "SchedulerConfig",
    "TaskFeedback",
    "TaskNeedScheduler",
    "TaskScheduler",
    "UniformScheduler",
    "make_scheduler",
]
