"""MetaWorld v3 (MuJoCo) behind the SimBackend interface, in the project's conventions.

What this adapter converts, and why each is explicit:
* frames: MetaWorld works in its world frame; everything we hand out (state, actions, the depth
  camera's pose) is in the ROBOT BASE frame, the `right_arm_base_link` body. That body sits at
  the world origin with identity rotation in MetaWorld, but T_base_world is read from the body's
  pose anyway, so the code stays right for a scene where it is not (tests rotate it);
* actions: the convention action is a base-frame displacement per control step in metres plus a
  gripper command; MetaWorld's is a mocap delta in units of `action_scale` (0.01 m) clipped to
  [-1, 1]. The clip happens in MetaWorld's (world) frame, exactly where the simulator applies it;
* episodes: reset(task, seed) seeds MetaWorld's own RNG and lets it draw the object and goal
  placement from the task's reset distribution (`seeded_rand_vec`). MetaWorld's MT1 benchmark
  draws its fixed 50 placements from that same distribution; seeding it directly gives every
  seed its own placement (more diverse DAgger data, held-out evaluation seeds) and makes
  reset(task, seed) a pure function of (task, seed);
* time limit: done = steps >= max_episode_steps. We use the raw environment class rather than
  `gym.make('Meta-World/MT1')`, whose wrappers (TimeLimit, random task selection on reset,
  auto-termination) would second-guess the seeding and the horizon.

One backend per process (rollout workers build their own from the picklable config). Task
environments are cached per task (physics only); a single OpenGL renderer exists at a time and is
rebuilt when the task changes, because several live GL contexts in one process are what corrupts
MetaWorld renders (Farama-Foundation/Metaworld#448).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtdagger import keys
from mtdagger.control.action import ACTION_DIM, ActionConvention
from mtdagger.perception.camera_model import CameraModel
from mtdagger.perception.frames import DepthFrame
from mtdagger.perception.mujoco_camera import MujocoDepthCamera
from sim_bridge.backend import StepResult, UnknownTaskError
from sim_bridge.camera.depth_noise import apply_depth_noise, randomize_camera
from sim_bridge.camera.sim_camera import SimCameraConfig
from sim_bridge.suites import validate_tasks

os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco's first import (via metaworld)

BASE_BODY = "right_arm_base_link"


@dataclass(frozen=True)
class MetaWorldBackendConfig:
    """Everything a worker process needs to build an identical backend (frozen, picklable)."""

    tasks: tuple[str, ...]
    camera: SimCameraConfig = field(default_factory=SimCameraConfig)
    render_depth: bool = True  # put keys.DEPTH in every observation
    max_episode_steps: int = 500
    # Seed of MetaWorld's MT1 benchmark object, whose first task only supplies the task's static
    # settings; placements come from reset(task, seed) (see the module doc).
    benchmark_seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(validate_tasks(tuple(self.tasks))))
        if not isinstance(self.camera, SimCameraConfig):
            raise TypeError(f"camera must be a SimCameraConfig, got {type(self.camera).__name__}")
        if int(self.max_episode_steps) <= 0:
            raise ValueError(f"max_episode_steps must be positive, got {self.max_episode_steps}")

    def build(self) -> MetaWorldBackend:
        return MetaWorldBackend(self)


class MetaWorldBackend:
    """SimBackend for MetaWorld v3; see the module doc for the conventions it converts."""

    def __init__(self, config: MetaWorldBackendConfig) -> None:
        self.config = config
        self.max_episode_steps = int(config.max_episode_steps)
        self._envs: dict[str, Any] = {}
        self._T_world_base: dict[str, np.ndarray] = {}
        self._task: str | None = None
        self._steps = 0
        self._done = False
        self._nominal_camera = config.camera.camera_model()
        self._true_camera = self._nominal_camera
        self._reported_camera = self._nominal_camera
        self._rng = np.random.default_rng(config.camera.seed)
        self._renderer: MujocoDepthCamera | None = None
        self._frame: DepthFrame | None = None
        self._action_convention: ActionConvention | None = None

    # ------------------------------------------------------------------ SimBackend

    @property
    def action_convention(self) -> ActionConvention:
        if self._action_convention is None:
            env = self._env(self._task or self.config.tasks[0])
            self._action_convention = _convention_of(env)
        return self._action_convention

    def task_names(self) -> list[str]:
        return list(self.config.tasks)

    def reset(self, task: str, seed: int) -> dict[str, Any]:
        if task not in self.config.tasks:
            raise UnknownTaskError(task, list(self.config.tasks))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        env = self._env(task)
        if _convention_of(env) != self.action_convention:
            raise RuntimeError(
                f"task {task!r} has a different control period or action scale than the others"
            )
        env.seed(int(seed))
        raw_obs, _ = env.reset()
        # MetaWorld places the goal marker (a site) after every step but not on reset, so the
        # first frame would show the previous episode's goal; place it the way step() does.
        for site, position in env._target_site_config:
            env._set_pos_site(site, position)
        # Re-read every reset: the base is static within an episode, but a scene may move it.
        self._T_world_base[task] = body_pose(env.data, BASE_BODY)
        self._task = task
        self._steps = 0
        self._done = False
        self._frame = None
        self._rng = np.random.default_rng([int(self.config.camera.seed), int(seed)])
        randomization = self.config.camera.randomization
        self._true_camera = randomize_camera(self._nominal_camera, randomization, self._rng)
        self._reported_camera = (
            self._nominal_camera if randomization.report_nominal_camera else self._true_camera
        )
        self._noise = self.config.camera.noise.for_episode(self._rng)
        return self._observation(raw_obs)

    def step(self, action: np.ndarray) -> StepResult:
        if self._task is None:
            raise RuntimeError("step() before reset(): call reset(task, seed) first")
        if self._done:
            raise RuntimeError("the episode is over (done was returned); call reset(task, seed)")
        env = self._env(self._task)
        metaworld_action = convention_to_metaworld(
            _checked_action(action), self._T_world_base[self._task][:3, :3], env.action_scale
        )
        raw_obs, reward, _terminated, truncated, info = env.step(metaworld_action)
        self._steps += 1
        self._frame = None
        self._done = self._steps >= self.max_episode_steps or bool(truncated)
        return StepResult(
            observation=self._observation(raw_obs),
            success=bool(info["success"]),
            done=self._done,
            info={"reward": float(reward), "metaworld_action": metaworld_action, **info},
        )

    def render_depth(self) -> DepthFrame:
        """The current depth frame (rendered once per step; noise drawn from this episode's RNG)."""
        if self._task is None:
            raise RuntimeError("render_depth() before reset()")
        if self._frame is None:
            env = self._env(self._task)
            depth = self._depth_camera().render_depth(
                env.data, self._true_camera, self._T_world_base[self._task]
            )
            depth = apply_depth_noise(depth, self._noise, self._rng)
            self._frame = DepthFrame(depth, self._reported_camera, float(env.data.time))
        return self._frame

    def make_expert(self, task: str) -> MetaWorldExpert:
        if task not in self.config.tasks:
            raise UnknownTaskError(task, list(self.config.tasks))
        env = self._env(task)
        aim = HAND_ABOVE_FINGERTIPS_WORLD if task in AIM_FINGERTIPS_AT_GOAL else None
        return MetaWorldExpert(
            task, self._T_world_base[task][:3, :3].T, float(env.action_scale), goal_offset_world=aim
        )

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        for env in self._envs.values():
            env.close()
        self._envs.clear()
        self._task = None

    # ------------------------------------------------------------------ extras for tests and tools

    def render_geom_ids(self) -> np.ndarray:
        """(H, W) int32 geom id per pixel from the true camera (-1: background / non-geom)."""
        if self._task is None:
            raise RuntimeError("render_geom_ids() before reset()")
        env = self._env(self._task)
        return self._depth_camera().render_geom_ids(
            env.data, self._true_camera, self._T_world_base[self._task]
        )

    @property
    def camera(self) -> CameraModel:
        """The camera the current frames were rendered with (after this episode's randomisation)."""
        return self._true_camera

    @property
    def T_world_base(self) -> np.ndarray:
        if self._task is None:
            raise RuntimeError("no task loaded: call reset() first")
        return self._T_world_base[self._task].copy()

    @property
    def physics(self) -> tuple[Any, Any]:
        """(mujoco.MjModel, mujoco.MjData) of the current task, for tests and diagnostics."""
        if self._task is None:
            raise RuntimeError("no task loaded: call reset() first")
        env = self._env(self._task)
        return env.model, env.data

    # ------------------------------------------------------------------ internals

    def _env(self, task: str) -> Any:
        env = self._envs.get(task)
        if env is None:
            env = _make_env(task, self.config.benchmark_seed, self.max_episode_steps)
            self._envs[task] = env
            self._T_world_base[task] = body_pose(env.data, BASE_BODY)
        return env

    def _depth_camera(self) -> MujocoDepthCamera:
        model = self._env(self._task).model
        if self._renderer is not None and self._renderer.model is not model:
            self._renderer.close()
            self._renderer = None
        if self._renderer is None:
            camera = self.config.camera
            self._renderer = MujocoDepthCamera(model, camera.width, camera.height, camera.show_sites)
        return self._renderer

    def _observation(self, raw_obs: np.ndarray) -> dict[str, Any]:
        T_world_base = self._T_world_base[self._task]
        hand_base = T_world_base[:3, :3].T @ (np.asarray(raw_obs[:3], dtype=np.float64) - T_world_base[:3, 3])
        observation: dict[str, Any] = {
            keys.STATE: np.array([*hand_base, raw_obs[3]], dtype=np.float32),
            keys.PRIVILEGED: np.asarray(raw_obs, dtype=np.float32),
            keys.TASK_INDEX: self.config.tasks.index(self._task),
            keys.TASK_NAME: self._task,
        }
        # MetaWorld's 39-D observation: the first object's position at [4:7], the goal at [36:39].
        for key, world in ((keys.OBJECT_POSITION, raw_obs[4:7]), (keys.GOAL_POSITION, raw_obs[36:39])):
            offset = np.asarray(world, dtype=np.float64) - T_world_base[:3, 3]
            observation[key] = T_world_base[:3, :3].T @ offset
        if self.config.render_depth:
            observation[keys.DEPTH] = self.render_depth().depth_m
        return observation


# Tasks whose scripted policy drives the HAND to the goal while the environment measures success
# at the FINGERTIPS (tcp_center, 4.5 cm below the hand): reach-v3 succeeds when the fingertips
# are within 5 cm of the goal, so MetaWorld's own expert converges to 4.5 cm, on the edge of
# success, and a student that copies it to within a centimetre fails about half the time
# (docs/results/student.md). For these the expert is given the goal raised by the hand-to-
# fingertip offset, so it puts the fingertips on the goal, in the middle of the success region.
AIM_FINGERTIPS_AT_GOAL = frozenset({"reach-v3"})
# hand - tcp_center in the world frame: MetaWorld keeps the gripper pointing down in every task,
# so the offset is constant (tests/test_metaworld_backend.py measures it on the live model).
HAND_ABOVE_FINGERTIPS_WORLD = np.array([0.0, 0.0, 0.045])
GOAL_SLICE = slice(36, 39)  # the goal's place in MetaWorld's 39-D observation


def expert_policy_class(task: str) -> type:
    """MetaWorld's scripted policy for `task`, or our steadier version of it where MetaWorld's
    dithers (peg-insert-side-v3: sim_bridge/metaworld/steady_peg.py)."""
    from metaworld.policies import ENV_POLICY_MAP

    if task == "peg-insert-side-v3":
        from sim_bridge.metaworld.steady_peg import SteadyPegInsertionSidePolicy

        return SteadyPegInsertionSidePolicy
    return ENV_POLICY_MAP[task]


class MetaWorldExpert:
    """MetaWorld's scripted policy for one task, speaking the action convention.

    The policy reads the 39-D MetaWorld observation (world frame) and returns a mocap delta in
    [-1, 1] units of `action_scale`; we clip it as MetaWorld would and express it in metres in the
    base frame, so the rollout code can store and mix it with student actions directly.
    `goal_offset_world` (AIM_FINGERTIPS_AT_GOAL tasks) moves the goal the policy is shown.
    """

    def __init__(
        self,
        task: str,
        R_base_world: np.ndarray,
        action_scale: float,
        goal_offset_world: np.ndarray | None = None,
    ) -> None:
        from metaworld.policies import ENV_POLICY_MAP

        # MetaWorld's policies warn when their gains exceed the [-1, 1] action range; we clip
        # exactly as the environment does, so the warning carries no information here.
        warnings.filterwarnings("ignore", message=r"Constant\(s\) may be too high", category=UserWarning)
        if task not in ENV_POLICY_MAP:
            raise UnknownTaskError(task, sorted(ENV_POLICY_MAP))
        self.task = task
        self._policy = expert_policy_class(task)()
        self._R_base_world = np.asarray(R_base_world, dtype=np.float64)
        self._action_scale = float(action_scale)
        self._goal_offset = None if goal_offset_world is None else np.asarray(goal_offset_world, float)

    def act(self, privileged: np.ndarray) -> np.ndarray:
        observation = np.array(privileged, dtype=np.float64)
        if self._goal_offset is not None:
            observation[GOAL_SLICE] += self._goal_offset
        metaworld_action = self._policy.get_action(observation)
        return metaworld_to_convention(metaworld_action, self._R_base_world, self._action_scale)


# ---------------------------------------------------------------------- conversions


def convention_to_metaworld(action: np.ndarray, R_world_base: np.ndarray, action_scale: float) -> np.ndarray:
    """Base-frame metres per step + gripper -> MetaWorld action (world-frame mocap units, clipped)."""
    action = np.asarray(action, dtype=np.float64)
    delta_world = np.asarray(R_world_base, dtype=np.float64) @ action[:3] / action_scale
    return np.concatenate([np.clip(delta_world, -1.0, 1.0), np.clip(action[3:4], -1.0, 1.0)]).astype(
        np.float32
    )


def metaworld_to_convention(action: np.ndarray, R_base_world: np.ndarray, action_scale: float) -> np.ndarray:
    """MetaWorld action -> base-frame metres per step + gripper (clipped as MetaWorld clips it)."""
    action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    delta_base = np.asarray(R_base_world, dtype=np.float64) @ (action[:3] * action_scale)
    return np.concatenate([delta_base, action[3:4]]).astype(np.float32)


def body_pose(data: Any, body: str) -> np.ndarray:
    """4x4 world pose of a MuJoCo body (T_world_body)."""
    transform = np.eye(4)
    transform[:3, :3] = np.asarray(data.body(body).xmat, dtype=np.float64).reshape(3, 3)
    transform[:3, 3] = data.body(body).xpos
    return transform


def _checked_action(action: np.ndarray) -> np.ndarray:
    array = np.asarray(action, dtype=np.float64)
    if array.shape != (ACTION_DIM,):
        raise ValueError(f"action must have shape ({ACTION_DIM},) (dx, dy, dz, gripper), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"action must be finite, got {array.tolist()}")
    return array


def _convention_of(env: Any) -> ActionConvention:
    return ActionConvention(
        control_period_s=float(env.frame_skip * env.model.opt.timestep),
        max_step_m=float(env.action_scale),
    )


def _make_env(task: str, benchmark_seed: int, max_episode_steps: int) -> Any:
    import metaworld

    benchmark = metaworld.MT1(task, seed=benchmark_seed)
    env = benchmark.train_classes[task]()
    env.set_task(benchmark.train_tasks[0])  # static task settings (goal observable, task kwargs)
    # Draw placements from env.np_random (seeded in reset) instead of the fixed benchmark vector.
    env._freeze_rand_vec = False
    env.seeded_rand_vec = True
    env.max_path_length = max_episode_steps  # MetaWorld refuses to step past this
    return env
