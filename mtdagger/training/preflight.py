"""Check a resolved training config end to end before anything runs (no run folder, no simulator).

`config_from_dict` already checked every section's keys, types and ranges. What is left needs
other registries or files: the task names, the student's architecture config (validated against
that architecture's config dataclass), the β schedule's parameters, the scheduler name and the
camera YAML. A failure here is a one-line `ConfigError` naming the field, raised before a run
folder exists, so a corrected command can reuse the same `--out`.
"""

from __future__ import annotations

from typing import Any

from mtdagger.config_validation import ConfigError, build_dataclass, validate_fields
from mtdagger.training.config import TrainConfig, read_yaml_mapping

# Filled in by the training loop from the backend and the contract; a preset must not set them.
_DERIVED_STUDENT_KEYS = {
    "num_tasks": "the task list",
    "num_points": "point_cloud.num_points",
    "privileged_dim": "the simulator's state size",
}


def preflight(config: TrainConfig) -> list[str]:
    """Raise ConfigError for the first problem; returns the resolved task list."""
    tasks = _tasks(config)
    _student(config, len(tasks))
    _scheduler(config)
    _budget(config, len(tasks))
    camera_config(config.sim.camera, "sim.camera")
    return tasks


def _tasks(config: TrainConfig) -> list[str]:
    from mtdagger.training.sim_setup import resolve_run_tasks

    try:
        tasks = resolve_run_tasks(config.sim)
    except (ValueError, KeyError) as error:
        field = "sim.backend" if config.sim.backend != "metaworld" else "sim.tasks"
        raise ConfigError(f"{field}: {error}") from None
    if not tasks:
        raise ConfigError(f"sim.tasks={config.sim.tasks!r} names no task")
    try:
        config.dagger.round_zero_episodes(tasks)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return tasks


def _student(config: TrainConfig, num_tasks: int) -> None:
    from mtdagger.policy.networks import STUDENT_REGISTRY

    architecture = config.student.architecture
    if architecture not in STUDENT_REGISTRY:
        raise ConfigError(
            f"student.architecture={architecture!r} is unknown; valid: {sorted(STUDENT_REGISTRY)}"
        )
    config_cls, _ = STUDENT_REGISTRY[architecture]
    given = dict(config.student.config)
    for key, source in _DERIVED_STUDENT_KEYS.items():
        if key in given:
            raise ConfigError(f"student.config.{key} is set from {source}; remove it from the preset")
    num_points = None if config.point_cloud is None else config.point_cloud.num_points
    # privileged_dim=1 is a placeholder: only the preset's own fields are being checked here.
    derived = config_cls.derived_fields(num_tasks=num_tasks, num_points=num_points, privileged_dim=1)
    build_dataclass(config_cls, {**given, **derived}, "student.config")


def _scheduler(config: TrainConfig) -> None:
    from mtdagger.scheduling.registry import SCHEDULERS

    if config.scheduler.name not in SCHEDULERS:
        raise ConfigError(f"scheduler.name={config.scheduler.name!r} is unknown; valid: {sorted(SCHEDULERS)}")


def _budget(config: TrainConfig, num_tasks: int) -> None:
    """A round budget the rounds can use: DAgger rounds with no expert episodes would retrain on
    the same data and evaluate again (empty rounds), and a per-task floor above the budget would be
    lowered silently (scheduling/allocation.py), so both are refused."""
    dagger, floor = config.dagger, config.scheduler.min_per_task
    if dagger.rounds == 0:
        return
    if dagger.budget_per_round < 1:
        raise ConfigError(
            f"dagger.budget_per_round={dagger.budget_per_round} with dagger.rounds={dagger.rounds}: "
            "every DAgger round would collect no expert episode; set a budget >= 1, or dagger.rounds=0 "
            "for behaviour cloning on the round-0 demonstrations only"
        )
    if floor * num_tasks > dagger.budget_per_round:
        raise ConfigError(
            f"scheduler.min_per_task={floor} x {num_tasks} task(s) = {floor * num_tasks} exceeds "
            f"dagger.budget_per_round={dagger.budget_per_round}; lower the floor to at most "
            f"{dagger.budget_per_round // num_tasks} or raise the budget"
        )


def camera_config(path: str, flag: str) -> Any:
    """Load and validate a simulated-camera YAML: every key and type, then the class's own checks."""
    from sim_bridge.camera.depth_noise import CameraRandomizationConfig, DepthNoiseConfig
    from sim_bridge.camera.sim_camera import SimCameraConfig, resolve_config_path

    try:
        resolved = resolve_config_path(path)
    except FileNotFoundError:
        raise ConfigError(f"{flag}: camera config {path!r} not found") from None
    data = read_yaml_mapping(resolved, f"{flag}: camera config")
    where = f"{flag} ({path})"
    top = {k: v for k, v in data.items() if k not in ("noise", "randomization")}
    validate_fields(SimCameraConfig, top, where)
    for key, cls in (("noise", DepthNoiseConfig), ("randomization", CameraRandomizationConfig)):
        if isinstance(data.get(key), dict):
            validate_fields(cls, data[key], f"{where}.{key}")
    try:
        return SimCameraConfig.from_dict(data)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {error}") from None
