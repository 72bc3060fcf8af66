"""Checkpoints meet commands (issue 21): the simulator a checkpoint was trained in, its sidecar,
its path, the task list asked for, and deploy's calibration error.

Every refusal comes before a simulator is built: `build_sim_deployment` and `evaluate_student` are
replaced by stand-ins that fail the test if reached (before the fixes, some of these inputs ran).
"""

from __future__ import annotations

import json

import pytest
from bad_input_support import assert_refused, save_tiny_checkpoint

from mtdagger.cli import main
from mtdagger.policy.checkpoint import CheckpointError, load_checkpoint


def _edit_sidecar(directory, **changes) -> None:
    sidecar = directory / "checkpoint.json"
    meta = json.loads(sidecar.read_text())
    for key, value in changes.items():
        if key == "sim_backend":
            meta["provenance"]["sim_backend"] = value
        else:
            meta[key] = value
    sidecar.write_text(json.dumps(meta))


@pytest.fixture
def fr3_checkpoint(tmp_path):
    """A point-cloud checkpoint trained (as its provenance says) in the FR3 drawer cell."""
    directory = tmp_path / "fr3"
    save_tiny_checkpoint(directory, pointnet=True)
    _edit_sidecar(directory, tasks=["drawer-open", "drawer-close"], sim_backend="fr3")
    return directory


@pytest.fixture
def no_simulator(monkeypatch):
    """Records what deploy would have started; starts nothing."""
    import mtdagger.runtime.session as session
    import mtdagger.training.evaluate as evaluate

    started = []

    def refuse(**kwargs):
        started.append(kwargs)
        raise session.DeploymentError("stand-in: no simulator in this test")

    def ran(*args, **kwargs):
        raise AssertionError("the evaluation ran: the bad input was accepted")

    monkeypatch.setattr(session, "build_sim_deployment", refuse)
    monkeypatch.setattr(evaluate, "evaluate_student", ran)
    return started


def test_deploy_takes_the_simulator_the_checkpoint_was_trained_in(capsys, fr3_checkpoint, no_simulator):
    assert main(["deploy", "--checkpoint", str(fr3_checkpoint)]) == 2  # the stand-in's refusal
    (started,) = no_simulator
    assert started["sim"] == "fr3"
    assert started["robot_config"].endswith("franka_fr3.yaml")
    assert started["camera_config"].endswith("fr3_d435.yaml")


def test_deploy_refuses_another_simulator_than_the_checkpoints(capsys, fr3_checkpoint, no_simulator):
    argv = ["deploy", "--checkpoint", str(fr3_checkpoint), "--sim", "metaworld"]
    line = assert_refused(capsys, argv, "--sim metaworld", watch=(fr3_checkpoint,))
    assert "trained in 'fr3'" in line and not no_simulator


def test_a_sidecar_naming_an_unknown_task_is_refused_in_one_line(capsys, tmp_path, no_simulator):
    save_tiny_checkpoint(tmp_path / "ck", pointnet=True)
    _edit_sidecar(tmp_path / "ck", tasks=["reach-v3", "nope-v3"])
    for command in ("eval", "deploy"):
        line = assert_refused(capsys, [command, "--checkpoint", str(tmp_path / "ck")], "nope-v3")
        assert "checkpoint tasks" in line
    assert not no_simulator


def test_a_sidecar_with_an_unknown_field_is_refused(capsys, tmp_path):
    save_tiny_checkpoint(tmp_path / "ck")
    _edit_sidecar(tmp_path / "ck", normalisation={"state": {}})  # a typo of `normalization`
    with pytest.raises(CheckpointError, match=r"unknown field\(s\) \['normalisation'\]"):
        load_checkpoint(tmp_path / "ck")
    assert_refused(capsys, ["eval", "--checkpoint", str(tmp_path / "ck")], "normalisation")


def test_a_checkpoint_file_given_for_its_directory_names_the_directory(capsys, tmp_path):
    save_tiny_checkpoint(tmp_path / "ck")
    sidecar = tmp_path / "ck" / "checkpoint.json"
    line = assert_refused(capsys, ["eval", "--checkpoint", str(sidecar)], "is a file")
    assert "does not exist" not in line and f"give its directory '{tmp_path / 'ck'}'" in line


def test_empty_tasks_flag_is_refused_not_read_as_every_task(capsys, tmp_path, no_simulator):
    save_tiny_checkpoint(tmp_path / "ck", pointnet=True)
    for command in ("eval", "deploy"):
        argv = [command, "--checkpoint", str(tmp_path / "ck"), "--tasks", ""]
        line = assert_refused(capsys, argv, "--tasks")
        assert "names no task" in line
    assert not no_simulator


def test_calibration_error_without_record_is_refused(capsys, tmp_path, no_simulator):
    save_tiny_checkpoint(tmp_path / "ck", pointnet=True)
    argv = ["deploy", "--checkpoint", str(tmp_path / "ck"), "--calibration-error", "0.01,0,0,0,0,1"]
    line = assert_refused(capsys, argv, "--calibration-error")
    assert "--record" in line and not no_simulator


@pytest.mark.parametrize("error", ["5,0,0,0,0,0", "0,0,0.3,0,0,0", "0,0,0,0,90,0"])
def test_calibration_error_beyond_a_calibration_is_refused(capsys, tmp_path, no_simulator, error):
    save_tiny_checkpoint(tmp_path / "ck", pointnet=True)
    bag = tmp_path / "bag"
    argv = ["deploy", "--checkpoint", str(tmp_path / "ck"), "--record", str(bag)]
    argv += ["--calibration-error", error]
    line = assert_refused(capsys, argv, "--calibration-error")
    assert "beyond a calibration error" in line and "metres" in line
    assert not bag.exists() and not no_simulator
