"""Episode store: round trip, idempotence, corruption detection, orphans, and SIGKILL survival."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from mtdagger.data.episode import Episode
from mtdagger.data.store import (
    MANIFEST_NAME,
    TEMP_PREFIX,
    CorruptEpisodeError,
    EpisodeStore,
    EpisodeStoreError,
)
from mtdagger.provenance import sha256_file

REPO_ROOT = Path(__file__).resolve().parents[1]


def make_episode(
    task: str = "reach-v3",
    seed: int = 0,
    steps: int = 6,
    privileged_dim: int = 7,
    num_points: int | None = 16,
    task_index: int = 0,
    succeed: bool = True,
) -> Episode:
    rng = np.random.default_rng(seed)
    actor = rng.random(steps) < 0.5
    success = np.zeros(steps, dtype=bool)
    success[-1] = succeed
    return Episode(
        task_name=task,
        task_index=task_index,
        seed=seed,
        beta=0.5,
        states=rng.normal(size=(steps, 4)).astype(np.float32),
        privileged=rng.normal(size=(steps, privileged_dim)).astype(np.float32),
        actions=rng.normal(size=(steps, 4)).astype(np.float32),
        expert_actions=rng.normal(size=(steps, 4)).astype(np.float32),
        actor_is_expert=actor,
        success_per_step=success,
        point_clouds=None
        if num_points is None
        else rng.normal(size=(steps, num_points, 3)).astype(np.float32),
        label_source="scripted-expert",
        student_checkpoint_id="abc123def456",
        metadata={"camera": "corner2", "noise": np.float32(0.25)},
    )


def assert_same_episode(a: Episode, b: Episode) -> None:
    for name in (
        "states",
        "privileged",
        "actions",
        "expert_actions",
        "actor_is_expert",
        "success_per_step",
    ):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert getattr(a, name).dtype == getattr(b, name).dtype
    if a.point_clouds is None:
        assert b.point_clouds is None
    else:
        np.testing.assert_array_equal(a.point_clouds, b.point_clouds)
    for name in ("task_name", "task_index", "seed", "beta", "label_source", "student_checkpoint_id"):
        assert getattr(a, name) == getattr(b, name)


def npz_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*.npz")}


def test_add_and_load_round_trip_with_provenance(tmp_path):
    episode = make_episode(seed=3)
    with EpisodeStore(tmp_path, "run-a") as store:
        record = store.add(episode, round=2)
        loaded = store.load(record)
    assert_same_episode(episode, loaded)
    assert loaded.metadata == {"camera": "corner2", "noise": 0.25}
    assert record.run_id == "run-a" and record.round == 2 and record.task == "reach-v3"
    assert record.expert_steps == int(episode.actor_is_expert.sum())
    assert record.num_steps == 6 and record.success is True and record.beta == 0.5
    assert record.student_checkpoint_id == "abc123def456" and record.label_source == "scripted-expert"
    assert not Path(record.path).is_absolute()
    assert record.content_hash == sha256_file(tmp_path / record.path)
    # The file is a plain npz readable without pickle.
    with np.load(tmp_path / record.path, allow_pickle=False) as archive:
        assert "meta_json" in archive.files


def test_add_is_idempotent_on_run_round_task_seed(tmp_path):
    store = EpisodeStore(tmp_path, "run-a")
    first = store.add(make_episode(seed=1), round=0)
    # Same key, different content (a resumed run re-rolling the same episode): the stored one stands.
    again = store.add(make_episode(seed=1, steps=9), round=0)
    assert again == first
    assert len(store) == 1
    assert npz_files(tmp_path) == {first.path}
    # A different round is a different key.
    other_round = store.add(make_episode(seed=1), round=1)
    assert other_round.episode_id != first.episode_id
    assert len(store) == 2


def test_records_are_ordered_filtered_and_persist_across_reopen(tmp_path):
    store = EpisodeStore(tmp_path, "run-a")
    keys = [(1, "push-v3", 1, 5), (0, "reach-v3", 0, 2), (0, "push-v3", 1, 0), (0, "reach-v3", 0, 1)]
    for round_, task, index, seed in keys:
        store.add(make_episode(task=task, task_index=index, seed=seed), round=round_)
    order = [(r.round, r.task, r.seed) for r in store.records()]
    assert order == [(0, "reach-v3", 1), (0, "reach-v3", 2), (0, "push-v3", 0), (1, "push-v3", 5)]
    assert [r.seed for r in store.records(round=0, task="reach-v3")] == [1, 2]
    assert [r.seed for r in store.records(task="push-v3")] == [0, 5]
    assert store.has(1, "push-v3", 5) and not store.has(1, "push-v3", 0)
    before = store.records()
    store.close()
    reopened = EpisodeStore(tmp_path, "run-a")
    assert reopened.records() == before
    assert len(reopened) == 4


def test_runs_sharing_a_root_are_scoped(tmp_path):
    a, b = EpisodeStore(tmp_path, "run-a"), EpisodeStore(tmp_path, "run-b")
    a.add(make_episode(seed=0), round=0)
    b.add(make_episode(seed=0), round=0)
    b.add(make_episode(seed=1), round=0)
    assert len(a) == 1 and len(b) == 2
    assert {r.run_id for r in b.records()} == {"run-b"}
    # Files of another run are not orphans.
    assert a.orphans() == []


def test_dataset_hash_depends_on_contents_not_order(tmp_path):
    one, two = EpisodeStore(tmp_path / "one", "r"), EpisodeStore(tmp_path / "two", "r")
    for seed in (0, 1, 2):
        one.add(make_episode(seed=seed), round=0)
    for seed in (2, 0, 1):
        two.add(make_episode(seed=seed), round=0)
    assert one.dataset_hash() == two.dataset_hash()
    subset = one.records()[:2]
    assert one.dataset_hash(subset) != one.dataset_hash()
    two.add(make_episode(seed=3), round=0)
    assert one.dataset_hash() != two.dataset_hash()


def test_corrupted_and_missing_files_are_detected(tmp_path):
    store = EpisodeStore(tmp_path, "run-a")
    good = store.add(make_episode(seed=0), round=0)
    corrupt = store.add(make_episode(seed=1), round=0)
    missing = store.add(make_episode(seed=2), round=0)
    path = tmp_path / corrupt.path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    (tmp_path / missing.path).unlink()

    with pytest.raises(CorruptEpisodeError, match="content_hash"):
        store.load(corrupt)
    with pytest.raises(EpisodeStoreError, match="missing"):
        store.load(missing)
    assert_same_episode(store.load(good), make_episode(seed=0))
    problems = {record.seed for record, _ in store.verify()}
    assert problems == {1, 2}


def test_orphans_are_ignored_and_cleaned(tmp_path):
    store = EpisodeStore(tmp_path, "run-a")
    kept = store.add(make_episode(seed=0), round=0)
    directory = (tmp_path / kept.path).parent
    # A complete, valid episode file that never got its manifest row, and a half-written temp file.
    stray = directory / "seed_7_deadbeef0000.npz"
    stray.write_bytes((tmp_path / kept.path).read_bytes())
    half = directory / f"{TEMP_PREFIX}abc.part"
    half.write_bytes(b"PK\x03\x04 half")

    assert [r.path for r in store.records()] == [kept.path]
    assert not store.has(0, "reach-v3", 7)
    expected = sorted(p.relative_to(tmp_path).as_posix() for p in (stray, half))
    assert store.cleanup_orphans(dry_run=True) == expected
    assert stray.exists()
    assert store.cleanup_orphans() == expected
    assert not stray.exists() and not half.exists()
    assert_same_episode(store.load(kept), make_episode(seed=0))


def test_bad_input_is_refused_without_writing(tmp_path):
    store = EpisodeStore(tmp_path, "run-a")
    with pytest.raises(ValueError, match="round"):
        store.add(make_episode(), round=-1)
    with pytest.raises(ValueError, match="round"):
        store.add(make_episode(), round=True)
    bad_metadata = make_episode(seed=4)
    object.__setattr__(bad_metadata, "metadata", {"fn": object()})
    with pytest.raises(ValueError, match="metadata"):
        store.add(bad_metadata, round=0)
    object_states = make_episode(seed=5)
    object.__setattr__(object_states, "states", object_states.states.astype(object))
    with pytest.raises(ValueError, match="states"):
        store.add(object_states, round=0)
    with pytest.raises(TypeError, match="Episode"):
        store.add({"task": "reach"}, round=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="run_id"):
        EpisodeStore(tmp_path, "")
    assert len(store) == 0
    assert npz_files(tmp_path) == set()
    assert store.orphans() == []


def test_task_names_cannot_escape_the_store(tmp_path):
    store = EpisodeStore(tmp_path / "store", "../run")
    record = store.add(make_episode(task="../../etc/evil", seed=0), round=0)
    resolved = (tmp_path / "store" / record.path).resolve()
    assert resolved.is_relative_to((tmp_path / "store").resolve())
    assert store.load(record).task_name == "../../etc/evil"


# --------------------------------------------------------------------------- SIGKILL test

_CHILD = r"""
import os, sys, time
import numpy as np
from mtdagger.data import durable_write
from mtdagger.data import store as store_module
from mtdagger.data.episode import Episode

root, mode, arm_after, last_seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
state = {"adds": 0, "seed": None}

def pause(tag):
    print(f"{tag} {state['seed']}", flush=True)
    time.sleep(120)

def armed():
    return state["adds"] >= arm_after

if mode == "in_write":
    real_write = durable_write._write_synced
    def half_then_pause(handle, data):
        if not armed():
            return real_write(handle, data)
        handle.write(data[: len(data) // 2]); handle.flush(); os.fsync(handle.fileno())
        pause("IN_WRITE")
    durable_write._write_synced = half_then_pause
elif mode == "after_rename":
    real_replace = os.replace
    def replace_then_pause(src, dst, *a, **k):
        real_replace(src, dst, *a, **k)
        if armed() and str(dst).endswith(".npz"):
            pause("RENAMED")
    os.replace = replace_then_pause

def make(seed):
    rng = np.random.default_rng(seed)
    steps = 12
    return Episode(
        task_name="reach-v3" if seed % 2 else "push-v3", task_index=seed % 2, seed=seed, beta=1.0,
        states=rng.normal(size=(steps, 4)).astype(np.float32),
        privileged=rng.normal(size=(steps, 39)).astype(np.float32),
        actions=rng.normal(size=(steps, 4)).astype(np.float32),
        expert_actions=rng.normal(size=(steps, 4)).astype(np.float32),
        actor_is_expert=np.ones(steps, dtype=bool), success_per_step=np.zeros(steps, dtype=bool),
        point_clouds=rng.normal(size=(steps, 512, 3)).astype(np.float32),
    )

store = store_module.EpisodeStore(root, "killed-run")
print("READY", flush=True)
for seed in range(last_seed):
    state["seed"] = seed
    existed = store.has(0, make(seed).task_name, seed)
    record = store.add(make(seed), round=0)
    if not existed:
        state["adds"] += 1
    print(f"ADDED {seed} {record.content_hash}", flush=True)
print("DONE", flush=True)
"""


def _start_child(root: Path, mode: str, arm_after: int, last_seed: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), mode, str(arm_after), str(last_seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=env,
    )


def _run_until(child: subprocess.Popen, tag: str, acknowledged: dict[int, str]) -> int | None:
    """Read the child's lines until one starts with `tag`; record ADDED lines; return its seed."""
    watchdog = threading.Timer(60.0, child.kill)  # a hung child must not hang the suite
    watchdog.start()
    try:
        for line in child.stdout:
            parts = line.split()
            if parts and parts[0] == "ADDED":
                acknowledged[int(parts[1])] = parts[2]
            if parts and parts[0] == tag:
                return int(parts[1]) if len(parts) > 1 and parts[1] != "None" else None
    finally:
        watchdog.cancel()
    raise AssertionError(f"child ended before {tag!r}: {child.stderr.read()}")


def _kill_and_collect(child: subprocess.Popen, acknowledged: dict[int, str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    remaining, _ = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    for line in remaining.splitlines():
        parts = line.split()
        if parts and parts[0] == "ADDED":
            acknowledged[int(parts[1])] = parts[2]


def test_sigkilled_writer_loses_no_acknowledged_episode(tmp_path):
    root = tmp_path / "store"
    last_seed = 400
    acknowledged: dict[int, str] = {}
    rng = random.Random(20240607)

    # Killed at random moments (often mid-serialisation or mid-write, given the file sizes).
    for _ in range(4):
        child = _start_child(root, "random", arm_after=0, last_seed=last_seed)
        _run_until(child, "READY", acknowledged)
        threading.Event().wait(rng.uniform(0.05, 0.4))
        _kill_and_collect(child, acknowledged)

    # Killed deterministically with half an episode written to its temp file...
    child = _start_child(root, "in_write", arm_after=2, last_seed=last_seed)
    half_written_seed = _run_until(child, "IN_WRITE", acknowledged)
    _kill_and_collect(child, acknowledged)
    with EpisodeStore(root, "killed-run") as store:
        half_written_task = "reach-v3" if half_written_seed % 2 else "push-v3"
        assert not store.has(0, half_written_task, half_written_seed)
        temp_files = [p for p in store.orphans() if Path(p).name.startswith(TEMP_PREFIX)]
        assert any(f"/{half_written_task}/" in p for p in temp_files)
    # ...and after the rename, before the manifest row was committed.
    child = _start_child(root, "after_rename", arm_after=2, last_seed=last_seed)
    unrecorded_seed = _run_until(child, "RENAMED", acknowledged)
    _kill_and_collect(child, acknowledged)

    store = EpisodeStore(root, "killed-run")
    assert acknowledged, "no add() returned before the kills; the test proved nothing"
    for seed, content_hash in acknowledged.items():
        task = "reach-v3" if seed % 2 else "push-v3"
        record = store.get(0, task, seed)
        assert record is not None, f"acknowledged seed {seed} lost"
        assert record.content_hash == content_hash
    assert store.verify() == []  # every committed row is complete and hash-valid
    with sqlite3.connect(root / MANIFEST_NAME) as db:
        duplicates = db.execute(
            "SELECT run_id, round, task, seed FROM episodes GROUP BY 1, 2, 3, 4 HAVING COUNT(*) > 1"
        ).fetchall()
    assert duplicates == []

    # The half-written temp file and the renamed-but-unrecorded file are orphans, not episodes.
    orphans = store.orphans()
    assert any(Path(p).name.startswith(TEMP_PREFIX) for p in orphans)
    unrecorded_task = "reach-v3" if unrecorded_seed % 2 else "push-v3"
    assert not store.has(0, unrecorded_task, unrecorded_seed)
    assert any(Path(p).name.startswith(f"seed_{unrecorded_seed}_") for p in orphans)
    recorded_paths = {r.path for r in store.records()}
    assert recorded_paths.isdisjoint(orphans)

    # Resume: re-adding the whole plan completes it, each key exactly once.
    resumed = _start_child(root, "random", arm_after=0, last_seed=40)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    store.cleanup_orphans()
    seeds = [r.seed for r in store.records()]
    assert len(seeds) == len(set(seeds)) == len(store)
    assert set(seeds) >= set(range(40))
    assert npz_files(root) == {r.path for r in store.records()}
    assert store.verify() == []
