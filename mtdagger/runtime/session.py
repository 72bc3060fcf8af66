"""Build a complete in-process deployment against a simulator, validating everything first.

Used by `mtdagger deploy`, the control benchmark and the end-to-end test, so the three run the
same wiring. Refusals (contract, action convention, tasks, robot limits) are `DeploymentError`s
with the loader's message: nothing is started on a mismatch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from mtdagger.control.safety import SafetyFilter
from mtdagger.perception.contract import PointCloudContract
from mtdagger.runtime.loop import DeploymentLoop
from mtdagger.runtime.stages import PointCloudStage, PolicyStage, SimCameraSource, SimClock

# Simulator -> (camera config, robot config) used when the caller names none.
SIM_DEFAULTS = {
    "metaworld": ("configs/cameras/metaworld_d435.yaml", "configs/robots/metaworld_sawyer.yaml"),
    "fr3": ("configs/cameras/fr3_d435.yaml", "configs/robots/franka_fr3.yaml"),
}


class DeploymentError(RuntimeError):
    """The deployment was refused before it started (the message says which check failed)."""


@dataclass
class SimDeployment:
    loop: DeploymentLoop
    tasks: list[str]
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


def sim_camera_config(path: str, *, noise: str = "none", randomize: bool = False, seed: int = 0):
    from sim_bridge.depth_noise import CameraRandomizationConfig, DepthNoiseConfig
    from sim_bridge.sim_camera import SimCameraConfig

    camera = SimCameraConfig.from_yaml(path)
    if noise == "realsense":
        camera = dataclasses.replace(camera, noise=DepthNoiseConfig.realsense())
    elif noise != "none":
        raise ValueError(f"unknown noise model {noise!r}; valid: none, realsense")
    if randomize:
        camera = dataclasses.replace(camera, randomization=CameraRandomizationConfig.default())
    return dataclasses.replace(camera, seed=seed)


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
    from mtdagger.policy.checkpoint import CheckpointError, read_checkpoint_meta
    from mtdagger.policy.student import StudentPolicy
    from mtdagger.provenance import git_commit
    from mtdagger.training.config import SimConfig
    from mtdagger.training.sim_setup import backend_config_for, resolve_run_tasks

    if sim not in SIM_DEFAULTS:
        raise DeploymentError(f"simulator {sim!r} is not available here; valid: {', '.join(SIM_DEFAULTS)}")
    # None: the simulator's own robot and camera (the FR3 cell's camera pose always comes from
    # its calibration file; the camera YAML gives intrinsics, noise and randomisation).
    camera_config = camera_config or SIM_DEFAULTS[sim][0]
    robot_config = robot_config or SIM_DEFAULTS[sim][1]
    # The robot file first: a bad safety number is refused before a checkpoint or simulator loads.
    robot = load_robot_config(robot_config)
    try:
        meta = read_checkpoint_meta(checkpoint)
    except CheckpointError as error:
        raise DeploymentError(str(error)) from error
    if meta.point_cloud_contract is None:
        raise DeploymentError(
            f"checkpoint {checkpoint} is a {meta.architecture!r} student without a point-cloud contract; "
            "deployment needs a point-cloud student"
        )
    run_tasks = list(meta.tasks)
    requested = resolve_run_tasks(SimConfig(backend=sim, tasks=tasks)) if tasks else run_tasks
    unknown = [t for t in requested if t not in run_tasks]
    if unknown:
        raise DeploymentError(f"checkpoint was not trained on {unknown}; its tasks: {', '.join(run_tasks)}")

    max_steps = int(meta.provenance.get("max_episode_steps", 200))
    backend_config = dataclasses.replace(
        backend_config_for(SimConfig(backend=sim, max_episode_steps=max_steps), run_tasks, render_depth=True),
        camera=sim_camera_config(camera_config, noise=noise, randomize=randomize, seed=seed),
    )
    # One backend, built first: its action convention is what the checkpoint must match. Any refusal
    # below closes it again, so nothing is left running.
    backend = backend_config.build()
    try:
        convention = backend.action_convention
        contract = expected_contract or PointCloudContract.from_dict(meta.point_cloud_contract)
        try:
            policy = StudentPolicy.from_checkpoint(
                checkpoint, expect_contract=contract, expect_action=convention
            )
        except CheckpointError as error:
            raise DeploymentError(str(error)) from error

        if abs(robot.safety.control_period_s - convention.control_period_s) > 1e-9:
            raise DeploymentError(
                f"robot config {robot_config} control_period_s={robot.safety.control_period_s} "
                f"but the simulator steps every {convention.control_period_s} s"
            )
        recorder = None
        if record:
            from mtdagger.recording.bag_writer import BagMetadata, EvaluationBagWriter

            recorder = EvaluationBagWriter(
                Path(record),
                metadata=BagMetadata(
                    checkpoint_id=policy.checkpoint_id,
                    calibration_id=_sim_calibration_id(backend_config, camera_config),
                    git_commit=git_commit(),
                    robot=robot.name,
                    control_period_s=convention.control_period_s,
                    config={
                        "sim": sim,
                        "tasks": requested,
                        "noise": noise,
                        "randomize": randomize,
                        "camera_config": camera_config,
                        "robot_config": robot_config,
                        "safety_limits": robot.safety.to_dict(),  # the report draws the box
                        "point_cloud_contract": contract.to_dict(),
                        # Set only to rehearse a miscalibrated cell: /tf_static is off by this much.
                        "calibration_error": calibration_error,
                    },
                ),
            )
    except BaseException:
        backend.close()
        raise
    if recorder is not None:
        # The nominal mounting, as a calibration file would state it; a randomised camera deviates
        # from it the way a real camera deviates from its calibration.
        nominal = backend_config.camera.camera_model().T_base_camera
        if calibration_error is not None:
            from mtdagger.perception.gap import perturbed_pose

            nominal = perturbed_pose(nominal, calibration_error)
        recorder.write_static(nominal, base_frame=robot.base_frame)
    clock = SimClock()
    loop = DeploymentLoop(
        backend,
        SimCameraSource(backend, clock),
        PointCloudStage(contract),
        PolicyStage(policy, requested[0]),
        SafetyFilter(robot.safety),
        clock=clock,
        recorder=recorder,
        realtime=realtime,
    )
    return SimDeployment(loop, requested, max_steps, policy.checkpoint_id, backend, recorder)


def _sim_calibration_id(backend_config, camera_config: str) -> str:
    """The FR3 cell's camera comes from a calibration file: record its id, as a real trial would."""
    calibration = getattr(backend_config, "calibration", None)
    if calibration:
        from calibration.extrinsics import load_extrinsics
        from sim_bridge.sim_camera import resolve_config_path

        return f"sim:{load_extrinsics(resolve_config_path(calibration)).calibration_id}"
    return f"sim:{Path(camera_config).stem}"
