"""From a training config's `sim` section to a picklable backend config for rollout workers."""

from __future__ import annotations

from dataclasses import dataclass

from mtdagger.control.action import ActionConvention
from mtdagger.training.config import SimConfig


@dataclass(frozen=True)
class BackendDescription:
    """What the trainer must know about a backend without keeping one open."""

    action_convention: ActionConvention
    privileged_dim: int


def resolve_run_tasks(sim: SimConfig) -> list[str]:
    if sim.backend == "fr3":
        from sim_bridge.drawer_suite import resolve_fr3_tasks

        return resolve_fr3_tasks(sim.tasks)
    if sim.backend != "metaworld":
        raise ValueError(f"training supports the 'metaworld' and 'fr3' backends here, got {sim.backend!r}")
    from sim_bridge.suites import resolve_tasks

    return resolve_tasks(sim.tasks)


def backend_config_for(sim: SimConfig, tasks: list[str], *, render_depth: bool, objects: str = "seen"):
    """`objects` (FR3 drawer suite only): the split episodes draw their cabinets from."""
    if sim.backend == "fr3":
        from sim_bridge.fr3_backend_config import DEFAULT_CAMERA, FR3BackendConfig

        # A SimConfig that names no camera carries MetaWorld's: the FR3 cell has its own.
        camera = DEFAULT_CAMERA if sim.camera == SimConfig.camera else sim.camera
        return FR3BackendConfig(
            tasks=tuple(tasks),
            objects=objects,
            camera=_camera(sim, camera),
            render_depth=render_depth,
            max_episode_steps=sim.max_episode_steps,
        )
    from sim_bridge.metaworld_backend import MetaWorldBackendConfig

    return MetaWorldBackendConfig(
        tasks=tuple(tasks),
        camera=_camera(sim, sim.camera),
        render_depth=render_depth,
        max_episode_steps=sim.max_episode_steps,
    )


def _camera(sim: SimConfig, path: str):
    """The camera YAML with the run's depth noise and camera randomisation (sim.depth_noise,
    sim.randomize_camera) applied."""
    from sim_bridge.depth_noise import CameraRandomizationConfig, DepthNoiseConfig
    from sim_bridge.sim_camera import SimCameraConfig

    return (
        SimCameraConfig.from_yaml(path)
        .with_noise(DepthNoiseConfig.from_value(sim.depth_noise))
        .with_randomization(CameraRandomizationConfig.from_value(sim.randomize_camera))
    )


def describe_backend(backend_config) -> BackendDescription:
    """Open the backend once in this process to read its action convention and state size."""
    from mtdagger import keys

    backend = backend_config.build()
    try:
        observation = backend.reset(backend.task_names()[0], seed=0)
        return BackendDescription(backend.action_convention, len(observation[keys.PRIVILEGED]))
    finally:
        backend.close()
