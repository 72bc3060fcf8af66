"""Franka FR3 drawer cell (MuJoCo) behind the SimBackend interface, in the real robot's terms.

What makes this the real configuration and not a look-alike:
* frames: the base body is `fr3_link0` at the world origin and every quantity handed out (state,
  actions, the camera pose) is in it, as on the real robot (configs/robots/franka_fr3.yaml);
* control: the period is the robot config's (0.05 s) and an action goes through the arm
  controller's own core, `mtdagger.control.arm_command.ArmControlCore` in `joint_trajectory`
  mode: the safety filter (workspace box, speed and acceleration limits), then ikpy IK of
  `fr3_urdf()` seeded with the measured joints, holding the episode's start orientation (the
  gripper pointing down), then the joint limits on the executed trajectory. The trajectory
  points are executed by `mtdagger.control.trajectory_execution` (the robot config's JTC law at
  1 kHz; the rehearsal cell uses the same model), whose desired positions and velocities drive
  MuJoCo's servos. The convention's largest step is max_speed x period of the robot config;
* camera: intrinsics from the camera YAML, pose from the cell's calibration YAML (the file
  real.launch.py publishes); RealSense noise and pose randomisation as in the MetaWorld backend.

The scene (arm + one cabinet of the drawer suite) is compiled per object id and cached; the
cabinet's placement and drawer opening come from (task, seed). One OpenGL renderer lives at a
time and is rebuilt when the object changes (MetaWorld#448: several contexts corrupt renders).

For a ROS bridge: `joint_state()`, `execution` (the trajectory controller: `receive` points, then
`play()`), `camera`/`nominal_camera` and `urdf` (the robot description).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtdagger import keys
from mtdagger.control.action import ACTION_DIM, ActionConvention
from mtdagger.control.trajectory_execution import TrajectoryExecution
from mtdagger.perception.camera_model import CameraModel
from mtdagger.perception.frames import DepthFrame
from mtdagger.perception.mujoco_camera import MujocoDepthCamera
from sim_bridge.backend import StepResult, UnknownTaskError
from sim_bridge.camera.depth_noise import apply_depth_noise, randomize_camera
from sim_bridge.fr3.config import OBJECT_ID, OBJECT_SPLIT, FR3BackendConfig
from sim_bridge.fr3.drawer_suite import (
    HANDLE_TYPES,
    CabinetSpec,
    Placement,
    cabinet_mjcf,
    cabinet_spec,
    load_drawer_split,
    placement_for,
    task_success,
)
from sim_bridge.fr3.experts import PRIVILEGED_DIM, DrawerExpert
from sim_bridge.fr3.gripper import HAND_FORCE_N, FrankaHand
from sim_bridge.fr3.model import (
    ARM_JOINTS,
    BASE_LINK,
    FINGER_JOINTS,
    FINGER_MAX_M,
    HOME_Q,
    TCP_LINK,
    fr3_urdf,
    scene_mjcf,
)

# The arm controller's gripper setting of policy_node/config/franka_fr3.yaml (goals only when the
# command changes by half its range); the trajectory time is the robot config's (see FR3BackendConfig).
GRIPPER_CHANGE_THRESHOLD = 1.0
PHYSICS_TIMESTEP_S = 0.002


class FR3Backend:
    """SimBackend for the FR3 drawer cell; see the module doc."""

    # Every step goes through the arm controller's core (safety filter, IK, limits): the runtime
    # loop must not filter again, and records this pass's verdict (info safety_*).
    runs_safety_filter = True

    def __init__(self, config: FR3BackendConfig) -> None:
        from mtdagger.control.arm_command import ArmControlSettings
        from mtdagger.control.kinematics import ArmKinematics
        from mtdagger.control.robot_config import load_robot_config

        self.config = config
        self.max_episode_steps = int(config.max_episode_steps)
        self.robot = load_robot_config(config.robot_config)
        if self.robot.base_frame != BASE_LINK or self.robot.ee_frame != TCP_LINK:
            raise ValueError(f"robot config {config.robot_config!r} is not an FR3 ({self.robot.base_frame})")
        self.urdf = fr3_urdf()
        self.kinematics = ArmKinematics(self.urdf, BASE_LINK, TCP_LINK)
        limits = self.robot.safety
        trajectory_time = config.trajectory_time_s
        if trajectory_time is None:
            trajectory_time = self.robot.controllers.trajectory_time_from_start_s
        self._settings = ArmControlSettings("joint_trajectory", GRIPPER_CHANGE_THRESHOLD, trajectory_time)
        self.execution_law = self.robot.execution_law(trajectory_time or None)
        self.action_convention = ActionConvention(
            control_period_s=limits.control_period_s,
            max_step_m=limits.max_speed_m_s * limits.control_period_s,
            trajectory_time_s=float(trajectory_time),
        )
        self._split = load_drawer_split(config.suite)
        self._pool = self._split.ids(config.objects)
        self._models: dict[int, Any] = {}
        self._model: Any = None
        self._data: Any = None
        self._spec: CabinetSpec | None = None
        self._placement: Placement | None = None
        self._task: str | None = None
        self._core: Any = None
        self._steps = 0
        self._done = False
        self._nominal_camera = config.camera.camera_model()
        self._true_camera = self._nominal_camera
        self._reported_camera = self._nominal_camera
        self._rng = np.random.default_rng(config.camera.seed)
        self._renderer: MujocoDepthCamera | None = None
        self._frame: DepthFrame | None = None
        gripper = self.robot.gripper
        self._hand = FrankaHand(gripper.max_effort_n if gripper else HAND_FORCE_N, FINGER_MAX_M)
        self.execution: TrajectoryExecution | None = None

    # ------------------------------------------------------------------ SimBackend

    def task_names(self) -> list[str]:
        return list(self.config.tasks)

    def reset(self, task: str, seed: int, object_id: int | None = None) -> dict[str, Any]:
        """A new episode; the object is drawn from the configured split by `seed` unless given."""
        import mujoco

        from mtdagger.control.arm_command import ArmControlCore

        if task not in self.config.tasks:
            raise UnknownTaskError(task, list(self.config.tasks))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        rng = np.random.default_rng([88, int(seed)])
        if object_id is None:
            object_id = int(self._pool[int(rng.integers(len(self._pool)))])
        self._spec = cabinet_spec(object_id)
        placement = self._placement = placement_for(self._spec, task, rng)
        self._load_model(object_id, placement)
        model, data = self._model, self._data
        mujoco.mj_resetData(model, data)
        model.body("cabinet").pos[:] = (placement.front_x, placement.center_y, 0.0)
        data.joint("drawer").qpos[0] = placement.initial_opening
        q0 = self._start_joints(rng)
        for name, value in zip(ARM_JOINTS, q0):
            data.joint(name).qpos[0] = value
            data.actuator(name).ctrl[0] = value
        self._hand.reset(FINGER_MAX_M)
        for name in FINGER_JOINTS:
            data.joint(name).qpos[0] = FINGER_MAX_M
            data.actuator(name).ctrl[0] = FINGER_MAX_M
        mujoco.mj_forward(model, data)
        self.execution = TrajectoryExecution(self.execution_law, q0)
        self._task = task
        self._steps = 0
        self._done = False
        self._frame = None
        self._core = ArmControlCore(self.robot, self._settings)
        self._core.set_kinematics(self.kinematics)
        self._measure()
        if not self._core.start_episode():
            raise RuntimeError("the arm controller core could not start the episode")
        self._rng = np.random.default_rng([int(self.config.camera.seed), int(seed)])
        randomization = self.config.camera.randomization
        self._true_camera = randomize_camera(self._nominal_camera, randomization, self._rng)
        self._reported_camera = (
            self._nominal_camera if randomization.report_nominal_camera else self._true_camera
        )
        self._noise = self.config.camera.noise.for_episode(self._rng)
        return self._observation()

    def step(self, action: np.ndarray) -> StepResult:
        if self._task is None:
            raise RuntimeError("step() before reset(): call reset(task, seed) first")
        if self._done:
            raise RuntimeError("the episode is over (done was returned); call reset(task, seed)")
        action = _checked_action(action)
        now = float(self._data.time)
        self._measure()
        command = self._core.on_action(action, observation_stamp_s=now, now_s=now)
        joints = None if command is None else command.joint_positions
        if command is not None and command.gripper_position_m is not None:
            self.set_gripper(command.gripper_position_m)
        if joints is not None:
            self.execution.receive(self._core.trajectory_points(joints))
        self.play(self.action_convention.control_period_s)
        self._steps += 1
        self._frame = None
        self._done = self._steps >= self.max_episode_steps
        opening = self.drawer_opening
        info = {
            OBJECT_ID: self._spec.object_id,
            OBJECT_SPLIT: self._split.label(self._spec.object_id),
            "handle_type": self._spec.handle_type,
            "drawer_opening_m": opening,
            "safety_status": None if command is None else command.applied.status,
            "safety_reasons": () if command is None else tuple(command.applied.reasons),
            "safety_applied": None if command is None else command.applied.action.copy(),
        }
        return StepResult(
            self._observation(), task_success(self._task, self._spec, opening), self._done, info
        )

    def render_depth(self) -> DepthFrame:
        if self._task is None:
            raise RuntimeError("render_depth() before reset()")
        if self._frame is None:
            depth = self._depth_camera().render_depth(self._data, self._true_camera, np.eye(4))
            depth = apply_depth_noise(depth, self._noise, self._rng)
            self._frame = DepthFrame(depth, self._reported_camera, float(self._data.time))
        return self._frame

    def make_expert(self, task: str) -> DrawerExpert:
        if task not in self.config.tasks:
            raise UnknownTaskError(task, list(self.config.tasks))
        return DrawerExpert(task, self.action_convention.max_step_m)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self._models.clear()
        self._model = self._data = None
        self._task = None

    # ------------------------------------------------------------------ for bridges, tests, tools

    def play(self, duration_s: float) -> None:
        """Advance the simulation `duration_s`: the trajectory controller's desired positions and
        velocities (1 kHz) are the servo setpoints of each physics step."""
        import mujoco

        model, data = self._model, self._data
        samples = self.execution.advance(duration_s)
        per_step = max(1, round(model.opt.timestep / self.execution_law.update_period_s))
        for i in range(0, len(samples.times_s), per_step):
            for j, name in enumerate(ARM_JOINTS):
                data.actuator(name).ctrl[0] = samples.positions[i, j]
                data.actuator(f"{name}_velocity").ctrl[0] = samples.velocities[i, j]
            finger = self._hand.advance(model.opt.timestep, self._finger_opening())
            for name in FINGER_JOINTS:
                data.actuator(name).ctrl[0] = finger
                model.actuator(name).forcerange[:] = (-self._hand.force_n, self._hand.force_n)
            mujoco.mj_step(model, data)
        self._frame = None  # the scene moved: the next render_depth() must render it again

    def set_gripper(self, position_m: float) -> None:
        """A GripperCommand goal (per-finger position, m, 0 .. 0.04), executed as franka_gripper
        does: a move when opening, a grasp with the robot's max_effort when closing, at the
        default speed, never preempting a running motion (sim_bridge.fr3.gripper)."""
        self._hand.command(position_m, self._finger_opening())

    def _finger_opening(self) -> float:
        return float(self._data.joint(FINGER_JOINTS[0]).qpos[0])

    def is_success(self) -> bool:
        """The current task's success flag for the drawer as it is now."""
        if self._task is None:
            raise RuntimeError("no episode: call reset() first")
        return task_success(self._task, self._spec, self.drawer_opening)

    def observation(self) -> dict[str, Any]:
        """The observation of the current state (after command_joints, for a ROS bridge)."""
        self._frame = None
        return self._observation()

    def joint_state(self) -> tuple[tuple[str, ...], np.ndarray]:
        """(names, positions) of the arm and finger joints, as /joint_states would carry them."""
        names = (*ARM_JOINTS, *FINGER_JOINTS)
        return names, np.array([self._data.joint(name).qpos[0] for name in names])

    def tcp_pose(self) -> np.ndarray:
        """4x4 pose of fr3_hand_tcp in fr3_link0 (forward kinematics of the measured joints)."""
        _names, positions = self.joint_state()
        return self.kinematics.forward(positions[: len(ARM_JOINTS)])

    @property
    def drawer_opening(self) -> float:
        return float(self._data.joint("drawer").qpos[0])

    @property
    def cabinet(self) -> CabinetSpec:
        if self._spec is None:
            raise RuntimeError("no cabinet loaded: call reset() first")
        return self._spec

    @property
    def placement(self) -> Placement:
        """Where this episode put the cabinet (fr3_link0) and how open the drawer started."""
        if self._placement is None:
            raise RuntimeError("no cabinet placed: call reset() first")
        return self._placement

    @property
    def camera(self) -> CameraModel:
        return self._true_camera

    @property
    def nominal_camera(self) -> CameraModel:
        return self._nominal_camera

    @property
    def T_world_base(self) -> np.ndarray:
        return np.eye(4)  # fr3_link0 is the world origin of this scene

    @property
    def physics(self) -> tuple[Any, Any]:
        if self._model is None:
            raise RuntimeError("no scene loaded: call reset() first")
        return self._model, self._data

    def render_geom_ids(self) -> np.ndarray:
        return self._depth_camera().render_geom_ids(self._data, self._true_camera, np.eye(4))

    # ------------------------------------------------------------------ internals

    def _load_model(self, object_id: int, placement) -> None:
        import mujoco

        model = self._models.get(object_id)
        if model is None:
            xml = scene_mjcf(cabinet_mjcf(cabinet_spec(object_id), placement), PHYSICS_TIMESTEP_S)
            model = mujoco.MjModel.from_xml_string(xml)
            self._models[object_id] = model
        if model is not self._model:
            self._model, self._data = model, mujoco.MjData(model)

    def _start_joints(self, rng: np.random.Generator) -> np.ndarray:
        """Franka's ready pose with the TCP moved a few cm (same gripper-down orientation)."""
        home = np.asarray(HOME_Q)
        T_home = self.kinematics.forward(home)
        target = T_home[:3, 3] + rng.uniform((-0.04, -0.08, -0.05), (0.04, 0.08, 0.03))
        return self.kinematics.solve(target, home, T_home[:3, :3]).joint_positions

    def _measure(self) -> None:
        """What the arm controller node hears: /joint_states and the EE pose (TF of the TCP)."""
        from scipy.spatial.transform import Rotation

        names, positions = self.joint_state()
        now = float(self._data.time)
        T = self.kinematics.forward(positions[: len(ARM_JOINTS)])
        self._core.on_ee_pose(T[:3, 3], now, Rotation.from_matrix(T[:3, :3]).as_quat())
        self._core.on_joint_state(names, positions)

    def _depth_camera(self) -> MujocoDepthCamera:
        if self._renderer is not None and self._renderer.model is not self._model:
            self._renderer.close()
            self._renderer = None
        if self._renderer is None:
            camera = self.config.camera
            self._renderer = MujocoDepthCamera(self._model, camera.width, camera.height, camera.show_sites)
        return self._renderer

    def _privileged(self) -> np.ndarray:
        data, spec = self._data, self._spec
        opening = self.drawer_opening
        one_hot = np.zeros(len(HANDLE_TYPES))
        one_hot[HANDLE_TYPES.index(spec.handle_type)] = 1.0
        out_dir = np.asarray(data.body("cabinet").xmat).reshape(3, 3) @ np.array([-1.0, 0.0, 0.0])
        values = np.concatenate(
            [
                data.site(TCP_LINK).xpos,
                [self._gripper_opening()],
                data.site("hook").xpos,
                [opening, spec.travel],
                one_hot,
                out_dir,
                [spec.gripper_command],
            ]
        )
        assert values.shape == (PRIVILEGED_DIM,)
        return values.astype(np.float32)

    def _gripper_opening(self) -> float:
        """observation.state[3]: one finger's opening x 25 (policy node's gripper_opening_scale)."""
        return float(self._data.joint(FINGER_JOINTS[0]).qpos[0]) / FINGER_MAX_M

    def _observation(self) -> dict[str, Any]:
        tcp = self.tcp_pose()[:3, 3]
        observation: dict[str, Any] = {
            keys.STATE: np.array([*tcp, self._gripper_opening()], dtype=np.float32),
            keys.PRIVILEGED: self._privileged(),
            keys.TASK_INDEX: self.config.tasks.index(self._task),
            keys.TASK_NAME: self._task,
            OBJECT_ID: self._spec.object_id,
            OBJECT_SPLIT: self._split.label(self._spec.object_id),
        }
        if self.config.render_depth:
            observation[keys.DEPTH] = self.render_depth().depth_m
        return observation


def _checked_action(action: np.ndarray) -> np.ndarray:
    array = np.asarray(action, dtype=np.float64)
    if array.shape != (ACTION_DIM,):
        raise ValueError(f"action must have shape ({ACTION_DIM},) (dx, dy, dz, gripper), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"action must be finite, got {array.tolist()}")
    return array
