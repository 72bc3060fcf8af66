"""`mtdagger eval`, `mtdagger deploy` and the rehearsal's FR3 cell reset the same scenes for the
same seed, so a rehearsal through the ROS graph pairs with the in-process evaluation episode by
episode (before, the cell used seed + i for every task while eval offset each task by 1000)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest

from mtdagger.data.episode import Episode
from mtdagger.training.evaluate import evaluate_student
from sim_bridge.fr3.cell import FR3CellConfig

REPO = Path(__file__).resolve().parents[1]
RUN_TASKS = ["drawer-open", "drawer-close"]  # the FR3 presets' checkpoints


class _RecordSeeds:
    """A rollout engine that records the reset seed of every job and succeeds at once."""

    def __init__(self):
        self.seeds: dict[str, list[int]] = {}

    def collect(self, jobs, backend_config, student_factory, contract, *, progress):
        for job in jobs:
            self.seeds.setdefault(job.task, []).append(job.seed)
            yield Episode(
                task_name=job.task, task_index=job.task_index, seed=job.seed, beta=job.beta,
                states=np.zeros((1, 4), np.float32), privileged=np.zeros((1, 2), np.float32),
                actions=np.zeros((1, 4), np.float32), expert_actions=np.zeros((1, 4), np.float32),
                actor_is_expert=np.zeros(1, bool), success_per_step=np.ones(1, bool),
                metadata={"first_success_step": 0},
            )  # fmt: skip


class _DeclaredDefaults:
    """Stands for the node in `declare_parameter` calls: keeps each parameter's default."""

    def __init__(self):
        self.defaults: dict[str, object] = {}

    def declare_parameter(self, name, value):
        self.defaults[name] = value


def _eval_seeds(tasks: list[str], seed: int, episodes: int) -> dict[str, list[int]]:
    engine = _RecordSeeds()
    evaluate_student(
        lambda: None, None, tasks, RUN_TASKS, episodes=episodes, seed=seed, contract=None,
        max_steps=None, engine=engine,
    )  # fmt: skip
    return engine.seeds


def _cell_seeds(config: FR3CellConfig) -> dict[tuple[str, str], list[int]]:
    seeds: dict[tuple[str, str], list[int]] = {}
    for split, task, seed in config.schedule():
        seeds.setdefault((split, task), []).append(seed)
    return seeds


def test_the_cell_resets_evals_scenes_for_every_task_and_split():
    evaluated = _eval_seeds(RUN_TASKS, seed=10000, episodes=3)
    assert evaluated == {"drawer-open": [10000, 10001, 10002], "drawer-close": [11000, 11001, 11002]}
    cell = FR3CellConfig(tasks=tuple(RUN_TASKS), objects="both", episodes_per_task=3, seed=10000)
    for split in ("seen", "unseen"):
        assert {task: _cell_seeds(cell)[split, task] for task in RUN_TASKS} == evaluated


def test_a_task_run_alone_keeps_its_scenes_when_the_cell_knows_the_checkpoints_task_order():
    evaluated = _eval_seeds(["drawer-close"], seed=500, episodes=2)
    assert evaluated == {"drawer-close": [1500, 1501]}
    cell = FR3CellConfig(tasks=("drawer-close",), seed_tasks=tuple(RUN_TASKS), objects="seen",
                         episodes_per_task=2, seed=500)  # fmt: skip
    assert _cell_seeds(cell) == {("seen", "drawer-close"): [1500, 1501]}


def test_the_cell_refuses_a_seed_order_without_its_tasks_and_more_episodes_than_the_stride():
    with pytest.raises(ValueError, match="seed_tasks"):
        FR3CellConfig(tasks=("drawer-close",), seed_tasks=("drawer-open",))
    with pytest.raises(ValueError, match="episodes_per_task"):
        FR3CellConfig(episodes_per_task=1001)


def test_the_rehearse_command_gives_the_cell_the_checkpoints_task_order(tmp_path):
    sys.path.insert(0, str(REPO / "policy_node" / "test"))
    from tiny_checkpoint import save_tiny_fr3_checkpoint

    from mtdagger.commands.rehearse import _checked_settings
    from mtdagger.rehearsal.graph import CELL, rehearsal_parameters
    from sim_bridge.ros.fr3_cell_node import _declare_parameters, cell_config_from

    checkpoint = save_tiny_fr3_checkpoint(tmp_path / "tiny")
    args = argparse.Namespace(
        checkpoint=str(checkpoint), bag=str(tmp_path / "bag"), report=None, tasks="drawer-close",
        objects="unseen", episodes=2, seed=10000, max_steps=120, set=None, timeout=60.0,
        calibration_file=str(REPO / "configs/calibration/fr3_cell.yaml"),
        camera_config=str(REPO / "configs/cameras/fr3_d435.yaml"),
    )  # fmt: skip
    settings, _ = _checked_settings(args)
    parameters = rehearsal_parameters(settings)[CELL]
    assert parameters["seed_tasks"] == "drawer-open,drawer-close"
    node = _DeclaredDefaults()
    _declare_parameters(node)  # what the cell node reads: its defaults, then the rehearsal's values
    cell = cell_config_from(lambda name: {**node.defaults, **parameters}[name])
    assert _cell_seeds(cell) == {("unseen", "drawer-close"): [11000, 11001]}


@pytest.mark.parametrize("command", ["eval", "deploy", "rehearse"])
def test_more_episodes_than_a_task_has_seeds_is_a_one_line_error(command, tmp_path, capsys):
    from mtdagger.cli import main

    flags = ["--bag", str(tmp_path / "bag")] if command == "rehearse" else []
    code = main([command, "--checkpoint", str(tmp_path / "none"), "--episodes", "1001", *flags])
    err = capsys.readouterr().err
    assert code == 2 and "--episodes" in err and "1000" in err and "Traceback" not in err
