"""Student networks: a PointNet point-cloud student and a privileged-state student.

Both output one action in the *normalised* action space (NormalizationStats); the policy
wrapper (student.py) denormalises it. Each network keeps its frozen config on `.config` and its
registry name on `.architecture`, which is exactly what a checkpoint stores to rebuild it.

Each config describes its own inputs (LeRobot-style features): `input_keys()` are the batch keys
its `forward` takes, in order, `normalized_dims()` the normalisation statistics it needs, and
`uses_point_cloud` whether it needs a point-cloud contract. The trainer, the policy wrapper and
the checkpoint validator read these instead of special-casing architecture names.

Classes are only ever built through the registry below, never from a string evaluated as code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import torch
from torch import nn

from mtdagger.policy.encoders import GripperLocalEncoder, PointNetEncoder, cloud_anchor, ee_relative_points

# Batch keys (the dataset, the trainer, StudentPolicy and the networks agree on these).
POINT_CLOUD = "point_cloud"  # (B, N, 3) base frame, metres (never normalised: see normalization.py)
STATE = "state"  # (B, 4) normalised proprioception
EE_POSITION = "ee_position"  # (B, 3) the gripper's position, base frame, metres (= raw state[:3])
PRIVILEGED = "privileged"  # (B, P) normalised simulator state
TASK_INDEX = "task_index"  # (B,) long


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


def _check_bools(config: object, *names: str) -> None:
    for name in names:
        if not isinstance(getattr(config, name), bool):
            raise ValueError(
                f"{type(config).__name__}.{name} must be true or false, got {getattr(config, name)!r}"
            )


def _check_count_of_points(config: PointNetStudentConfig, name: str) -> None:
    """A count of the cloud's points: an int in [0, num_points] (0 turns the option off)."""
    value, limit = getattr(config, name), config.num_points
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{type(config).__name__}.{name} must be an int, got {value!r}")
    if not 0 <= value <= limit:
        raise ValueError(f"{type(config).__name__}.{name} must lie in [0, num_points={limit}], got {value}")


class _ConfigDict:
    """to_dict/from_dict shared by the configs: JSON lists back to tuples, unknown keys refused."""

    uses_point_cloud: ClassVar[bool] = False

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
    # Gripper-frame inputs (docs/results/student.md): a handle 2 cm beside the gripper is 2 cm
    # in (p - ee), but a 0.02 difference on a 0.3-0.7 m coordinate in the base frame. Both read
    # the gripper's position from observation.state[:3], which every stage already produces.
    ee_relative: bool = False  # each point also carries (p - ee) / ee_scale_m
    local_points: int = 0  # K points nearest the gripper, encoded apart in the gripper frame
    local_channels: tuple[int, ...] = (64, 128)
    ee_scale_m: float = 0.1  # length that maps gripper-frame coordinates to about unit range
    # 0: the gripper frame's origin is the state's gripper position. K > 0: the centroid of the
    # K cloud points nearest it (encoders.cloud_anchor), which moves with a miscalibrated cloud.
    # Measured on FR3 (student.md, fifth session): with 1024 points too few lie on the gripper;
    # it cost clean success and did not reduce the calibration-error drop. Off in every preset.
    cloud_anchor_points: int = 0
    # 0: the global encoder sees all num_points. n > 0: only the cloud's first n points, which
    # the contract keeps in farthest-point order (an n-point FPS sample), while the local encoder
    # picks its points from the whole, denser cloud: a sparse view of the scene, a dense one of
    # the gripper, at the global encoder's cost of n points.
    global_points: int = 0

    uses_point_cloud: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_positive(self, "num_tasks", "num_points", "state_dim", "action_dim", "task_embed_dim")
        _check_bools(self, "point_norm", "pooled_norm", "ee_relative")
        for name in ("point_channels", "head_hidden", "local_channels"):
            object.__setattr__(self, name, _tuple_of_positive_ints(name, getattr(self, name)))
        for name in ("local_points", "cloud_anchor_points", "global_points"):
            _check_count_of_points(self, name)
        if self.cloud_anchor_points and not self.uses_gripper_frame:
            raise ValueError(
                "PointNetStudentConfig.cloud_anchor_points anchors the gripper frame: set ee_relative "
                "or local_points too"
            )
        if not (isinstance(self.ee_scale_m, (int, float)) and self.ee_scale_m > 0):
            raise ValueError(f"PointNetStudentConfig.ee_scale_m must be > 0, got {self.ee_scale_m!r}")

    @property
    def uses_gripper_frame(self) -> bool:
        return self.ee_relative or self.local_points > 0

    def input_keys(self) -> tuple[str, ...]:
        keys = (POINT_CLOUD, STATE, TASK_INDEX)
        return (*keys, EE_POSITION) if self.uses_gripper_frame else keys

    def normalized_dims(self) -> dict[str, int]:
        return {"action": self.action_dim, "state": self.state_dim}

    @staticmethod
    def derived_fields(*, num_tasks: int, num_points: int | None, privileged_dim: int) -> dict[str, int]:
        """The fields a run sets from its own data, never from a preset."""
        del privileged_dim
        return {"num_tasks": num_tasks, "num_points": int(num_points or 0)}


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

    def input_keys(self) -> tuple[str, ...]:
        return (PRIVILEGED, TASK_INDEX)

    def normalized_dims(self) -> dict[str, int]:
        return {"action": self.action_dim, "privileged": self.privileged_dim}

    @staticmethod
    def derived_fields(*, num_tasks: int, num_points: int | None, privileged_dim: int) -> dict[str, int]:
        del num_points
        return {"num_tasks": num_tasks, "privileged_dim": privileged_dim}


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


class PointNetStudent(nn.Module):
    architecture = "pointnet"

    def __init__(self, config: PointNetStudentConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = PointNetEncoder(
            config.point_channels,
            in_dim=6 if config.ee_relative else 3,
            point_norm=config.point_norm,
            pooled_norm=config.pooled_norm,
        )
        self.local_encoder = (
            GripperLocalEncoder(config.local_points, config.local_channels, config.ee_scale_m)
            if config.local_points
            else None
        )
        local_dim = 0 if self.local_encoder is None else self.local_encoder.out_dim
        self.task_embedding = nn.Embedding(config.num_tasks, config.task_embed_dim)
        head_in = self.encoder.out_dim + local_dim + config.state_dim + config.task_embed_dim
        self.head = _mlp(head_in, config.head_hidden, config.action_dim)

    def forward(
        self,
        point_cloud: torch.Tensor,
        state: torch.Tensor,
        task_index: torch.Tensor,
        ee_position: torch.Tensor | None = None,
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
        if cfg.uses_gripper_frame and (ee_position is None or ee_position.shape != (batch, 3)):
            shape = None if ee_position is None else tuple(ee_position.shape)
            raise ValueError(f"ee_position must be ({batch}, 3) for a gripper-frame student, got {shape}")
        points = point_cloud[:, : cfg.global_points] if cfg.global_points else point_cloud
        if cfg.cloud_anchor_points:
            ee_position = cloud_anchor(point_cloud, ee_position, cfg.cloud_anchor_points)
        if cfg.ee_relative:
            points = ee_relative_points(points, ee_position, cfg.ee_scale_m)
        parts = [self.encoder(points)]
        if self.local_encoder is not None:
            parts.append(self.local_encoder(point_cloud, ee_position))
        features = torch.cat([*parts, state, self.task_embedding(task_index)], dim=-1)
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


def student_config_class(architecture: str) -> type[_ConfigDict]:
    """The config class registered under `architecture` (its feature declarations)."""
    if architecture not in STUDENT_REGISTRY:
        raise ValueError(f"unknown student architecture {architecture!r}; valid: {sorted(STUDENT_REGISTRY)}")
    return STUDENT_REGISTRY[architecture][0]


def build_student(architecture: str, config: Mapping[str, Any]) -> nn.Module:
    """Build a student by registry name from a plain (JSON-able) config dict."""
    config_cls = student_config_class(architecture)
    if not isinstance(config, Mapping):
        raise ValueError(f"architecture config must be a mapping, got {type(config).__name__}")
    return STUDENT_REGISTRY[architecture][1](config_cls.from_dict(config))


def forward_batch(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Call a registered student with the batch keys its config declares, in order."""
    device = next(model.parameters()).device
    return model(*(batch[key].to(device) for key in model.config.input_keys()))
