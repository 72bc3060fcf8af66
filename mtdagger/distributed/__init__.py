"""Beyond one machine: rollouts and evaluation on a Ray cluster, behaviour cloning with DDP.

Ray and torch.distributed are the engines; this package only adapts the project's own pieces to
them (docs/distributed.md). Nothing here is imported unless asked for: the local process pool
stays the default, and `ray` is imported only when a Ray address is given.
"""

from __future__ import annotations

from typing import Any

from mtdagger.training.config import check_ray_address


def rollout_engine(address: str | None, workers: int) -> Any:
    """The engine that runs rollout jobs: None (the local pool) or `workers` Ray actors."""
    if check_ray_address(address) is None:
        return None
    from mtdagger.distributed.ray_rollouts import RayRollouts

    return RayRollouts(address, workers)
