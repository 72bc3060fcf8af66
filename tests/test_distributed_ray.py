"""Rollouts on a real Ray cluster on 127.0.0.1: a head and one more node, one CPU each.

- a small training run through the cluster stores exactly the episodes (content hashes) and
  measures exactly the numbers of the same run on the local pool;
- `bench schedulers --ray`: a (scheduler, seed) cell run as a Ray task after its seed's shared
  round 0 gives the unshared local run's numbers, and is read back from its folder next time;
- a rollout worker SIGKILLed mid-round: every episode arrives once (none lost, none twice), the
  killed worker's unfinished jobs are re-run by its restarted actor and counted, and the episodes
  are identical to the local pool's;
- a bad `--ray` is refused with one line before anything starts.

Ray is a dependency (pyproject.toml): on CI (CI=true) a missing ray fails here, never skips.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration
ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")

from mtdagger.distributed.ray_rollouts import RayRollouts  # noqa: E402
from mtdagger.training.config import config_from_dict  # noqa: E402
from mtdagger.training.rollout import RolloutJob, collect_episodes  # noqa: E402
from mtdagger.training.sim_setup import backend_config_for  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TASKS = ["reach-v3", "button-press-topdown-v3"]
TINY = {
    "name": "ray-tiny",
    "workers": 1,
    "sim": {"tasks": ",".join(TASKS), "max_episode_steps": 20},
    "student": {"architecture": "state", "config": {"task_embed_dim": 8, "hidden": [32, 32]}},
    "dagger": {
        "rounds": 1,
        "initial_episodes_per_task": 2,
        "budget_per_round": 4,
        "eval_episodes_per_task": 2,
    },
    "bc": {"epochs": 2},
}


@pytest.fixture(scope="module")
def cluster():
    """A head and a second node, as `ray start --head` + `ray start --address` would make them."""
    from ray.cluster_utils import Cluster

    os.environ.setdefault("MUJOCO_GL", "egl")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def _episodes_by_job(episodes) -> dict:
    return {(e.task_name, e.seed): e for e in episodes}


def _same(a, b) -> bool:
    fields = ("states", "privileged", "actions", "expert_actions", "actor_is_expert", "success_per_step")
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in fields)


def _config():
    from mtdagger.bench.schedulers import VARIANTS
    from mtdagger.bench.schedulers_cells import variant_config

    return variant_config(config_from_dict(TINY), VARIANTS["task_need"], "task_need", 0)


def _stored(run_dir: Path) -> dict:
    from mtdagger.data.store import EpisodeStore

    (run_id,) = EpisodeStore.run_ids_in(run_dir / "data")
    return {
        (r.round, r.task, r.seed): r.content_hash for r in EpisodeStore(run_dir / "data", run_id).records()
    }


def _numbers(metrics: list[dict]) -> list[dict]:
    """A run's metrics without its timings (the only numbers allowed to differ)."""
    timings = ("rollout_seconds", "train_seconds", "rollout_engine")
    as_saved = json.loads(json.dumps(metrics))  # as metrics.json holds them (a resumed run reads these)
    return [{k: v for k, v in m.items() if k not in timings} for m in as_saved]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The tiny training on this machine's pool: what every Ray variant must reproduce."""
    from mtdagger.training.runner import DaggerRunner

    run_dir = tmp_path_factory.mktemp("local") / "run"
    runner = DaggerRunner(_config(), run_dir)
    runner.train()
    return _stored(run_dir), runner.metrics


def test_a_training_run_through_the_cluster_stores_the_local_runs_episodes(cluster, local_run, tmp_path):
    from mtdagger.training.runner import DaggerRunner

    engine = RayRollouts(cluster.address, workers=2)
    try:
        runner = DaggerRunner(_config(), tmp_path / "ray", engine=engine)
        runner.train()
        nodes = {node for _, _, node in engine.worker_identities()}
    finally:
        engine.close()
    stored, metrics = local_run
    assert len(nodes) == 2  # one actor on the head, one on the second node
    assert len(stored) == 2 * 2 + 4 and _stored(tmp_path / "ray") == stored  # same bytes per episode
    assert _numbers(runner.metrics) == _numbers(metrics)
    assert runner.metrics[-1]["rollout_engine"]["rerun_jobs"] == 0


def test_bench_cells_on_the_cluster_share_round_0_and_give_the_unshared_run(cluster, local_run, tmp_path):
    from mtdagger.bench.schedulers_cells import run_cells_on_ray

    config = _config()
    cell_dir = tmp_path / "task_need-seed0"
    done = run_cells_on_ray(
        cluster.address, [("task_need", 0, config, cell_dir)], config_from_dict(TINY), tmp_path
    )
    stored, metrics = local_run
    assert (tmp_path / "round0-seed0" / "checkpoints" / "round_000").is_dir()  # round 0 ran once, shared
    assert _numbers(done[("task_need", 0)]) == _numbers(metrics)  # allocation, success, losses, scheduler
    assert set(_stored(cell_dir)) == set(stored)
    again = run_cells_on_ray(
        cluster.address, [("task_need", 0, config, cell_dir)], config_from_dict(TINY), tmp_path
    )
    assert _numbers(again[("task_need", 0)]) == _numbers(done[("task_need", 0)])  # cached: read back


def test_a_worker_killed_mid_round_loses_no_episode_and_duplicates_none(cluster):
    backend_config = backend_config_for(config_from_dict(TINY).sim, TASKS, render_depth=False)
    jobs = [
        RolloutJob(task=task, task_index=i, seed=1000 * i + j, beta=1.0, max_steps=40)
        for i, task in enumerate(TASKS)
        for j in range(4)
    ]
    engine = RayRollouts(cluster.address, workers=2)
    try:
        episodes = []
        for episode in collect_episodes(jobs, backend_config, None, None, engine=engine, progress=False):
            if not episodes:  # the first episode is back: the others are running or queued
                os.kill(engine.worker_identities()[0][1], signal.SIGKILL)
            episodes.append(episode)
        counts = engine.counts
    finally:
        engine.close()
    print(f"worker-kill counts: {counts.as_dict()}")
    by_job = _episodes_by_job(episodes)
    assert len(episodes) == len(by_job) == len(jobs)  # finished 8, duplicated 0
    assert set(by_job) == {(j.task, j.seed) for j in jobs}  # lost 0
    assert counts.restarts == 1 and counts.rerun_jobs >= 1 and counts.duplicates_dropped == 0
    local = _episodes_by_job(collect_episodes(jobs, backend_config, None, None, progress=False))
    assert all(_same(by_job[key], local[key]) for key in local)  # re-run episodes are the same


def test_a_bad_ray_address_is_refused_in_one_line(tmp_path):
    command = [sys.executable, "-m", "mtdagger.cli", "train", "--config", "configs/mt10-state-quick.yaml"]
    done = subprocess.run(
        [*command, "--out", str(tmp_path / "run"), "--ray", "not an address"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert "--ray" in done.stderr and not (tmp_path / "run").exists()


def test_the_ray_field_is_checked_like_every_other(tmp_path):
    assert dataclasses.replace(config_from_dict(TINY), ray="auto").ray == "auto"
    with pytest.raises(ValueError, match="ray"):
        config_from_dict({**TINY, "ray": "nowhere"})
