"""The FR3 drawer cell as a real arm looks to the ROS graph: joint trajectories in, joint states out.

`FR3CellCore` (ROS-free; the rclpy node is `sim_bridge/ros/fr3_cell_node.py`) plays the FR3 backend
behind the interface franka_ros2 gives a real FR3 (configs/robots/franka_fr3.yaml):

- commands arrive as `trajectory_msgs/JointTrajectory` for the `joint_trajectory_controller`
  `fr3_arm_controller`, executed by the training backend's own trajectory controller model
  (`mtdagger.control.trajectory_execution`: the JTC's spline by the fields the points carry,
  from the state the robot config names, a new trajectory replacing the running one). Points are
  (positions, time_from_start_s[, velocities, accelerations]); fields the message leaves empty
  are None, which changes the interpolation as on the robot. No new trajectory: the old one plays
  to its end and the arm holds there;
- the gripper: the arm controller's per-finger goal position (m), here on its stamped topic (the
  PyPI seam for franka_gripper's GripperCommand action, absent from PyPI);
- out: `/joint_states` (fr3_joint1..7 and both fingers), the TCP pose (what the `ee_state` node
  computes from TF on a robot), the rendered depth camera, `/clock`, and the episode markers with
  the cabinet, its seen/unseen split and the task's success (the operator's and judge's part).

Lockstep. The simulated world is paused while the graph thinks: time (`/clock` and every stamp)
advances by one control period per step, and a step waits for the command of the current
observation. Waiting for the first command, the cell republishes the current observation (and
/clock) every `republish_period_s` with ITS stamp, so a node that joined late (an `ee_state`,
a policy still loading) still gets it. The stamps do not move while waiting, deliberately:
restamping one unchanged observation would make the graph answer it more than once (the policy
acts on every new stamp, and an action is a displacement to execute exactly once) and would make
the episode depend on how long the graph took to start; a paused simulation keeps /clock still,
as Gazebo paused or `ros2 bag play --start-paused` do. So nodes of the graph must not wait on a
simulated-clock timer or on a new stamp to produce an observation (issue 21: the old `ee_state`
did both); they are driven by the messages, which the republishing keeps coming.

A JointTrajectory carries no observation stamp (a JTC starts it on receipt), so the
cell pairs on the arm controller's stamped outputs that come with every command: the gripper goal
(sent before the trajectory) and the applied command (sent after it). Once both carry the current
observation's stamp, the cell waits at most `trajectory_grace_s` for the trajectory itself (none
comes when IK refused: then the arm keeps playing the old one, as a robot would) and steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mtdagger.control.trajectory_execution import TrajectoryPoint
from mtdagger.episode_seeds import TASK_SEED_STRIDE, episode_seed
from mtdagger.recording.layout import EpisodeInfo
from sim_bridge.fr3.backend import FR3Backend
from sim_bridge.fr3.config import OBJECT_ID, OBJECT_SPLIT, FR3BackendConfig
from sim_bridge.fr3.model import ARM_JOINTS, fr3_urdf
from sim_bridge.lockstep import CLOCK_START_S, StartupTimeoutError

SPLITS = ("seen", "unseen")


def parse_objects(objects: str) -> tuple[str, ...]:
    """'seen' | 'unseen' | 'both' -> the splits to run, in order."""
    if objects == "both":
        return SPLITS
    if objects in SPLITS:
        return (objects,)
    raise ValueError(f"objects={objects!r}; valid: seen, unseen, both")


@dataclass(frozen=True)
class FR3CellConfig:
    tasks: tuple[str, ...] = ("drawer-open",)
    objects: str = "both"  # seen | unseen | both (each split's episodes in turn)
    episodes_per_task: int = 1  # per task and split
    seed: int = 0  # episode seeds: mtdagger/episode_seeds.py, as `mtdagger eval` (both splits alike)
    # The task order that numbers the seeds: the checkpoint's task list (empty: `tasks`), so the
    # cell resets the scenes `mtdagger eval` resets and the two results pair episode by episode.
    seed_tasks: tuple[str, ...] = ()
    max_episode_steps: int = 120
    stop_on_success: bool = True  # end the episode at the first successful step (the operator would)
    command_timeout_s: float = 10.0  # wall time without a command (lockstep) before stepping a hold
    startup_timeout_s: float = 180.0
    trajectory_grace_s: float = 0.05
    republish_period_s: float = 1.0
    # The gripper goal is stamped like the observation (the arm controller's gripper topic): pair
    # on it too. False for GripperCommand goals (a full ROS 2 install), which carry no stamp.
    pair_gripper: bool = True
    backend: FR3BackendConfig = field(default_factory=lambda: FR3BackendConfig(render_depth=False))

    def __post_init__(self) -> None:
        parse_objects(self.objects)
        if not self.tasks:
            raise ValueError("tasks: at least one task is needed")
        if not 1 <= self.episodes_per_task <= TASK_SEED_STRIDE:
            raise ValueError(f"episodes_per_task must be in 1..{TASK_SEED_STRIDE}")
        if self.seed < 0 or self.max_episode_steps < 1:
            raise ValueError("max_episode_steps must be >= 1, seed >= 0")
        missing = [task for task in self.tasks if task not in self.seed_order]
        if missing:
            raise ValueError(f"seed_tasks {list(self.seed_tasks)} does not name {missing}")
        for name in ("command_timeout_s", "startup_timeout_s", "trajectory_grace_s", "republish_period_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")

    @property
    def seed_order(self) -> tuple[str, ...]:
        return self.seed_tasks or self.tasks

    def schedule(self) -> list[tuple[str, str, int]]:
        """(split, task, seed) of every episode, in the order they run."""
        return [
            (split, task, episode_seed(self.seed, self.seed_order.index(task), i))
            for split in parse_objects(self.objects)
            for task in self.tasks
            for i in range(self.episodes_per_task)
        ]


@dataclass(frozen=True)
class CellFrame:
    """What the node publishes after a reset or a step, all stamped `stamp_s` (simulated time)."""

    stamp_s: float
    depth_m: np.ndarray | None
    camera: Any  # CameraModel of the rendered image
    joint_names: tuple[str, ...]
    joint_positions: np.ndarray
    tcp_pose: np.ndarray  # 4x4, fr3_link0
    success: bool
    markers: tuple[dict[str, Any], ...] = ()
    finished: bool = False


class FR3CellCore:
    """Episodes, simulated time and the JTC of the FR3 cell (no ROS)."""

    def __init__(self, config: FR3CellConfig, make_backend=None) -> None:
        self.config = config
        self._make_backend = make_backend or (lambda split: FR3Backend(_with_objects(config.backend, split)))
        self._schedule = config.schedule()
        self.backend: FR3Backend | None = None
        self._split: str | None = None
        self.period_s = 0.0
        self._ticks = 0
        self._index = 0
        self._episode: EpisodeInfo | None = None
        self._steps = 0
        self._success = False
        self._holds = 0
        self._trajectories = 0  # received since the current frame
        self._gripper_stamp_s = -math.inf
        self._applied_stamp_s = -math.inf
        self._paired_at: float | None = None
        self._wait_started: float | None = None
        self._republished = 0
        self._seen_command = False
        self._frame: CellFrame | None = None
        self.finished = False
        self.results: list[dict[str, Any]] = []  # the end markers, in order

    # ------------------------------------------------------------------ episodes
    @property
    def urdf(self) -> str:
        """The robot description the cell's arm is built from (what robot_state_publisher sends)."""
        return fr3_urdf()

    @property
    def now_s(self) -> float:
        return CLOCK_START_S + self._ticks * self.period_s

    def begin(self) -> CellFrame:
        return self._start_episode(())

    def _start_episode(self, markers: tuple[dict[str, Any], ...]) -> CellFrame:
        split, task, seed = self._schedule[self._index]
        if split != self._split:
            if self.backend is not None:
                self.backend.close()  # one renderer at a time (see sim_bridge.fr3.backend)
            self.backend, self._split = self._make_backend(split), split
            self.period_s = self.backend.action_convention.control_period_s
        observation = self.backend.reset(task, seed)
        object_id = int(observation[OBJECT_ID])
        self._episode = EpisodeInfo(
            index=self._index, task=task, object=f"cabinet-{object_id:03d}", seed=seed,
            object_split=str(observation[OBJECT_SPLIT]),
        )  # fmt: skip
        self._index += 1
        self._steps, self._success, self._holds = 0, False, 0
        return self._make_frame(markers=(*markers, self._episode.start_marker()))

    def _make_frame(self, *, markers=(), finished: bool = False) -> CellFrame:
        backend = self.backend
        depth = None if finished else backend.render_depth()
        names, positions = backend.joint_state()
        self._frame = CellFrame(
            stamp_s=self.now_s, depth_m=None if depth is None else depth.depth_m,
            camera=None if depth is None else depth.camera, joint_names=tuple(names),
            joint_positions=positions, tcp_pose=backend.tcp_pose(), success=self._success,
            markers=tuple(markers), finished=finished,
        )  # fmt: skip
        self._trajectories = 0
        self._paired_at = self._wait_started = None
        self._republished = 0
        return self._frame

    # ------------------------------------------------------------------ commands
    def on_trajectory(self, joint_names, points) -> str | None:
        """A JointTrajectory: [(positions, time_from_start_s[, velocities, accelerations])]. None,
        or why it was rejected (as a JTC rejects it: wrong joints, no point, non-finite values)."""
        names = list(joint_names)
        if sorted(names) != sorted(ARM_JOINTS):
            return f"joint_names {names} are not the arm's {list(ARM_JOINTS)}"
        if not points:
            return "a trajectory without points"
        order = [names.index(j) for j in ARM_JOINTS]
        converted = []
        for point in points:
            fields = [*point, None, None][:4]
            arrays = [None if f is None or len(f) == 0 else np.asarray(f, dtype=np.float64) for f in
                      (fields[0], fields[2], fields[3])]  # fmt: skip
            if any(a is not None and a.shape != (len(names),) for a in arrays) or arrays[0] is None:
                return "a point with missing or non-finite positions or time"
            time_s = float(fields[1])
            converted.append(TrajectoryPoint(*[None if a is None else a[order] for a in arrays[:1]], time_s,
                                             *[None if a is None else a[order] for a in arrays[1:]]))
        error = self.backend.execution.receive(converted)
        if error is not None:
            return error
        self._trajectories += 1
        self._seen_command = True
        return None

    def on_gripper(self, position_m: float, stamp_s: float | None = None) -> None:
        """A per-finger goal position (m); `stamp_s` the observation it answers, when known."""
        if math.isfinite(position_m) and self.backend is not None:
            self.backend.set_gripper(position_m)
            if stamp_s is not None:
                self._gripper_stamp_s = max(self._gripper_stamp_s, float(stamp_s))

    def on_applied(self, stamp_s: float) -> None:
        self._applied_stamp_s = max(self._applied_stamp_s, float(stamp_s))
        self._seen_command = True

    # ------------------------------------------------------------------ lockstep
    def ready_to_step(self, wall_now_s: float) -> bool:
        if self.finished:
            return False
        if self._wait_started is None:
            self._wait_started = wall_now_s
        if self._answered():
            if self._paired_at is None:
                self._paired_at = wall_now_s
            if self._trajectories or wall_now_s - self._paired_at > self.config.trajectory_grace_s:
                return True
        waited = wall_now_s - self._wait_started
        if not self._seen_command:
            if waited > self.config.startup_timeout_s:
                gripper = "topic" if self.config.pair_gripper else "action"
                raise StartupTimeoutError(
                    f"no arm command within {self.config.startup_timeout_s:.0f} s of the first observation "
                    f"(republished every {self.config.republish_period_s:g} s): is the arm controller "
                    f"running in 'joint_trajectory' mode with gripper_interface '{gripper}', and do the "
                    "policy and the arm controller get the EE pose (/mtdagger/ee_state) and the robot "
                    "description?"
                )
            return False
        return waited > self.config.command_timeout_s

    def _answered(self) -> bool:
        """The arm controller's stamped outputs for the current observation have arrived."""
        now = self.now_s - 1e-9
        gripper = not self.config.pair_gripper or self._gripper_stamp_s >= now
        return gripper and self._applied_stamp_s >= now

    def frame_to_republish(self, wall_now_s: float) -> CellFrame | None:
        if self.finished or self._frame is None or self._wait_started is None:
            return None
        due = (self._republished + 1) * self.config.republish_period_s
        if wall_now_s - self._wait_started < due:
            return None
        self._republished += 1
        return replace(self._frame, markers=())

    def step(self) -> CellFrame:
        """One control period of the JTC (or a hold), then the episode's bookkeeping."""
        if self.finished or self._episode is None:
            raise RuntimeError("step() after the last episode (or before begin())")
        if not self._answered():
            self._holds += 1  # no command for this observation: the JTC plays on
        self.backend.play(self.period_s)
        self._ticks += 1
        self._steps += 1
        self._success = self._success or self.backend.is_success()
        over = self._steps >= self.config.max_episode_steps or (self._success and self.config.stop_on_success)
        if not over:
            return self._make_frame()
        end = self._episode.start_marker()
        notes = f"{self._holds} step(s) without a command" if self._holds else ""
        end.update(event="end", success=self._success, notes=notes, num_steps=self._steps)
        end["drawer_opening_m"] = round(self.backend.drawer_opening, 4)
        self.results.append(end)
        # The next episode's first frame is the next period's (no extra tick: a clock jump of two
        # periods would make the arm controller hold on a stale action between the episodes).
        if self._index >= len(self._schedule):
            self.finished = True
            return self._make_frame(markers=(end,), finished=True)
        return self._start_episode((end,))

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None


def _with_objects(config: FR3BackendConfig, split: str) -> FR3BackendConfig:
    return replace(config, objects=split, render_depth=False)
