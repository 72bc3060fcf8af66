"""Training inputs (issue 21): YAML read by one strict loader, budgets the rounds can use, numbers
YAML reads as text, damaged resume files, and results that do not depend on --workers.

`DaggerRunner` is replaced by a stand-in that fails the test if reached: before the fixes, some
of these configs started a run.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import yaml
from bad_input_support import REPO, assert_refused, save_tiny_checkpoint
from test_house_rules import first_party_files

from mtdagger import keys
from mtdagger.control.robot_config import load_robot_config
from mtdagger.files import YamlError, load_yaml
from mtdagger.training.config import load_train_config
from mtdagger.training.run_folder import RunFolder

QUICK = str(REPO / "configs" / "mt10-state-quick.yaml")


@pytest.fixture
def no_training(monkeypatch):
    import mtdagger.training.runner as runner

    def started(*args, **kwargs):
        raise AssertionError("training started: the bad input was accepted")

    monkeypatch.setattr(runner, "DaggerRunner", started)


# ------------------------------------------------------------------ one strict YAML loader


def test_a_duplicated_section_is_refused_not_half_dropped(capsys, tmp_path, no_training):
    preset = tmp_path / "preset.yaml"
    preset.write_text("name: x\ndagger:\n  rounds: 1\nbc:\n  lr: 0.1\ndagger:\n  budget_per_round: 4\n")
    argv = ["train", "--config", str(preset), "--out", str(tmp_path / "run")]
    line = assert_refused(capsys, argv, "dagger")
    assert "duplicate key 'dagger'" in line and "line 6" in line and "first given at line 2" in line
    assert not (tmp_path / "run").exists()


def test_every_yaml_file_of_the_project_goes_through_the_one_loader(tmp_path):
    robot = yaml.safe_load((REPO / "configs/robots/franka_fr3.yaml").read_text())
    text = yaml.safe_dump(robot, sort_keys=False)
    path = tmp_path / "robot.yaml"
    path.write_text(text + "safety:\n  max_speed_m_s: 0.5\n")  # a second safety section at the end
    with pytest.raises(ValueError, match=r"robot config .*duplicate key 'safety'"):
        load_robot_config(path)
    with pytest.raises(YamlError, match="duplicate key 'a'"):
        load_yaml("{a: 1, b: 2, a: 3}")
    assert load_yaml("base: &b {x: 1}\nderived:\n  <<: *b\n  x: 2\n")["derived"] == {"x": 2}  # merge keys


def test_no_module_reads_yaml_around_the_loader():
    calls = re.compile(r"\byaml\.(safe_load|load|full_load|unsafe_load)\(")
    offenders = [
        str(path.relative_to(REPO))
        for path in first_party_files()
        if path.relative_to(REPO).as_posix() != "mtdagger/files.py" and calls.search(path.read_text())
    ]
    assert not offenders, f"use mtdagger.files.load_yaml (refuses duplicated keys) in {offenders}"


# ------------------------------------------------------------------ numbers and budgets


def test_a_float_yaml_reads_as_text_gets_the_spelling_that_works(capsys, tmp_path, no_training):
    preset = yaml.safe_load((REPO / "configs/mt10-state-quick.yaml").read_text())
    path = tmp_path / "preset.yaml"
    path.write_text(yaml.safe_dump(preset).replace("lr: 0.001", "lr: 1e-3"))
    assert "lr: 1e-3" in path.read_text()
    line = assert_refused(capsys, ["train", "--config", str(path), "--out", str(tmp_path / "r")], "bc.lr")
    assert "write 0.001 or 1.0e-3" in line


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ("dagger.budget_per_round=0", "dagger.budget_per_round=0"),
        ("scheduler.min_per_task=3", "scheduler.min_per_task=3 x 10 task(s) = 30 exceeds"),
    ],
)
def test_a_round_budget_the_rounds_cannot_use_is_refused(capsys, tmp_path, no_training, override, names):
    out = tmp_path / "run"
    assert_refused(capsys, ["train", "--config", QUICK, "--out", str(out), "--set", override], names)
    assert not out.exists()


def test_behaviour_cloning_only_may_have_no_round_budget():
    from mtdagger.training.preflight import preflight

    config = load_train_config(QUICK, ["dagger.rounds=0", "dagger.budget_per_round=0"])
    assert len(preflight(config)) == 10


# ------------------------------------------------------------------ resume from damaged files


def _run_folder(tmp_path):
    from mtdagger.data.store import EpisodeStore

    config = load_train_config(QUICK, [])
    run = RunFolder(tmp_path / "run")
    run.create(config.to_dict(), resume=False)
    run.save_state({"run_id": "r1", "completed_round": -1, "scheduler": None})
    EpisodeStore(run.data_dir, "r1").close()
    return run


def test_resume_on_a_truncated_manifest_is_refused_naming_it(capsys, tmp_path, no_training):
    run = _run_folder(tmp_path)
    manifest = run.data_dir / "manifest.sqlite"
    for leftover in manifest.parent.glob("manifest.sqlite-*"):
        leftover.unlink()
    manifest.write_bytes(manifest.read_bytes()[:5000])
    argv = ["train", "--config", QUICK, "--out", str(run.root), "--resume"]
    line = assert_refused(capsys, argv, str(manifest), watch=(run.root,))
    assert "damaged" in line


def test_resume_on_a_truncated_state_names_the_file(capsys, tmp_path, no_training):
    run = _run_folder(tmp_path)
    run.state_path.write_text('{"run_id": "r1", "compl')
    argv = ["train", "--config", QUICK, "--out", str(run.root), "--resume"]
    line = assert_refused(capsys, argv, str(run.state_path), watch=(run.root,))
    assert "not valid JSON" in line


def test_a_sound_run_folder_passes_the_resume_check(tmp_path):
    from mtdagger.data.store import EpisodeStore, check_manifest

    _run_folder(tmp_path).check_resumable()
    writer = EpisodeStore(tmp_path / "killed", "r1")  # a killed run's state: the table is in the -wal
    try:
        assert (tmp_path / "killed" / "manifest.sqlite-wal").stat().st_size > 0
        check_manifest(tmp_path / "killed")
    finally:
        writer.close()


# ------------------------------------------------------------------ results independent of --workers


class _Backend:
    """Three steps of zeros; records the torch thread count the student acted under."""

    max_episode_steps = 3

    def __init__(self, threads: list[int]) -> None:
        self.threads, self.steps = threads, 0

    def reset(self, task, seed):
        self.steps = 0
        return {keys.STATE: np.zeros(4, np.float32), keys.PRIVILEGED: np.zeros(39, np.float32)}

    def step(self, action):
        from sim_bridge.backend import StepResult

        self.threads.append(torch.get_num_threads())
        self.steps += 1
        return StepResult(self.reset("", 0), False, self.steps >= 3)

    def make_expert(self, task):
        return type("Expert", (), {"act": staticmethod(lambda privileged: np.zeros(4, np.float32))})()

    def close(self):
        pass


def test_in_process_rollouts_leave_the_training_threads_alone(tmp_path):
    """workers=1 rolls out in the training process: the student acted on one thread and BC's
    thread count came back (it stayed at 1, so BC, and a resume, depended on --workers)."""
    from mtdagger.policy.student import CheckpointStudentFactory
    from mtdagger.training.rollout import RolloutJob, collect_episodes

    save_tiny_checkpoint(tmp_path / "ck")
    threads: list[int] = []
    config = type("Config", (), {"build": lambda self: _Backend(threads)})()
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        job = RolloutJob(task="reach-v3", task_index=0, seed=0, beta=0.0)
        factory = CheckpointStudentFactory(str(tmp_path / "ck"))
        (episode,) = collect_episodes([job], config, factory, None, workers=1, progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert episode.num_steps == 3 and threads == [1, 1, 1]
