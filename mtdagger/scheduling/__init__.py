"""Task schedulers for multitask DAgger: how each round's expert budget is split across tasks.

The DAgger loop uses `make_scheduler(tasks, SchedulerConfig(...))`, then per round
`allocate(budget)` → roll out → `update({task: TaskFeedback(...)})`; `state_dict()` for resume.
For many tasks, `allocate_array` / `update_arrays` do the same on vectors in task order. A
scheduler with `wants_embeddings` (AMF) also gets `observe_embeddings(StudentEmbeddings)` before
each `update`.
"""

from mtdagger.scheduling.amf import AmfScheduler
from mtdagger.scheduling.base import SchedulerConfig, StudentEmbeddings, TaskFeedback, TaskScheduler
from mtdagger.scheduling.drats import DratsScheduler
from mtdagger.scheduling.hybrid import HybridScheduler
from mtdagger.scheduling.perf_gain import PerfGainScheduler
from mtdagger.scheduling.registry import SCHEDULERS, make_scheduler
from mtdagger.scheduling.task_need import TaskNeedScheduler
from mtdagger.scheduling.uniform import UniformScheduler

__all__ = [
    "SCHEDULERS",
    "AmfScheduler",
    "DratsScheduler",
    "HybridScheduler",
    "PerfGainScheduler",
    "SchedulerConfig",
    "StudentEmbeddings",
    "TaskFeedback",
    "TaskNeedScheduler",
    "TaskScheduler",
    "UniformScheduler",
    "make_scheduler",
]
