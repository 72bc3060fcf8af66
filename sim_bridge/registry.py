"""`make_backend(name, **config)`: simulator backends by name, so commands take `--sim NAME`.

Only names are registered here, never imported eagerly: a backend's simulator (MuJoCo, Isaac Sim)
is imported when that backend is asked for, so asking for one never needs the other installed.
"""

from __future__ import annotations

from typing import Any


class BackendUnavailableError(NotImplementedError):
    """The named backend exists in the design but cannot run in this installation."""


def backend_names() -> list[str]:
    return ["metaworld", "fr3", "isaaclab"]


def make_backend_config(name: str, **config: Any) -> Any:
    """The picklable config of backend `name` (what rollout workers receive), from keyword fields."""
    if name == "metaworld":
        from sim_bridge.metaworld_backend import MetaWorldBackendConfig

        return MetaWorldBackendConfig(**config)
    if name == "fr3":
        from sim_bridge.fr3_backend_config import FR3BackendConfig

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
