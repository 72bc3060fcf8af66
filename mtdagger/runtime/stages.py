"""The deployment stages, each a small class with one method, wrapped 1:1 by the ROS 2 nodes.

camera source -> point-cloud preprocessing -> policy -> safety filter -> robot

A stage that cannot produce its output returns None with a reason instead of raising: the
loop then holds the arm still and logs why. Nothing a sensor sends may crash the graph.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mtdagger import keys
from mtdagger.perception.contract import PointCloudContract
from mtdagger.perception.frames import DepthFrame
from mtdagger.perception.pointcloud import EmptyPointCloudError, depth_to_point_cloud, warm_up
from sim_bridge.backend import SimBackend


@dataclass(frozen=True)
class StageOutput:
    value: Any | None
    reason: str = ""  # why value is None


class CameraSource(Protocol):
    def read(self) -> DepthFrame | None: ...


@dataclass
class SimClock:
    """Simulation time shared by the loop (watchdog, bag stamps) and the simulated camera."""

    now_s: float = 0.0


class SimCameraSource:
    """The simulator's rendered depth camera; frames are stamped with the loop's clock at capture."""

    def __init__(self, backend: SimBackend, clock: SimClock) -> None:
        self.backend = backend
        self.clock = clock

    def read(self) -> DepthFrame | None:
        frame = self.backend.render_depth()
        return dataclasses.replace(frame, stamp_s=self.clock.now_s)


class PointCloudStage:
    """Depth + camera model -> the contract's N base-frame points (DESIGN.md §3)."""

    def __init__(self, contract: PointCloudContract, cloud_fn=depth_to_point_cloud) -> None:
        self.contract = contract
        self.cloud_fn = cloud_fn  # swappable only so benchmarks can time a baseline in the same loop
        warm_up()  # load/compile the contract's kernels now, not in the first control step

    def process(self, frame: DepthFrame | None) -> StageOutput:
        if frame is None:
            return StageOutput(None, "no_depth_frame")
        try:
            return StageOutput(self.cloud_fn(frame.depth_m, frame.camera, self.contract))
        except EmptyPointCloudError as error:
            return StageOutput(None, f"empty_point_cloud: {error}")
        except ValueError as error:  # wrong shape / dtype: a broken frame, not a broken graph
            return StageOutput(None, f"bad_depth_frame: {error}")


class PolicyStage:
    """Cloud + proprioception + task -> convention action; the task can change between episodes."""

    def __init__(self, policy, task: str) -> None:
        self.policy = policy
        self.set_task(task)

    def set_task(self, task: str) -> None:
        if task not in self.policy.tasks:
            raise ValueError(f"task {task!r} is not one the checkpoint knows: {', '.join(self.policy.tasks)}")
        self.task = task
        self.task_index = list(self.policy.tasks).index(task)

    def act(self, points: np.ndarray | None, state: np.ndarray) -> StageOutput:
        if points is None:
            return StageOutput(None, "no_point_cloud")
        observation = {
            keys.POINT_CLOUD: points,
            keys.STATE: np.asarray(state, dtype=np.float32),
            keys.TASK_INDEX: self.task_index,
            keys.TASK_NAME: self.task,
        }
        try:
            action = np.asarray(self.policy(observation), dtype=np.float32)
        except (ValueError, KeyError, RuntimeError, FloatingPointError) as error:  # NonFiniteActionError too
            return StageOutput(None, f"policy_error: {error}")
        return StageOutput(action)
