"""Shared checks of the bad-input suite (tests/test_bad_inputs_*.py).

Every bad input must give: the expected exit code, exactly one line on stderr that starts with
`error:` and names the field or flag, no Python traceback, and no change to anything already on
disk (the watched files are hashed before and after).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from mtdagger.cli import main
from mtdagger.control.action import ActionConvention
from mtdagger.data.normalization import NormalizationStats
from mtdagger.perception.contract import PointCloudContract
from mtdagger.policy.checkpoint import CheckpointMeta, save_checkpoint
from mtdagger.policy.networks import build_student

REPO = Path(__file__).resolve().parents[1]
TASKS = ["reach-v3", "drawer-open-v3"]


def snapshot(*paths: Path) -> dict[str, str]:
    """sha256 of every file under `paths` (missing paths recorded as absent)."""
    hashes: dict[str, str] = {}
    for root in paths:
        root = Path(root)
        if not root.exists():
            hashes[str(root)] = "<absent>"
            continue
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            hashes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def assert_refused(
    capsys, argv: list[str], names: str, *, watch: tuple[Path, ...] = (), code: int = 2
) -> str:
    """Run the CLI in-process; check exit code, one `error:` line naming `names`, no traceback,
    and that every watched file is byte-identical afterwards. Returns the error line."""
    capsys.readouterr()
    before = snapshot(*watch)
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == code, f"exit code {rc} for {argv}; stderr: {err}"
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and line.startswith("error:")]
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    assert names in lines[0], f"{names!r} not named in {lines[0]!r}"
    assert snapshot(*watch) == before, "a bad input changed files already on disk"
    return lines[0]


def stats(privileged_dim: int = 6) -> NormalizationStats:
    rng = np.random.default_rng(0)
    return NormalizationStats.from_arrays(
        {
            "state": rng.normal(0.5, 0.2, size=(50, 4)),
            "privileged": rng.normal(size=(50, privileged_dim)),
            "action": rng.normal(0.0, [0.005, 0.005, 0.005, 0.8], size=(50, 4)),
        }
    )


def save_tiny_checkpoint(directory: Path, *, pointnet: bool = False, nan: bool = False) -> str | None:
    """A tiny student checkpoint for the two TASKS; with `nan`, one tensor holds a NaN (its name
    is returned)."""
    torch.manual_seed(0)
    if pointnet:
        config = {
            "num_tasks": 2,
            "num_points": 64,
            "point_channels": [8],
            "head_hidden": [8],
            "task_embed_dim": 4,
        }
        model = build_student("pointnet", config)
        contract = PointCloudContract(num_points=64)
    else:
        model = build_student(
            "state", {"num_tasks": 2, "privileged_dim": 39, "hidden": [8], "task_embed_dim": 4}
        )
        contract = None
    nan_tensor = None
    if nan:
        nan_tensor, parameter = list(model.named_parameters())[-1]
        with torch.no_grad():
            parameter.view(-1)[0] = float("nan")
    meta = CheckpointMeta.for_model(
        model,
        tasks=TASKS,
        contract=contract,
        action_convention=ActionConvention(control_period_s=0.0125, max_step_m=0.01),
        normalization=stats(39),
        provenance={"max_episode_steps": 20},
    )
    save_checkpoint(directory, model, meta)
    return nan_tensor
