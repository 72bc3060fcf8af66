"""SIGKILL `mtdagger train` at five moments, resume, and compare with an uninterrupted run.

Each kill lands at an exact point through `MTDAGGER_TEST_PAUSE_AT` (mtdagger/testing_hooks.py):
the process stops there, the test kills it with SIGKILL, then runs `train --resume` to the end.
After every resume: one run id, no episode lost or stored twice, every complete checkpoint that
existed at the kill is byte-identical afterwards, and the result is bit-identical to an
uninterrupted run with the same seeds (episode files and every round's weights).
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "sim.tasks=reach-v3,button-press-topdown-v3",
    "sim.max_episode_steps=20",
    "workers=1",
    "dagger.rounds=1",
    "dagger.initial_episodes_per_task=2",
    "dagger.budget_per_round=4",
    "dagger.eval_episodes_per_task=1",
    "bc.epochs=2",
]


def _command(out: Path, *extra: str) -> list[str]:
    args = [sys.executable, "-m", "mtdagger.cli", "train", "--config", "configs/mt10-state-quick.yaml"]
    args += ["--out", str(out), *extra]
    for item in TINY:
        args += ["--set", item]
    return args


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MTDAGGER_TEST_")}
    return dict(env, MUJOCO_GL="egl", PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO), **extra)


def _run_to_end(out: Path, *extra: str) -> str:
    done = subprocess.run(
        _command(out, *extra), env=_env(), cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def _run_until_paused(out: Path, pause_at: str, marker: Path, *, resume: bool) -> None:
    """Start (or resume) training, wait for it to stop at `pause_at`, SIGKILL it."""
    env = _env(MTDAGGER_TEST_PAUSE_AT=pause_at, MTDAGGER_TEST_PAUSE_FILE=str(marker))
    process = subprocess.Popen(
        _command(out, *(["--resume"] if resume else [])),
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 240
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if not marker.exists():
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"training never reached pause point {pause_at!r}: {err[-3000:]}")
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()


def _manifest(out: Path) -> list[tuple]:
    with sqlite3.connect(out / "data" / "manifest.sqlite") as db:
        return db.execute(
            "SELECT run_id, round, task, seed, content_hash FROM episodes ORDER BY round, task, seed"
        ).fetchall()


def _checkpoints(out: Path) -> dict[str, str]:
    """sha256 of each file of each complete checkpoint directory (temp directories excluded)."""
    found = {}
    for path in sorted((out / "checkpoints").glob("*/*")) if (out / "checkpoints").exists() else []:
        if not path.parent.name.startswith("."):
            found[f"{path.parent.name}/{path.name}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _weights(out: Path) -> dict[str, str]:
    return {k: v for k, v in _checkpoints(out).items() if k.endswith("model.safetensors")}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    _run_to_end(out)
    return out


MOMENTS = [
    "rollouts:0:3",  # round-0 expert rollouts: 3 of 4 episodes stored
    "rollouts:1:2",  # round-1 β-mixed rollouts: 2 of 4 stored
    "bc:1",  # round-1 BC (its episodes all stored, no checkpoint yet)
    "checkpoint:round_001",  # round_001 fully written to its temp directory, not yet renamed
    "state:1",  # round_001 and metrics written, state.json (scheduler state) not yet
]


def _check_resume_kept_everything(out: Path, before_rows: list[tuple], before_checkpoints: dict[str, str]):
    after_rows = _manifest(out)
    assert len({row[0] for row in after_rows}) == 1, "the resume started a new run id"
    keys = [row[1:4] for row in after_rows]
    assert len(keys) == len(set(keys)), "an episode was stored twice"
    assert set(before_rows) <= set(after_rows), "a finished episode was lost or rewritten"
    after_checkpoints = _checkpoints(out)
    for name, digest in before_checkpoints.items():
        assert after_checkpoints.get(name) == digest, f"complete checkpoint file {name} was rewritten"


def test_killed_at_five_moments_resumes_each_time_and_matches_an_uninterrupted_run(tmp_path, uninterrupted):
    """One run killed at each moment in turn: kill, resume (which runs to the next moment), kill...
    then a last resume to the end. Every resume starts from a kill at a different moment."""
    out = tmp_path / "run"
    _run_until_paused(out, MOMENTS[0], tmp_path / "paused-0", resume=False)
    for index, moment in enumerate(MOMENTS[1:], start=1):
        before = (_manifest(out), _checkpoints(out))
        _run_until_paused(out, moment, tmp_path / f"paused-{index}", resume=True)
        _check_resume_kept_everything(out, *before)
    assert (out / "checkpoints" / "round_001").is_dir() and not (out / "checkpoints" / "final").exists()
    before = (_manifest(out), _checkpoints(out))
    output = _run_to_end(out, "--resume")
    _check_resume_kept_everything(out, *before)
    assert "round_001 is complete; loading it instead of retraining" in output
    assert not list((out / "checkpoints").glob(".tmp-*")), "a temp checkpoint directory was left"

    rows = _manifest(out)
    assert [r[1] for r in rows].count(0) == 4 and [r[1] for r in rows].count(1) == 4
    # Bit-identical to the uninterrupted run: same episodes (content hashes) and same weights.
    assert [r[1:] for r in rows] == [r[1:] for r in _manifest(uninterrupted)]
    assert _weights(out) == _weights(uninterrupted)


def test_resume_may_change_the_worker_count_but_nothing_else(tmp_path):
    from mtdagger.training.config import config_from_dict
    from mtdagger.training.run_folder import RunFolder

    config = config_from_dict({"workers": 1}).to_dict()
    folder = RunFolder(tmp_path / "run")
    folder.create(config, resume=False)
    folder.create({**config, "workers": 2}, resume=True)  # accepted
    with pytest.raises(ValueError, match=r"section\(s\) \['seed'\]"):
        folder.create({**config, "seed": 1}, resume=True)


def test_a_run_saved_before_a_contract_field_existed_resumes(tmp_path):
    """A config.yaml written before `point_cloud.table_band_m` existed lacks the key; the field's
    default keeps the old behaviour, so the resume is the same run and must be accepted."""
    import yaml

    from mtdagger.training.config import load_train_config
    from mtdagger.training.run_folder import RunFolder

    config = load_train_config(REPO / "configs" / "mt10-pointcloud-demo.yaml").to_dict()
    folder = RunFolder(tmp_path / "run")
    folder.create(config, resume=False)
    old = yaml.safe_load(folder.config_path.read_text())
    del old["point_cloud"]["table_band_m"]
    folder.config_path.write_text(yaml.safe_dump(old, sort_keys=False))
    folder.create(config, resume=True)  # accepted
    with pytest.raises(ValueError, match=r"section\(s\) \['point_cloud'\]"):
        folder.create({**config, "point_cloud": {**config["point_cloud"], "num_points": 64}}, resume=True)
