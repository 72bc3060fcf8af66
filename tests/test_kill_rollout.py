"""SIGKILL `mtdagger rollout --out` mid-run, re-run it: nothing lost, nothing duplicated, no bad file.

Two moments (MTDAGGER_TEST_PAUSE_AT, see mtdagger/testing_hooks.py): after 3 of 4 episodes are on
disk, and between a task's cloud PNG and its .npz. The re-run must keep the finished episodes
byte-identical, run only the missing one, and leave no 0-byte, temp or mismatched file; its
episodes must equal those of an uninterrupted rollout.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
ARGS = ["rollout", "--tasks", "reach-v3,drawer-open-v3", "--episodes", "2", "--max-steps", "15"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MTDAGGER_TEST_")}
    return dict(env, MUJOCO_GL="egl", PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO), **extra)


def _rollout(out: Path, **env: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "mtdagger.cli", *ARGS, "--out", str(out)]
    return subprocess.Popen(
        command, env=_env(**env), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _files(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in out.rglob("*")
        if p.is_file()
    }


def _kill_at(out: Path, moment: str, marker: Path) -> None:
    process = _rollout(out, MTDAGGER_TEST_PAUSE_AT=moment, MTDAGGER_TEST_PAUSE_FILE=str(marker))
    deadline = time.time() + 180
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if not marker.exists():
        process.kill()
        pytest.fail(f"rollout never reached {moment!r}: {process.communicate()[0][-3000:]}")
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()


def _finish(out: Path) -> str:
    process = _rollout(out)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
    return output


def _check_folder(out: Path) -> None:
    files = _files(out)
    assert not [name for name in files if ".tmp-" in name], "a temp file was left"
    assert all((out / name).stat().st_size > 0 for name in files), "a 0-byte file was left"
    episodes = sorted(name for name in files if name.startswith("episodes/"))
    assert episodes == [
        f"episodes/{task}/seed_{seed}.npz" for task in ("drawer-open-v3", "reach-v3") for seed in (0, 1)
    ]
    for task in ("reach-v3", "drawer-open-v3"):
        with np.load(out / f"{task}_cloud.npz") as cloud:
            assert str(cloud["task"]) == task and int(cloud["seed"]) == 0
        assert (out / f"{task}_cloud.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rollout_out_killed_mid_run_and_mid_cloud_resumes_without_loss(tmp_path):
    out = tmp_path / "out"
    _kill_at(out, "rollout-out:3", tmp_path / "paused-episodes")
    stored = {k: v for k, v in _files(out).items() if k.startswith("episodes/")}
    assert len(stored) == 3, "each finished episode must be on disk as soon as it finishes"

    _kill_at(out, "rollout-cloud:reach-v3", tmp_path / "paused-cloud")  # resumes, then dies mid-pair
    after_first_resume = _files(out)
    for name, digest in stored.items():
        assert after_first_resume[name] == digest, f"finished episode {name} was rewritten"
    assert "reach-v3_cloud.png" in after_first_resume and "reach-v3_cloud.npz" not in after_first_resume

    output = _finish(out)
    assert "resume" in output
    _check_folder(out)
    final = _files(out)
    for name, digest in stored.items():
        assert final[name] == digest

    reference = tmp_path / "reference"
    _finish(reference)
    _check_folder(reference)
    reference_files = _files(reference)
    for name in final:
        if name.startswith("episodes/"):
            assert final[name] == reference_files[name], f"{name} differs from an uninterrupted rollout"
    assert json.loads((out / "rollout.json").read_text()) == json.loads(
        (reference / "rollout.json").read_text()
    )
