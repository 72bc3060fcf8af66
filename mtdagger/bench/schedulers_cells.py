"""The cells of `mtdagger bench schedulers`: one (scheduler, seed) run each, here or on Ray.

Round 0 is shared by the schedulers of one seed. It does not depend on the scheduler: every
task gets `initial_episodes_per_task` expert demonstrations, BC and the β = 0 evaluation use
seeds that depend on the run seed and round only. So it runs once per seed, in
`<out>/round0-seed<i>/`, and each scheduler's run folder starts from a copy of its episode store
and round-0 checkpoint, with the scheduler's state after round 0 replayed from the recorded
evaluation (algorithm.task_feedback: the same numbers the algorithm would have given it). The
run then resumes at round 1 exactly as an interrupted run would (DaggerRunner's resume), so it
is the run it would have been (tests/test_distributed_bench.py compares the two). A scheduler
that reads the student's embeddings (AMF) cannot be replayed from numbers: it starts from the
copy with round 0 not yet completed, so it reuses the episodes and the checkpoint and re-runs
only round 0's evaluation.

With `--ray ADDRESS` each round 0 and each cell is a Ray task (a cell depends on its seed's round
0); the cells' run folders are written by the nodes running them, so `--out` must be a path
every node sees alike (a shared filesystem) for the cache to work across nodes
(docs/distributed.md). Results (each run's metrics) come back to the driver either way.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

from mtdagger.scheduling import make_scheduler, scheduler_config_like
from mtdagger.training.config import TrainConfig

SHARED_ROUND0 = "round0-seed{seed}"


def variant_config(base: TrainConfig, variant: dict, label: str, seed: int) -> TrainConfig:
    fields = dict(variant)
    scheduler = scheduler_config_like(base.scheduler, fields.pop("name"), **fields)
    return dataclasses.replace(base, scheduler=scheduler, seed=seed, name=f"{base.name}-{label}")


def shared_round0(base: TrainConfig, seed: int, out: Path) -> Path:
    """Run (or read back) seed `seed`'s round 0 once; returns its run folder."""
    from mtdagger.training.runner import DaggerRunner

    run_dir = out / SHARED_ROUND0.format(seed=seed)
    if not (run_dir / "checkpoints" / "final").exists():
        config = dataclasses.replace(
            base, seed=seed, name=f"{base.name}-round0", dagger=dataclasses.replace(base.dagger, rounds=0)
        )
        DaggerRunner(config, run_dir, resume=run_dir.exists()).train()
    return run_dir


def seed_from_round0(config: TrainConfig, run_dir: Path, shared: Path) -> None:
    """Start `run_dir` from the shared round 0 (module doc); a folder that exists is left alone
    (it was seeded already and is resumed as it is). Built aside, then renamed: a kill leaves
    either no folder or a complete one."""
    from mtdagger.training.algorithm import task_feedback
    from mtdagger.training.run_folder import RunFolder
    from mtdagger.training.sim_setup import resolve_run_tasks

    if run_dir.exists():
        return
    source, temp = RunFolder(shared), RunFolder(run_dir.with_name(f".seeding-{run_dir.name}"))
    shutil.rmtree(temp.root, ignore_errors=True)
    temp.create(config.to_dict(), resume=False)
    shutil.rmtree(temp.data_dir)
    shutil.copytree(source.data_dir, temp.data_dir)
    shutil.copytree(source.checkpoint_dir(0), temp.checkpoint_dir(0))
    round0, run_id = source.load_metrics()[0], source.load_state()["run_id"]
    tasks = resolve_run_tasks(config.sim)
    scheduler = make_scheduler(tasks, config.scheduler)
    if scheduler.wants_embeddings:  # replayed by the runner itself (module doc)
        temp.save_state({"run_id": run_id, "completed_round": -1, "scheduler": None})
    else:
        measured = round0["eval_success"]
        rollouts = {task: config.dagger.eval_episodes_per_task for task in measured}
        scheduler.update(task_feedback(tasks, measured, rollouts, {}, {}))
        temp.save_metrics([{**round0, "scheduler": scheduler.diagnostics()}])
        temp.save_state({"run_id": run_id, "completed_round": 0, "scheduler": scheduler.state_dict()})
    temp.root.rename(run_dir)


def run_cell(config: TrainConfig, run_dir: Path, shared: Path | None) -> list[dict]:
    """One (scheduler, seed) run: read back when finished, else seeded from round 0 and run."""
    from mtdagger.training.runner import DaggerRunner

    if (run_dir / "checkpoints" / "final").exists():  # finished earlier: reuse (benchmarks are long)
        return json.loads((run_dir / "metrics.json").read_text())
    if shared is not None:
        seed_from_round0(config, run_dir, shared)
    loop = DaggerRunner(config, run_dir, resume=run_dir.exists())
    loop.train()
    return loop.metrics


def run_cells_on_ray(
    address: str, cells: list[tuple[str, int, TrainConfig, Path]], base: TrainConfig, out: Path
):
    """Every cell as a Ray task, each seed's round 0 first; returns {(label, seed): metrics}."""
    import ray

    from mtdagger.distributed.ray_rollouts import connect

    connect(address)
    cwd = os.getcwd()  # presets name files relative to the checkout (same path on every node)
    options = {"num_cpus": base.workers, "max_retries": 2}
    round0 = ray.remote(**options)(_in_checkout)
    cell = ray.remote(**options)(_in_checkout)
    shared = {
        seed: round0.remote(cwd, shared_round0, base, seed, out)
        for seed in sorted({s for _, s, _, _ in cells})
    }
    refs = {
        (label, seed): cell.remote(cwd, _cell_after, config, run_dir, shared[seed])
        for label, seed, config, run_dir in cells
    }
    return dict(zip(refs, ray.get(list(refs.values())), strict=True))


def _cell_after(config: TrainConfig, run_dir: Path, shared: Path) -> list[dict]:
    return run_cell(config, run_dir, shared)


def _in_checkout(cwd: str, function: Any, *args: Any) -> Any:
    """Run `function(*args)` in a Ray worker, from the checkout the driver runs in."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.chdir(cwd)
    return function(*args)
