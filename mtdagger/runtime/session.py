"""Build a complete in-process deployment against a simulator, validating everything first.

Used by `mtdagger deploy`, the control benchmark and the end-to-end test, so the three run the
same wiring. Refusals (contract, action convention, tasks, robot limits) are `DeploymentError`s
with the loader's message: nothing is started on a mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mtdagger.control.safety import SafetyFilter
from mtdagger.deployment.plan import SIMULATORS, sim_calibration_id
from mtdagger.perception.contract import PointCloudContract
from mtdagger.runtime.loop import DeploymentLoop
from mtdagger.runtime.stages import PointCloudStage, PolicyStage, SimCameraSource, SimClock

# Simulator -> (camera config, robot config) used when the caller names none: the deployment
# plan's, which sim.launch.py's defaults come from too.
SIM_DEFAULTS = {name: (sim.camera_config, sim.robot_config) for name, sim in SIMULATORS.items()}


class DeploymentError(RuntimeError):
    """The deployment was refused before it started (the message says which check failed)."""


@dataclass
class SimDeployment:
    loop: DeploymentLoop
    tasks: list[str]  # to run
    run_tasks: list[str]  # the checkpoint's, in its order (which numbers the episodes' seeds)
    max_steps: int
    checkpoint_id: str
    backend: object
    recorder: object | None

    def __enter__(self) -> SimDeployment:
        return self

    def __exit__(self, *exc) -> None:
        if self.recorder is not None:
            self.recorder.close()
        self.backend.close()


def build_sim_deployment(
    *,
    checkpoint: str,
    sim: str = "metaworld",
    tasks: str | None = None,
    expected_contract: PointCloudContract | None = None,
    camera_config: str | None = None,
    noise: str = "none",
    randomize: bool = False,
    robot_config: str | None = None,
    record: str | None = None,
    realtime: bool = False,
    seed: int = 0,
    calibration_error: tuple[float, ...] | None = None,
) -> SimDeployment:
    from mtdagger.control.robot_config import load_robot_config
    from sim_bridge.camera.sim_camera import sim_camera_config
    from sim_bridge.registry import run_backend_config

    if sim not in SIM_DEFAULTS:
        raise DeploymentError(f"simulator {sim!r} is not available here; valid: {', '.join(SIM_DEFAULTS)}")
    # None: the simulator's own robot and camera (the FR3 cell's camera pose always comes from
    # its calibration file; the camera YAML gives intrinsics, noise and randomisation).
    camera_config = camera_config or SIM_DEFAULTS[sim][0]
    robot_config = robot_config or SIM_DEFAULTS[sim][1]
    # The robot file first: a bad safety number is refused before a checkpoint or simulator loads.
    robot = load_robot_config(robot_config)
    meta, requested = _deployable_meta(checkpoint, sim, tasks)
    max_steps = int(meta.provenance.get("max_episode_steps", 200))
    backend_config = run_backend_config(
        sim,
        list(meta.tasks),
        camera=sim_camera_config(camera_config, noise=noise, randomize=randomize, seed=seed),
        render_depth=True,
        max_episode_steps=max_steps,
    )
    # One backend, built first: its action convention is what the checkpoint must match. Any refusal
    # below closes it again, so nothing is left running.
    backend = backend_config.build()
    try:
        convention = backend.action_convention
        contract = expected_contract or PointCloudContract.from_dict(meta.point_cloud_contract)
        policy = _matching_policy(checkpoint, contract, convention, robot, robot_config)
        recorder = None
        if record:
            config = dict(sim=sim, tasks=requested, noise=noise, randomize=randomize)
            config.update(camera_config=camera_config, robot_config=robot_config)
            recorder = _open_recorder(
                Path(record), policy, backend_config, robot, convention, contract, calibration_error, config
            )
    except BaseException:
        backend.close()
        raise
    clock = SimClock()
    stages = (PointCloudStage(contract), PolicyStage(policy, requested[0]), SafetyFilter(robot.safety))
    loop = DeploymentLoop(
        backend, SimCameraSource(backend, clock), *stages, clock=clock, recorder=recorder, realtime=realtime
    )
    run_tasks = list(meta.tasks)
    return SimDeployment(loop, requested, run_tasks, max_steps, policy.checkpoint_id, backend, recorder)


def _matching_policy(checkpoint: str, contract, convention, robot, robot_config: str):
    """The student, refused unless its contract and action convention are the simulator's and
    the robot config steps at the simulator's period."""
    from mtdagger.policy.checkpoint import CheckpointError
    from mtdagger.policy.student import StudentPolicy

    try:
        policy = StudentPolicy.from_checkpoint(checkpoint, expect_contract=contract, expect_action=convention)
    except CheckpointError as error:
        raise DeploymentError(str(error)) from error
    if abs(robot.safety.control_period_s - convention.control_period_s) > 1e-9:
        raise DeploymentError(
            f"robot config {robot_config} control_period_s={robot.safety.control_period_s} "
            f"but the simulator steps every {convention.control_period_s} s"
        )
    return policy


def _deployable_meta(checkpoint: str, sim: str, tasks: str | None):
    """The checkpoint's sidecar, refused unless it is a point-cloud student trained on the
    requested tasks; returns (meta, requested task list)."""
    from mtdagger.policy.checkpoint import CheckpointError, read_checkpoint_meta
    from sim_bridge.registry import resolve_tasks, simulator_for_checkpoint

    try:
        meta = read_checkpoint_meta(checkpoint)
        simulator_for_checkpoint(meta, sim)  # trained in this simulator, on its tasks
    except (CheckpointError, ValueError) as error:
        raise DeploymentError(str(error)) from error
    if meta.point_cloud_contract is None:
        raise DeploymentError(
            f"checkpoint {checkpoint} is a {meta.architecture!r} student without a point-cloud contract; "
            "deployment needs a point-cloud student"
        )
    run_tasks = list(meta.tasks)
    try:  # `tasks=""` names no task: refused, not read as "every task"
        requested = resolve_tasks(sim, tasks) if tasks is not None else run_tasks
    except ValueError as error:
        raise DeploymentError(f"--tasks: {error}") from error
    unknown = [t for t in requested if t not in run_tasks]
    if unknown:
        raise DeploymentError(f"checkpoint was not trained on {unknown}; its tasks: {', '.join(run_tasks)}")
    return meta, requested


def _open_recorder(
    path: Path, policy, backend_config, robot, convention, contract, calibration_error, config: dict
):
    """The evaluation bag, with /tf_static at the nominal mounting as a calibration file would
    state it (a randomised camera deviates from it the way a real camera deviates from its
    calibration; `calibration_error` rehearses a miscalibrated cell)."""
    from mtdagger.provenance import git_commit
    from mtdagger.recording.bag_writer import BagMetadata, EvaluationBagWriter

    config = {
        **config,
        "safety_limits": robot.safety.to_dict(),  # the report draws the box
        "point_cloud_contract": contract.to_dict(),
        # Set only to rehearse a miscalibrated cell: /tf_static is off by this much.
        "calibration_error": calibration_error,
    }

    recorder = EvaluationBagWriter(
        path,
        metadata=BagMetadata(
            checkpoint_id=policy.checkpoint_id,
            calibration_id=_sim_calibration_id(backend_config, config["camera_config"]),
            git_commit=git_commit(),
            robot=robot.name,
            control_period_s=convention.control_period_s,
            config=config,
        ),
    )
    nominal = backend_config.camera.camera_model().T_base_camera
    if config["calibration_error"] is not None:
        from mtdagger.perception.pose_error import perturbed_pose

        nominal = perturbed_pose(nominal, config["calibration_error"])
    recorder.write_static(nominal, base_frame=robot.base_frame)
    return recorder


def _sim_calibration_id(backend_config, camera_config: str) -> str:
    """The id sim.launch.py's policy node records (the plan's): the FR3 cell's camera comes from a
    calibration file, whose id a real trial would record too."""
    return sim_calibration_id(camera_config, getattr(backend_config, "calibration", None))
