"""A training run killed (SIGKILL) in the middle of a round resumes without losing or duplicating episodes."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

TINY = [
    "sim.tasks=reach-v3,button-press-topdown-v3",
    "sim.max_episode_steps=25",
    "workers=1",
    "dagger.rounds=2",
    "dagger.initial_episodes_per_task=2",
    "dagger.budget_per_round=6",
    "dagger.eval_episodes_per_task=1",
    "bc.epochs=2",
]


def _train(out: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "mtdagger.cli", "train", "--config", "configs/mt10-state-quick.yaml"]
    args += ["--out", str(out), *extra]
    for item in TINY:
        args += ["--set", item]
    env = dict(os.environ, MUJOCO_GL="egl", PYTHONUNBUFFERED="1")
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _manifest(out: Path) -> list[tuple]:
    path = out / "data" / "manifest.sqlite"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(path) as db:
            return db.execute(
                "SELECT round, task, seed, content_hash FROM episodes ORDER BY round, task, seed"
            ).fetchall()
    except sqlite3.OperationalError:  # the writer has not created the table yet
        return []


def test_killed_run_resumes_without_losing_or_duplicating_episodes(tmp_path):
    out = tmp_path / "run"
    process = _train(out)
    deadline = time.time() + 300
    # Kill once round 1 has started storing episodes but has not finished.
    while time.time() < deadline and process.poll() is None:
        rows = _manifest(out)
        if any(r[0] == 1 for r in rows):
            break
        time.sleep(0.05)
    assert process.poll() is None, "training finished before it could be killed: " + process.stdout.read()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = _manifest(out)
    assert any(r[0] == 1 for r in before)
    assert not (out / "checkpoints" / "final").exists()

    resumed = _train(out, "--resume")
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output
    after = _manifest(out)

    keys = [(r[0], r[1], r[2]) for r in after]
    assert len(keys) == len(set(keys)), "an episode was stored twice"
    assert set(before) <= set(after), "a finished episode was lost or rewritten"
    # Round 0 and 1 each hold their full allocation; round 2 too.
    assert sum(1 for r in after if r[0] == 0) == 4
    assert sum(1 for r in after if r[0] == 1) == 6
    assert sum(1 for r in after if r[0] == 2) == 6
    assert (out / "checkpoints" / "final" / "model.safetensors").exists()
    assert "resum" in output.lower()
