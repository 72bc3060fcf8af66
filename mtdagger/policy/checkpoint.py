"""Checkpoints: safetensors weights + a JSON sidecar, validated field by field on load.

Layout of a checkpoint directory:
    model.safetensors   the weights (safetensors: loading cannot run code, unlike pickle)
    checkpoint.json     CheckpointMeta: what the weights are and what they were trained for

A policy that runs on clouds made with another contract, on another task list or under another
action convention does not fail loudly; it just behaves badly on the robot. So loading checks
every one of those against what the caller expects and refuses a mismatch with a message that
names the field and both values.

Both files are written atomically (temp + fsync + rename), weights first: the sidecar carries
the weights' sha256, so a kill between the two renames leaves a pair that refuses to load
rather than a pair that silently disagrees.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import safetensors.torch
from torch import nn

from mtdagger.control.action import ActionConvention
from mtdagger.control.execution_contract import ExecutionContract
from mtdagger.data.durable_write import atomic_write_bytes
from mtdagger.data.normalization import NormalizationStats
from mtdagger.perception.contract import PointCloudContract
from mtdagger.policy.checkpoint_checks import (
    WEIGHTS_FILE,
    CheckpointError,
    check_expectations,
    check_finite,
    check_tensors,
)
from mtdagger.policy.networks import STUDENT_REGISTRY, build_student
from mtdagger.provenance import sha256_bytes

SCHEMA_VERSION = 1
META_FILE = "checkpoint.json"
_CHECKPOINT_ID_LENGTH = 12
# Fields a checkpoint written before them lacks (read as None).
OPTIONAL_FIELDS = ("execution_contract",)


@dataclass(frozen=True)
class CheckpointMeta:
    schema_version: int
    architecture: str
    architecture_config: dict[str, Any]
    tasks: list[str]
    point_cloud_contract: dict[str, Any] | None  # None for state students
    action_convention: dict[str, Any]
    normalization: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str = ""  # filled in by save_checkpoint
    # How the arm executed each action in training (mtdagger.control.execution_contract); None in
    # checkpoints written before it existed, which the robot's nodes refuse unless opted in.
    execution_contract: dict[str, Any] | None = None

    @classmethod
    def for_model(
        cls,
        model: nn.Module,
        *,
        tasks: Sequence[str],
        contract: PointCloudContract | None,
        action_convention: ActionConvention,
        normalization: NormalizationStats,
        provenance: Mapping[str, Any] | None = None,
        execution_contract: ExecutionContract | None = None,
    ) -> CheckpointMeta:
        """Describe a registry-built student (see networks.py); weights_sha256 comes at save."""
        architecture = getattr(model, "architecture", None)
        config = getattr(model, "config", None)
        if architecture not in STUDENT_REGISTRY or config is None:
            raise CheckpointError(f"{type(model).__name__} is not a registered student architecture")
        return cls(
            schema_version=SCHEMA_VERSION,
            architecture=architecture,
            architecture_config=config.to_dict(),
            tasks=list(tasks),
            point_cloud_contract=None if contract is None else contract.to_dict(),
            action_convention=action_convention.to_dict(),
            normalization=normalization.to_dict(),
            provenance=dict(provenance or {}),
            execution_contract=None if execution_contract is None else execution_contract.to_dict(),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> CheckpointMeta:
        if not isinstance(data, Mapping):
            raise CheckpointError(f"{META_FILE} must hold a JSON object, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data and n not in OPTIONAL_FIELDS]
        if missing:
            raise CheckpointError(f"{META_FILE} lacks fields {missing}")
        unknown = sorted(str(k) for k in data if k not in names)
        if unknown:  # a field this code does not read would be ignored: a newer writer, or a typo
            raise CheckpointError(
                f"{META_FILE} has unknown field(s) {unknown} (a newer schema, or a typo); "
                f"this code reads {names}"
            )
        expected_types: dict[str, tuple[type, ...]] = {
            "schema_version": (int,),
            "architecture": (str,),
            "architecture_config": (dict,),
            "tasks": (list,),
            "point_cloud_contract": (dict, type(None)),
            "action_convention": (dict,),
            "normalization": (dict,),
            "provenance": (dict,),
            "weights_sha256": (str,),
            "execution_contract": (dict, type(None)),
        }
        data = {**dict.fromkeys(OPTIONAL_FIELDS), **data}
        for name, types in expected_types.items():
            if not isinstance(data[name], types) or isinstance(data[name], bool):
                raise CheckpointError(
                    f"checkpoint {name} has type {type(data[name]).__name__}; "
                    f"expected {' or '.join(t.__name__ for t in types)}"
                )
        if not all(isinstance(t, str) for t in data["tasks"]):
            raise CheckpointError("checkpoint tasks must be a list of strings")
        return cls(**{n: data[n] for n in names})


def checkpoint_id(meta: CheckpointMeta) -> str:
    """Short id for logs, bags and episode provenance: a prefix of the weights' sha256."""
    if len(meta.weights_sha256) < _CHECKPOINT_ID_LENGTH:
        raise CheckpointError("checkpoint weights_sha256 is empty; the meta was never saved")
    return meta.weights_sha256[:_CHECKPOINT_ID_LENGTH]


def save_checkpoint(directory: str | Path, model: nn.Module, meta: CheckpointMeta) -> CheckpointMeta:
    """Write weights and sidecar atomically; returns `meta` with weights_sha256 filled in.

    The meta must describe `model` (same architecture and config), and its task list must have
    as many entries as the model has task embeddings: a checkpoint that could not be loaded back
    is refused here rather than discovered at deployment.
    """
    directory = Path(directory)
    model_architecture = getattr(model, "architecture", None)
    model_config = getattr(model, "config", None)
    if model_architecture != meta.architecture:
        raise CheckpointError(
            f"meta architecture={meta.architecture!r} but the model is {model_architecture!r}"
        )
    if model_config is None or model_config.to_dict() != _json_roundtrip(meta.architecture_config):
        raise CheckpointError(
            f"meta architecture_config={meta.architecture_config} but the model's config is "
            f"{None if model_config is None else model_config.to_dict()}"
        )
    if len(meta.tasks) != model_config.num_tasks:
        raise CheckpointError(
            f"meta tasks has {len(meta.tasks)} entries but "
            f"architecture_config.num_tasks={model_config.num_tasks}"
        )
    if meta.schema_version != SCHEMA_VERSION:
        raise CheckpointError(f"meta schema_version={meta.schema_version}; this code writes {SCHEMA_VERSION}")

    tensors = {name: t.detach().to("cpu").contiguous() for name, t in model.state_dict().items()}
    weights = safetensors.torch.save(tensors, metadata={"architecture": meta.architecture})
    meta = replace(meta, weights_sha256=sha256_bytes(weights))
    atomic_write_bytes(directory / WEIGHTS_FILE, weights)
    sidecar = json.dumps(meta.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n"
    atomic_write_bytes(directory / META_FILE, sidecar.encode("utf-8"))
    return meta


def _json_roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _check_directory(directory: Path) -> None:
    """A checkpoint is a directory; a file given instead (often one of its two files) is named."""
    if directory.is_dir():
        return
    if directory.is_file():
        parent = directory.parent
        hint = (
            f"; give its directory {str(parent)!r}"
            if directory.name in (META_FILE, WEIGHTS_FILE)
            else f"; give the directory holding {META_FILE} and {WEIGHTS_FILE}"
        )
        raise CheckpointError(f"checkpoint {str(directory)!r} is a file, not a checkpoint directory{hint}")
    raise CheckpointError(f"checkpoint directory {directory} does not exist")


def _read_files(directory: Path) -> tuple[bytes, Any]:
    _check_directory(directory)
    meta_path, weights_path = directory / META_FILE, directory / WEIGHTS_FILE
    if not meta_path.is_file():
        raise CheckpointError(f"checkpoint {directory} has no {META_FILE} sidecar")
    if not weights_path.is_file():
        raise CheckpointError(f"checkpoint {directory} has no {WEIGHTS_FILE}")
    return weights_path.read_bytes(), _parse_sidecar(meta_path)


def _validate_meta(meta: CheckpointMeta) -> NormalizationStats:
    if meta.schema_version != SCHEMA_VERSION:
        raise CheckpointError(
            f"checkpoint schema_version={meta.schema_version} but this code reads {SCHEMA_VERSION}"
        )
    if meta.architecture not in STUDENT_REGISTRY:
        raise CheckpointError(
            f"checkpoint architecture={meta.architecture!r} is unknown; valid: {sorted(STUDENT_REGISTRY)}"
        )
    config = meta.architecture_config
    if config.get("num_tasks") != len(meta.tasks):
        raise CheckpointError(
            f"checkpoint tasks has {len(meta.tasks)} entries but architecture_config.num_tasks="
            f"{config.get('num_tasks')}"
        )
    config_cls = STUDENT_REGISTRY[meta.architecture][0]
    if config_cls.uses_point_cloud:
        if meta.point_cloud_contract is None:
            raise CheckpointError(
                f"checkpoint point_cloud_contract=None but architecture={meta.architecture!r} needs one"
            )
        try:
            contract = PointCloudContract.from_dict(meta.point_cloud_contract)
        except (TypeError, ValueError) as error:
            raise CheckpointError(f"checkpoint point_cloud_contract is invalid: {error}") from error
        if config.get("num_points") != contract.num_points:
            raise CheckpointError(
                f"checkpoint architecture_config.num_points={config.get('num_points')} but "
                f"point_cloud_contract.num_points={contract.num_points}"
            )
    try:
        convention = ActionConvention.from_dict(meta.action_convention)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint action_convention is invalid: {error}") from error
    _validate_execution_contract(meta, convention)
    try:
        stats = NormalizationStats.from_dict(meta.normalization)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint normalization is invalid: {error}") from error
    try:
        wanted_dims = config_cls.from_dict(config).normalized_dims()
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint architecture_config is invalid: {error}") from error
    for key, dim in wanted_dims.items():
        have = stats.dim(key) if key in stats.mean else None
        if have != dim:
            raise CheckpointError(
                f"checkpoint normalization.{key} has {have} dims but architecture_config says {dim}"
            )
    return stats


def _validate_execution_contract(meta: CheckpointMeta, convention: ActionConvention) -> None:
    """The recorded execution contract parses and agrees with the checkpoint's own convention
    and point-cloud contract (one source of each number, not two that may drift)."""
    if meta.execution_contract is None:
        return
    try:
        contract = ExecutionContract.from_dict(meta.execution_contract)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint execution_contract is invalid: {error}") from error
    pairs = {
        "control_period_s": convention.control_period_s,
        "trajectory_time_s": convention.trajectory_time_s,
        "action_frame": convention.frame,
        "point_cloud_contract": meta.point_cloud_contract,
    }
    for name, value in pairs.items():
        if getattr(contract, name) != value:
            raise CheckpointError(
                f"checkpoint execution_contract.{name}={getattr(contract, name)!r} disagrees with the "
                f"checkpoint's own {value!r}"
            )


def is_complete_checkpoint(directory: str | Path) -> bool:
    """True when `directory` holds a checkpoint that loads (both files, matching hash, finite)."""
    try:
        load_checkpoint(directory)
    except CheckpointError:
        return False
    return True


def publish_checkpoint(directory: str | Path, model: nn.Module, meta: CheckpointMeta) -> CheckpointMeta:
    """Write a checkpoint directory all at once: into a sibling temp directory, then one rename.

    A reader (or a resumed run) sees either no `directory` or a complete one, never half of it.
    A complete checkpoint already at `directory` is never rewritten (CheckpointError); an
    incomplete one (left by older, non-atomic code) is moved aside and replaced.
    """
    import os
    import shutil
    import uuid

    from mtdagger.data.durable_write import _fsync_dir
    from mtdagger.testing_hooks import pause_point

    directory = Path(directory)
    if directory.exists():
        if is_complete_checkpoint(directory):
            raise CheckpointError(f"checkpoint {directory} is complete and is never rewritten")
        shutil.rmtree(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    for stale in directory.parent.glob(f".tmp-{directory.name}-*"):  # a killed earlier write
        shutil.rmtree(stale, ignore_errors=True)
    temp = directory.parent / f".tmp-{directory.name}-{uuid.uuid4().hex[:8]}"
    try:
        meta = save_checkpoint(temp, model, meta)
        pause_point(f"checkpoint:{directory.name}")
        os.replace(temp, directory)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    _fsync_dir(directory.parent)
    return meta


def read_checkpoint_meta(directory: str | Path) -> CheckpointMeta:
    """The validated sidecar alone, without reading the weights.

    For callers that must learn a checkpoint's task list, contract or architecture before they
    can say what to expect (eval, deploy). The weights are still checked by `load_checkpoint`.
    """
    directory = Path(directory)
    _check_directory(directory)
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise CheckpointError(f"checkpoint {directory} has no {META_FILE} sidecar")
    meta = CheckpointMeta.from_dict(_parse_sidecar(meta_path))
    _validate_meta(meta)
    return meta


def _parse_sidecar(meta_path: Path) -> Any:
    try:
        return json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"checkpoint {META_FILE} is not valid JSON: {error}") from error


def load_checkpoint(
    directory: str | Path,
    *,
    expect_tasks: Sequence[str] | None = None,
    expect_contract: PointCloudContract | None = None,
    expect_action: ActionConvention | None = None,
    expect_architecture: str | None = None,
) -> tuple[nn.Module, CheckpointMeta]:
    """Load, validate and return (model in eval mode on CPU, meta); CheckpointError on any problem.

    Checks, in order: files present, sidecar JSON and field types, schema version, internal
    consistency (task count, contract vs num_points, normalisation dims), the caller's
    expectations, the weights' sha256, that the weights parse, and that every tensor exists with
    the shape the architecture needs. The weights are parsed from the same bytes that were
    hashed, so the file cannot change between the check and the load.
    """
    directory = Path(directory)
    weights, raw_meta = _read_files(directory)
    meta = CheckpointMeta.from_dict(raw_meta)
    _validate_meta(meta)
    check_expectations(meta, expect_tasks, expect_contract, expect_action, expect_architecture)

    actual_hash = sha256_bytes(weights)
    if actual_hash != meta.weights_sha256:
        raise CheckpointError(
            f"checkpoint weights_sha256={meta.weights_sha256} but {WEIGHTS_FILE} hashes to {actual_hash} "
            "(truncated, tampered with, or from another save)"
        )
    try:
        tensors = safetensors.torch.load(weights)
    except Exception as error:  # safetensors raises its own error types for malformed headers
        raise CheckpointError(f"checkpoint {WEIGHTS_FILE} cannot be parsed: {error}") from error
    try:
        model = build_student(meta.architecture, meta.architecture_config)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint architecture_config is invalid: {error}") from error
    check_tensors(model, tensors, meta.architecture)
    check_finite(tensors)
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return model, meta
