"""Simulator backends by name, so commands take `--sim NAME`: the one place a backend is chosen.

Each backend declares its own frozen, picklable config dataclass (what rollout workers receive);
`make_backend_config(name, **fields)` picks it by name. Only names are registered here, never
imported eagerly: a backend's simulator (MuJoCo, Isaac Sim) is imported when that backend is asked
for, so asking for one never needs the other installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Backends a training run or a deployment can use here (tasks, default camera).
RUN_BACKENDS = ("metaworld", "fr3")
# The camera YAML a backend uses when a run names none.
DEFAULT_CAMERAS = {
    "metaworld": "configs/cameras/metaworld_d435.yaml",
    "fr3": "configs/cameras/fr3_d435.yaml",
}


class BackendUnavailableError(NotImplementedError):
    """The named backend exists in the design but cannot run in this installation."""


def backend_names() -> list[str]:
    return ["metaworld", "fr3", "isaaclab"]


def make_backend_config(name: str, **config: Any) -> Any:
    """The picklable config of backend `name` (what rollout workers receive), from keyword fields."""
    if name == "metaworld":
        from sim_bridge.metaworld.backend import MetaWorldBackendConfig

        return MetaWorldBackendConfig(**config)
    if name == "fr3":
        from sim_bridge.fr3.config import FR3BackendConfig

        return FR3BackendConfig(**config)
    if name == "isaaclab":
        raise BackendUnavailableError(
            "the IsaacLab backend is not available here: Isaac Sim cannot be installed on this machine "
            "(its package index is unreachable); use --sim metaworld, or run on the IsaacLab GPU box"
        )
    raise ValueError(f"unknown simulator backend {name!r}; known: {', '.join(backend_names())}")


def make_backend(name: str, **config: Any) -> Any:
    """Build backend `name` in this process, e.g. make_backend('metaworld', tasks=('reach-v3',))."""
    return make_backend_config(name, **config).build()


def resolve_tasks(name: str, spec: str) -> list[str]:
    """Backend `name`'s ordered task list for a spec: a suite name ('mt10', 'fr3_drawers') or
    comma-separated task names. ValueError for a backend a run cannot use here, and for a spec
    that names no task (an empty `--tasks ""` is not "every task")."""
    if not any(part.strip() for part in str(spec).split(",")):
        raise ValueError(f"tasks {spec!r} names no task; give a suite name or comma-separated task names")
    if name == "fr3":
        from sim_bridge.fr3.drawer_suite import resolve_fr3_tasks

        return resolve_fr3_tasks(spec)
    if name != "metaworld":
        raise ValueError(f"training supports the 'metaworld' and 'fr3' backends here, got {name!r}")
    from sim_bridge.suites import resolve_tasks as resolve_metaworld_tasks

    return resolve_metaworld_tasks(spec)


def run_backend_config(
    name: str,
    tasks: Sequence[str],
    *,
    camera: Any,
    render_depth: bool,
    max_episode_steps: int,
    objects: str = "seen",
) -> Any:
    """The config of backend `name` for a run's resolved `tasks` and camera (a SimCameraConfig).
    `objects` (FR3 drawer suite only): the split episodes draw their cabinets from. Any name other
    than 'fr3' gets the MetaWorld backend (the default simulator)."""
    fields: dict[str, Any] = {
        "tasks": tuple(tasks),
        "camera": camera,
        "render_depth": render_depth,
        "max_episode_steps": max_episode_steps,
    }
    if name == "fr3":
        return make_backend_config("fr3", objects=objects, **fields)
    return make_backend_config("metaworld", **fields)


def simulator_for_checkpoint(meta: Any, requested: str | None, *, flag: str | None = "--sim") -> str:
    """The simulator a checkpoint runs in: the one it was trained in (`meta.provenance`'s
    `sim_backend`; MetaWorld for checkpoints from before it was recorded). A `requested` other one
    is refused (the robot, tasks and contract are that simulator's), and so is a checkpoint naming
    a task the simulator does not have. One-line ValueError naming `flag` (None: the caller's
    simulator is fixed, e.g. the rehearsal's FR3 cell) or the checkpoint's field."""
    trained_in = meta.provenance.get("sim_backend")
    sim = requested or trained_in or "metaworld"
    if trained_in is not None and sim != trained_in:
        why = "its robot, tasks and contract are that simulator's"
        if flag is None:
            raise ValueError(f"the checkpoint was trained in {trained_in!r}, not {sim!r} ({why})")
        raise ValueError(
            f"{flag} {sim} but the checkpoint was trained in {trained_in!r} ({why}); "
            f"drop {flag} or pass {flag} {trained_in}"
        )
    if sim not in RUN_BACKENDS:
        valid = ", ".join(RUN_BACKENDS)
        raise ValueError(f"{flag or 'simulator'} {sim!r}: not one a checkpoint runs in here; valid: {valid}")
    try:
        resolve_tasks(sim, ",".join(meta.tasks))
    except ValueError as error:
        raise ValueError(f"checkpoint tasks {list(meta.tasks)} are not all {sim} tasks: {error}") from None
    return sim
