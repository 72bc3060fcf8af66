"""Which scene an evaluation episode resets to: one rule for `mtdagger eval`, `mtdagger deploy`
and the FR3 cell of `mtdagger rehearse`.

A result through the ROS graph is only comparable with the in-process one if both paths reset
the same scenes. Episode j of a task uses `seed + 1000 * k + j`, where k is the task's position
in the checkpoint's task list: the rule every evaluation in docs/results was measured with, so
a task's scenes do not depend on which other tasks run beside it.
"""

from __future__ import annotations

TASK_SEED_STRIDE = 1000  # seeds per task: more episodes per task than this would share scenes


def episode_seed(seed: int, task_index: int, episode: int) -> int:
    """The reset seed of episode `episode` (from 0) of the task at `task_index` in the checkpoint's
    task list, for a run started at `seed` (the commands cap --episodes at TASK_SEED_STRIDE)."""
    return seed + TASK_SEED_STRIDE * task_index + episode
