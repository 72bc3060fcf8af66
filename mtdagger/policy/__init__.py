"""Student networks, checkpoints (safetensors + validated JSON sidecar) and the policy wrapper."""

from mtdagger.policy.checkpoint import (
    CheckpointError,
    CheckpointMeta,
    checkpoint_id,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
)
from mtdagger.policy.networks import (
    PointNetStudent,
    PointNetStudentConfig,
    StateStudent,
    StateStudentConfig,
    build_student,
)
from mtdagger.policy.student import CheckpointStudentFactory, NonFiniteActionError, StudentPolicy

__all__ = [
    "CheckpointError",
    "CheckpointMeta",
    "CheckpointStudentFactory",
    "NonFiniteActionError",
    "PointNetStudent",
    "PointNetStudentConfig",
    "StateStudent",
    "StateStudentConfig",
    "StudentPolicy",
    "build_student",
    "checkpoint_id",
    "load_checkpoint",
    "read_checkpoint_meta",
    "save_checkpoint",
]
