"""The checks a checkpoint must pass on load: what the caller expects, and the weights themselves.

Apart from checkpoint.py so that file stays about the format (save, publish, load); each check
names the field and both values, because a mismatched checkpoint does not fail loudly on a
robot, it just behaves badly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from mtdagger.control.action import ActionConvention
from mtdagger.control.execution_contract import ExecutionContract
from mtdagger.perception.contract import PointCloudContract

WEIGHTS_FILE = "model.safetensors"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not match what the caller expects."""


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b))
    return a == b


def _field_mismatches(prefix: str, stored: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    problems = []
    for key in sorted(set(stored) | set(expected)):
        have, want = stored.get(key, "<absent>"), expected.get(key, "<absent>")
        if not _values_equal(have, want):
            problems.append(f"checkpoint {prefix}.{key}={have!r} but this run expects {want!r}")
    return problems


def check_expectations(
    meta: Any,  # CheckpointMeta
    expect_tasks: Sequence[str] | None,
    expect_contract: PointCloudContract | None,
    expect_action: ActionConvention | None,
    expect_architecture: str | None,
) -> None:
    problems: list[str] = []
    if expect_architecture is not None and meta.architecture != expect_architecture:
        problems.append(
            f"checkpoint architecture={meta.architecture!r} but this run expects {expect_architecture!r}"
        )
    if expect_tasks is not None and list(meta.tasks) != list(expect_tasks):
        hint = (
            " (same tasks, different order: task indices would be wrong)"
            if sorted(meta.tasks) == sorted(expect_tasks)
            else ""
        )
        problems.append(
            f"checkpoint tasks={list(meta.tasks)} but this run expects {list(expect_tasks)}{hint}"
        )
    if expect_contract is not None:
        if meta.point_cloud_contract is None:
            problems.append(
                "checkpoint point_cloud_contract=None (a state student) but this run expects a point-cloud "
                f"policy with {expect_contract.to_dict()}"
            )
        else:
            stored = PointCloudContract.from_dict(meta.point_cloud_contract).to_dict()
            problems += _field_mismatches("point_cloud_contract", stored, expect_contract.to_dict())
    if expect_action is not None:
        stored = ActionConvention.from_dict(meta.action_convention).to_dict()
        problems += _field_mismatches("action_convention", stored, expect_action.to_dict())
    if problems:
        raise CheckpointError("; ".join(problems))


MISSING_CONTRACT_OPT_IN = "accept_checkpoint_without_execution_contract"


def check_execution_contract(
    meta: Any,  # CheckpointMeta
    expected: ExecutionContract,
    *,
    only: Sequence[str] | None = None,
    sources: Mapping[str, str] | None = None,
    accept_missing: bool = False,
) -> list[str]:
    """Fail-closed start-up check of a node's configuration against the checkpoint's recorded
    execution contract: CheckpointError naming every differing field. A checkpoint without one
    (written before it existed) is refused unless `accept_missing` (the node parameter
    MISSING_CONTRACT_OPT_IN, never the default); returns the warnings to log then."""
    from mtdagger.control.execution_contract import ExecutionContract as Contract

    if meta.execution_contract is None:
        if not accept_missing:
            raise CheckpointError(
                "checkpoint has no execution_contract (written before it was recorded): retrain it, "
                f"or start with {MISSING_CONTRACT_OPT_IN}:=true to run it unchecked at your own risk"
            )
        return [f"checkpoint has no execution_contract; running unchecked ({MISSING_CONTRACT_OPT_IN})"]
    try:
        stored = Contract.from_dict(meta.execution_contract)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint execution_contract is invalid: {error}") from error
    problems = stored.mismatches(expected, only=only, sources=sources)
    if problems:
        raise CheckpointError("; ".join(problems) + " (retrain, or fix the configuration)")
    return []


def check_tensors(model: nn.Module, tensors: Mapping[str, torch.Tensor], architecture: str) -> None:
    wanted = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    have = {name: tuple(t.shape) for name, t in tensors.items()}
    problems = []
    missing = sorted(set(wanted) - set(have))
    extra = sorted(set(have) - set(wanted))
    if missing:
        problems.append(f"tensors missing for architecture {architecture!r}: {missing}")
    if extra:
        problems.append(f"unexpected tensors for architecture {architecture!r}: {extra}")
    for name in sorted(set(wanted) & set(have)):
        if wanted[name] != have[name]:
            problems.append(
                f"tensor {name!r} has shape {have[name]} but architecture_config gives {wanted[name]}"
            )
    if problems:
        raise CheckpointError(
            f"checkpoint {WEIGHTS_FILE} does not fit its architecture: " + "; ".join(problems)
        )


def check_finite(tensors: Mapping[str, torch.Tensor]) -> None:
    """NaN/inf weights make every action non-finite: the safety filter then holds every step and a
    deployment "runs" doing nothing. Refuse them at load, naming the first bad tensor."""
    for name in sorted(tensors):
        tensor = tensors[name]
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(
                f"checkpoint tensor {name!r} holds {bad} non-finite value(s) (NaN/inf): the weights are "
                "unusable (diverged training or a corrupt save)"
            )
