"""The sim bridge's ROS-free core: episodes, the simulated clock and the conversion of controller
commands into convention actions (`SimBridgeCore`), plus `build_backend`.

Kept apart from the rclpy node (sim_bridge/ros/bridge_node.py) so it imports and is tested without
ROS (tests/test_sim_bridge_core.py); nothing here imports rclpy or a ROS message package.

Stepping. Each received twist is applied for exactly one step; a step without a new twist holds
(zero displacement), as a robot does when commands stop. With `lockstep` (default) the bridge
waits, with the clock frozen, until the command computed from the current observation arrives
(its stamp is the observation's), so a rollout gives the same result however slow the graph
runs; if none comes within `command_timeout_s` of wall time it steps with a hold. Without
lockstep it steps every control period of wall time, like a real robot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mtdagger import keys
from mtdagger.perception.frames import DepthFrame
from mtdagger.recording.layout import EpisodeInfo, position_or_none
from sim_bridge.backend import SimBackend
from sim_bridge.lockstep import CLOCK_START_S, StartupTimeoutError


@dataclass(frozen=True)
class SimBridgeConfig:
    tasks: tuple[str, ...]
    episodes_per_task: int = 1  # 0: run forever (cycling through the tasks)
    seed: int = 0
    lockstep: bool = True
    command_timeout_s: float = 1.0  # wall time to wait for a command (lockstep) before a hold
    # Before the very first command the graph is still starting (checkpoint loading, discovery).
    startup_timeout_s: float = 120.0
    # While waiting (lockstep), the current observation is published again this often: a node that
    # joined late, or a dropped best-effort image, must not stall the rollout until the timeout.
    republish_period_s: float = 0.25
    # GripperCommand.position (m) at the convention's -1 (open) and +1 (closed).
    gripper_open_position_m: float = 0.0
    gripper_closed_position_m: float = 1.0
    # Lockstep also waits for the gripper command stamped like the observation (gripper on a topic:
    # a step never runs with the previous step's gripper because the two messages crossed).
    pair_gripper_by_stamp: bool = False

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("the sim bridge needs at least one task")
        if self.episodes_per_task < 0 or self.seed < 0:
            raise ValueError("episodes_per_task and seed must be >= 0")
        if not (self.command_timeout_s > 0 and self.startup_timeout_s > 0 and self.republish_period_s > 0):
            raise ValueError("command_timeout_s, startup_timeout_s and republish_period_s must be positive")
        if self.gripper_open_position_m == self.gripper_closed_position_m:
            raise ValueError("gripper open and closed positions must differ")


@dataclass(frozen=True)
class SimFrame:
    """What the node publishes after a reset or a step, all stamped `stamp_s` (simulated time)."""

    stamp_s: float
    depth: DepthFrame
    ee_position: np.ndarray  # (3,) base frame
    gripper_opening: float
    success: bool  # this step's task success flag (False right after a reset)
    markers: tuple[dict[str, Any], ...] = ()  # episode end / start markers to publish, in order
    camera_moved: bool = False  # T_base_camera differs from the last frame's: re-send /tf_static
    finished: bool = False  # every requested episode is done


@dataclass
class _Episode:
    info: EpisodeInfo
    steps: int = 0
    success: bool = False
    timeouts: int = 0


@dataclass
class _Command:
    displacement_m: np.ndarray
    stamp_s: float


class SimBridgeCore:
    """Episodes, simulated time and command conversion of the sim bridge (no ROS)."""

    def __init__(self, backend: SimBackend, config: SimBridgeConfig) -> None:
        self.backend = backend
        self.config = config
        self.period_s = backend.action_convention.control_period_s
        self._ticks = 0  # simulated time in control periods (integer: no drift over long runs)
        self._gripper = -1.0  # open until a goal says otherwise
        self._gripper_stamp_s = -math.inf
        self._pending: _Command | None = None
        self._episode: _Episode | None = None
        self._episode_count = 0
        self._frame: SimFrame | None = None
        self._camera_pose: np.ndarray | None = None
        self._wait_started: float | None = None
        self._republished = 0
        self._seen_command = False
        self.finished = False

    # ------------------------------------------------------------------ schedule
    def _schedule(self, index: int) -> tuple[str, int] | None:
        """(task, seed) of the index-th episode: each task `episodes_per_task` times, in order."""
        per_task = self.config.episodes_per_task
        tasks = self.config.tasks
        if per_task and index >= per_task * len(tasks):
            return None
        task = tasks[index // per_task] if per_task else tasks[index % len(tasks)]
        return task, self.config.seed + index

    def begin(self) -> SimFrame:
        """Reset into the first episode; the frame to publish first."""
        if self._schedule(0) is None:
            raise ValueError("no episode to run")
        return self._start_episode(markers=())

    def _start_episode(self, markers: tuple[dict[str, Any], ...]) -> SimFrame:
        task, seed = self._schedule(self._episode_count)
        observation = self.backend.reset(task, seed)
        info = EpisodeInfo(
            index=self._episode_count, task=task, object=task, seed=seed,
            # Where the episode has to go, for the report's trajectory plot (None if unknown).
            goal_position=position_or_none(observation.get(keys.GOAL_POSITION)),
            object_position=position_or_none(observation.get(keys.OBJECT_POSITION)),
        )
        self._episode = _Episode(info)
        self._episode_count += 1
        self._pending = None
        return self._make_frame(observation, success=False, markers=(*markers, info.start_marker()))

    def _make_frame(self, observation: dict[str, Any], *, success: bool, markers=()) -> SimFrame:
        state = np.asarray(observation[keys.STATE], dtype=np.float64)
        depth = self.backend.render_depth()
        pose = np.asarray(depth.camera.T_base_camera)
        moved = self._camera_pose is None or not np.array_equal(pose, self._camera_pose)
        self._camera_pose = pose.copy()
        self._wait_started = None
        self._republished = 0
        self._frame = SimFrame(
            stamp_s=self.now_s,
            depth=depth,
            ee_position=state[:3].copy(),
            gripper_opening=float(state[3]),
            success=success,
            markers=tuple(markers),
            camera_moved=moved,
        )
        return self._frame

    @property
    def now_s(self) -> float:
        """Simulated time (s): the clock the rest of the graph runs on."""
        return CLOCK_START_S + self._ticks * self.period_s

    @property
    def task(self) -> str | None:
        return None if self._episode is None else self._episode.info.task

    # ------------------------------------------------------------------ commands
    def on_twist(self, linear_m_s, stamp_s: float) -> None:
        """A twist command: linear velocity (m/s) held for one control period."""
        velocity = np.asarray(linear_m_s, dtype=np.float64).reshape(-1)
        if velocity.shape != (3,) or not np.all(np.isfinite(velocity)):
            return  # the arm controller never sends these; a robot would ignore them too
        self._pending = _Command(velocity * self.period_s, float(stamp_s))
        self._seen_command = True

    def on_gripper_goal(self, position_m: float, stamp_s: float | None = None) -> float:
        """A GripperCommand goal position -> the convention's gripper command (-1 open .. +1 closed).
        `stamp_s`: the observation the command answers (stamped gripper topic), for the pairing."""
        open_m, closed_m = self.config.gripper_open_position_m, self.config.gripper_closed_position_m
        if not math.isfinite(position_m):
            return self._gripper
        if stamp_s is not None:
            self._gripper_stamp_s = max(self._gripper_stamp_s, float(stamp_s))
        closed_fraction = (float(position_m) - open_m) / (closed_m - open_m)
        self._gripper = float(np.clip(2.0 * closed_fraction - 1.0, -1.0, 1.0))
        return self._gripper

    @property
    def gripper_command(self) -> float:
        return self._gripper

    def ready_to_step(self, wall_now_s: float) -> bool:
        """Lockstep: the command for the current observation has arrived, or the wait timed out.

        Raises StartupTimeoutError when the very first command never comes."""
        if self.finished:
            return False
        if not self.config.lockstep:
            return True
        if self._pending is not None and self._pending.stamp_s >= self.now_s - 1e-9:
            if not self.config.pair_gripper_by_stamp or self._gripper_stamp_s >= self.now_s - 1e-9:
                return True
        if self._wait_started is None:
            self._wait_started = wall_now_s
        waited = wall_now_s - self._wait_started
        if not self._seen_command:
            if waited > self.config.startup_timeout_s:
                raise StartupTimeoutError(
                    f"no twist command within {self.config.startup_timeout_s:.0f} s of the first "
                    "observation: is the arm controller running in 'twist' mode on the robot config's "
                    "servo topic?"
                )
            return False
        return waited > self.config.command_timeout_s

    def frame_to_republish(self, wall_now_s: float) -> SimFrame | None:
        """The current observation again (no markers: those are events), every republish_period_s
        of a lockstep wait; None when nothing is due. Call after `ready_to_step` said no."""
        if not self.config.lockstep or self.finished or self._frame is None or self._wait_started is None:
            return None
        due = (self._republished + 1) * self.config.republish_period_s
        if wall_now_s - self._wait_started < due:
            return None
        self._republished += 1
        return replace(self._frame, markers=(), camera_moved=False)

    def step(self) -> SimFrame:
        """Apply the pending command (or a hold) for one control period."""
        if self.finished or self._episode is None:
            raise RuntimeError("step() after the last episode (or before begin())")
        command = self._pending
        fresh = command is not None and (not self.config.lockstep or command.stamp_s >= self.now_s - 1e-9)
        displacement = command.displacement_m if fresh else np.zeros(3)
        if self.config.lockstep and not fresh:
            self._episode.timeouts += 1
        self._pending = None
        action = np.array([*displacement, self._gripper], dtype=np.float32)
        result = self.backend.step(action)
        self._ticks += 1
        episode = self._episode
        episode.steps += 1
        episode.success = episode.success or bool(result.success)
        if not result.done:
            return self._make_frame(result.observation, success=bool(result.success))
        end = episode.info.start_marker()
        end.update(event="end", success=episode.success, notes=_notes(episode), num_steps=episode.steps)
        # The next reset happens one period later, so every frame has a later stamp than the last.
        self._ticks += 1
        if self._schedule(self._episode_count) is None:
            self.finished = True
            assert self._frame is not None
            self._frame = replace(
                self._frame, stamp_s=self.now_s, success=bool(result.success), markers=(end,),
                camera_moved=False, finished=True,
            )  # fmt: skip
            return self._frame
        return self._start_episode(markers=(end,))


def _notes(episode: _Episode) -> str:
    return f"{episode.timeouts} step(s) held for lack of a command" if episode.timeouts else ""


def build_backend(
    sim: str, tasks: list[str], camera_config: str, noise: str, randomize: bool, seed: int, max_steps: int
) -> SimBackend:
    """The backend the in-process runtime would build for the same settings (one code path)."""
    from sim_bridge.camera.sim_camera import sim_camera_config
    from sim_bridge.registry import make_backend

    camera = sim_camera_config(camera_config, noise=noise, randomize=randomize, seed=seed)
    options: dict[str, Any] = {"tasks": tuple(tasks), "camera": camera, "render_depth": False}
    if max_steps > 0:
        options["max_episode_steps"] = max_steps
    return make_backend(sim, **options)
