"""From a training config's `sim` section to a picklable backend config for rollout workers.

The backend itself is chosen by `sim_bridge.registry`; this module only translates the config."""

from __future__ import annotations

from dataclasses import dataclass

from mtdagger import keys
from mtdagger.control.action import ActionConvention
from mtdagger.training.config import SimConfig


@dataclass(frozen=True)
class BackendDescription:
    """What the trainer must know about a backend without keeping one open."""

    action_convention: ActionConvention
    privileged_dim: int


def resolve_run_tasks(sim: SimConfig) -> list[str]:
    from sim_bridge.registry import resolve_tasks

    return resolve_tasks(sim.backend, sim.tasks)


def backend_config_for(sim: SimConfig, tasks: list[str], *, render_depth: bool, objects: str = "seen"):
    """`objects` (FR3 drawer suite only): the split episodes draw their cabinets from."""
    from sim_bridge.registry import DEFAULT_CAMERAS, run_backend_config

    # A SimConfig that names no camera carries MetaWorld's: another backend uses its own.
    camera = sim.camera
    if sim.camera == SimConfig.camera:
        camera = DEFAULT_CAMERAS.get(sim.backend, sim.camera)
    return run_backend_config(
        sim.backend,
        tasks,
        camera=_camera(sim, camera),
        render_depth=render_depth,
        max_episode_steps=sim.max_episode_steps,
        objects=objects,
    )


def _camera(sim: SimConfig, path: str):
    """The camera YAML with the run's depth noise and camera randomisation (sim.depth_noise,
    sim.randomize_camera) applied."""
    from sim_bridge.camera.depth_noise import CameraRandomizationConfig, DepthNoiseConfig
    from sim_bridge.camera.sim_camera import SimCameraConfig

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


def expert_driven_frames(backend, task: str, seeds, every: int, max_steps: int):
    """Yield (observation, depth frame) every `every` steps of expert episodes of `task`, one per
    seed in `seeds`: how a measurement sees the scene the way a trial moves through it."""
    for seed in seeds:
        observation = backend.reset(task, seed)
        expert = backend.make_expert(task)
        for step in range(max_steps):
            if step % every == 0:
                yield observation, backend.render_depth()
            result = backend.step(expert.act(observation[keys.PRIVILEGED]))
            observation = result.observation
            if result.done:
                break
