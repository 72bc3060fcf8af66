"""Student networks: a PointNet point-cloud student and a privileged-state student.

Both output one action in the *normalised* action space (NormalizationStats); the policy
wrapper (student.py) denormalises it. Each network keeps its frozen config on `.config` and its
registry name on `.architecture`, which is exactly what a checkpoint stores to rebuild it.

Classes are only ever built through the registry below, never from a string evaluated as code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn


def _tuple_of_positive_ints(name: str, values: Sequence[int]) -> tuple[int, ...]:
    result = tuple(int(v) for v in values)
    if not result or any(v <= 0 for v in result):
        raise ValueError(f"{name} must be a non-empty sequence of positive ints, got {values!r}")
    return result


def _check_positive(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{type(config).__name__}.{name} must be a positive int, got {value!r}")


class _ConfigDict:
    """to_dict/from_dict shared by the configs: JSON lists back to tuples, unknown keys refused."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{cls.__name__} has no fields {unknown}; valid fields: {sorted(known)}")
        try:
            return cls(**data)
        except TypeError as error:  # missing required field
            raise ValueError(f"{cls.__name__}: {error}") from error

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}  # type: ignore[call-overload]


@dataclass(frozen=True)
class PointNetStudentConfig(_ConfigDict):
    num_tasks: int
    num_points: int  # the contract's N; the encoder max-pools, but a mismatch means wrong data
    state_dim: int = 4
    action_dim: int = 4
    # Per-point widths. (64, 128) with no per-point LayerNorm trains ~7x faster on a CPU than
    # DP3's (64, 128, 256) + LayerNorm and fits a fixed batch as well (`mtdagger bench train`).
    point_channels: tuple[int, ...] = (64, 128)
    task_embed_dim: int = 32
    head_hidden: tuple[int, ...] = (256, 256)
    point_norm: bool = False  # LayerNorm on every point's features (DP3); costly on a CPU
    pooled_norm: bool = True  # LayerNorm on the pooled feature: one row per cloud, cheap

    def __post_init__(self) -> None:
        _check_positive(self, "num_tasks", "num_points", "state_dim", "action_dim", "task_embed_dim")
        for name in ("point_norm", "pooled_norm"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"PointNetStudentConfig.{name} must be true or false, got {getattr(self, name)!r}"
                )
        object.__setattr__(
            self, "point_channels", _tuple_of_positive_ints("point_channels", self.point_channels)
        )
        object.__setattr__(self, "head_hidden", _tuple_of_positive_ints("head_hidden", self.head_hidden))


@dataclass(frozen=True)
class StateStudentConfig(_ConfigDict):
    num_tasks: int
    privileged_dim: int
    action_dim: int = 4
    task_embed_dim: int = 32
    hidden: tuple[int, ...] = (256, 256)

    def __post_init__(self) -> None:
        _check_positive(self, "num_tasks", "privileged_dim", "action_dim", "task_embed_dim")
        object.__setattr__(self, "hidden", _tuple_of_positive_ints("hidden", self.hidden))


def _mlp(in_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), nn.ReLU()]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def _check_task_index(task_index: torch.Tensor, batch: int, num_tasks: int) -> None:
    if task_index.shape != (batch,):
        raise ValueError(f"task_index must have shape ({batch},), got {tuple(task_index.shape)}")
    if task_index.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"task_index must be an integer tensor, got {task_index.dtype}")
    if batch:
        low, high = int(task_index.min()), int(task_index.max())
        if low < 0 or high >= num_tasks:
            raise ValueError(f"task_index out of range [0, {num_tasks}): min {low}, max {high}")


class PointNetEncoder(nn.Module):
    """Per-point shared MLP (Linear [→ LayerNorm] → ReLU) + max-pool [+ LayerNorm].

    Costs on a CPU, measured by `mtdagger bench train` (N=512, batch 256), drove the layout:
    - the last layer's ReLU runs after the max-pool (ReLU is monotone, so relu(max) = max(relu))
      on B rows instead of B×N;
    - the pool is `max(dim).values`, whose backward scatters through the arg-max indices, where
      `amax`'s backward builds an equality mask over the whole B×N×C tensor;
    - per-point LayerNorm (DP3) is optional: on B×N×C it costs about as much as the matmuls.
    Nothing mixes points before the symmetric max, so the feature is invariant to point order.
    """

    def __init__(
        self, channels: Sequence[int], *, point_norm: bool = False, pooled_norm: bool = True
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_dim = 3
        for i, width in enumerate(channels):
            layers.append(nn.Linear(in_dim, width))
            if point_norm:
                layers.append(nn.LayerNorm(width))
            if i < len(channels) - 1:
                layers.append(nn.ReLU())
            in_dim = width
        self.per_point = nn.Sequential(*layers)
        self.pooled_norm = nn.LayerNorm(in_dim) if pooled_norm else nn.Identity()
        self.out_dim = in_dim

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        pooled = self.per_point(points).max(dim=-2).values
        return self.pooled_norm(torch.relu(pooled))


class PointNetStudent(nn.Module):
    architecture = "pointnet"

    def __init__(self, config: PointNetStudentConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = PointNetEncoder(
            config.point_channels, point_norm=config.point_norm, pooled_norm=config.pooled_norm
        )
        self.task_embedding = nn.Embedding(config.num_tasks, config.task_embed_dim)
        head_in = self.encoder.out_dim + config.state_dim + config.task_embed_dim
        self.head = _mlp(head_in, config.head_hidden, config.action_dim)

    def forward(
        self, point_cloud: torch.Tensor, state: torch.Tensor, task_index: torch.Tensor
    ) -> torch.Tensor:
        cfg = self.config
        if point_cloud.ndim != 3 or point_cloud.shape[1:] != (cfg.num_points, 3):
            raise ValueError(
                f"point_cloud must be (B, {cfg.num_points}, 3) (num_points from the config), "
                f"got {tuple(point_cloud.shape)}"
            )
        batch = point_cloud.shape[0]
        if state.shape != (batch, cfg.state_dim):
            raise ValueError(f"state must be ({batch}, {cfg.state_dim}), got {tuple(state.shape)}")
        _check_task_index(task_index, batch, cfg.num_tasks)
        features = torch.cat([self.encoder(point_cloud), state, self.task_embedding(task_index)], dim=-1)
        return self.head(features)


class StateStudent(nn.Module):
    """Privileged state + task → action: cheap enough for scheduler studies over many rounds."""

    architecture = "state"

    def __init__(self, config: StateStudentConfig) -> None:
        super().__init__()
        self.config = config
        self.task_embedding = nn.Embedding(config.num_tasks, config.task_embed_dim)
        self.head = _mlp(config.privileged_dim + config.task_embed_dim, config.hidden, config.action_dim)

    def forward(self, privileged: torch.Tensor, task_index: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if privileged.ndim != 2 or privileged.shape[1] != cfg.privileged_dim:
            raise ValueError(f"privileged must be (B, {cfg.privileged_dim}), got {tuple(privileged.shape)}")
        _check_task_index(task_index, privileged.shape[0], cfg.num_tasks)
        return self.head(torch.cat([privileged, self.task_embedding(task_index)], dim=-1))


STUDENT_REGISTRY: dict[str, tuple[type[_ConfigDict], type[nn.Module]]] = {
    "pointnet": (PointNetStudentConfig, PointNetStudent),
    "state": (StateStudentConfig, StateStudent),
}


def build_student(architecture: str, config: Mapping[str, Any]) -> nn.Module:
    """Build a student by registry name from a plain (JSON-able) config dict."""
    if architecture not in STUDENT_REGISTRY:
        raise ValueError(f"unknown student architecture {architecture!r}; valid: {sorted(STUDENT_REGISTRY)}")
    if not isinstance(config, Mapping):
        raise ValueError(f"architecture config must be a mapping, got {type(config).__name__}")
    config_cls, model_cls = STUDENT_REGISTRY[architecture]
    return model_cls(config_cls.from_dict(config))
