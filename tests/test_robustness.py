"""Training-time depth noise / camera randomisation settings, and the robustness table."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from mtdagger.training.config import SimConfig, load_train_config
from mtdagger.training.evaluate import TaskResult
from mtdagger.training.robustness import (
    CALIBRATION_ERROR,
    CONDITIONS,
    evaluate_conditions,
    robustness_table,
    select_conditions,
)
from mtdagger.training.sim_setup import backend_config_for


def test_sim_settings_reach_the_backend_camera():
    config = load_train_config(
        "configs/mt10-pointcloud-demo.yaml", ["sim.randomize_camera={translation_m: 0.01}"]
    )
    camera = backend_config_for(config.sim, ["reach-v3"], render_depth=True).camera
    assert camera.noise.sigma_at_1m_m == pytest.approx(0.004)  # the preset's 'realsense'
    assert camera.randomization.translation_m == pytest.approx(0.01)
    assert camera.randomization.rotation_deg == 0.0
    clean = backend_config_for(SimConfig(), ["reach-v3"], render_depth=True).camera
    assert not clean.noise.enabled and not clean.randomization.enabled


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [("depth_noise", "kinect", "sim.depth_noise"), ("randomize_camera", {"tilt": 1}, "sim.randomize_camera")],
)
def test_bad_sim_settings_name_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        SimConfig(**{field: value})


def test_robustness_table_runs_every_condition_and_reports_the_change():
    seen = []

    def evaluate(condition):
        seen.append((condition.depth_noise, condition.randomize_camera))
        successes = {
            "clean": 10,
            "noise": 9,
            "randomised": 8,
            "calibration error": 8,
            "noise + randomised": 7,
            "noise + calibration error": 7,
        }[condition.label]
        return [TaskResult("reach-v3", 10, successes, 50.0), TaskResult("push-v3", 10, 10, 40.0)]

    results = evaluate_conditions(evaluate)
    error = CALIBRATION_ERROR
    assert seen == [
        ("none", "none"),
        ("realsense", "none"),
        ("none", "default"),
        ("none", error),
        ("realsense", "default"),
        ("realsense", error),
    ]
    assert [c.label for c in CONDITIONS] == list(results)
    out = io.StringIO()
    Console(file=out, width=200).print(robustness_table(results, "t"))
    text = out.getvalue()
    reach = next(line for line in text.splitlines() if "reach-v3" in line)
    assert "1.00 [" in reach and "0.70 [" in reach and "-30" in reach
    total = next(line for line in text.splitlines() if "all" in line)
    assert "0.85 [" in total and "-15" in total


def test_a_rise_in_success_reads_as_a_positive_change():
    rows = {"clean": 5, "noise + calibration error": 10}
    results = {label: [TaskResult("reach-v3", 10, n, 50.0)] for label, n in rows.items()}
    out = io.StringIO()
    Console(file=out, width=200).print(robustness_table(results, "t"))
    assert "+50" in next(line for line in out.getvalue().splitlines() if "reach-v3" in line)


def test_calibration_error_condition_reaches_the_camera_as_a_nominal_pose_error():
    sim = SimConfig(depth_noise="realsense", randomize_camera=CALIBRATION_ERROR)
    camera = backend_config_for(sim, ["reach-v3"], render_depth=True).camera
    assert camera.randomization.report_nominal_camera  # the cloud is made with the believed pose
    assert camera.randomization.translation_m == pytest.approx(0.01)
    assert camera.randomization.rotation_deg == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("flags", "noisy", "randomised"),
    [([], False, False), (["--noise", "realsense", "--randomize"], True, True)],
)
def test_eval_flags_choose_the_evaluation_camera(tmp_path, monkeypatch, capsys, flags, noisy, randomised):
    """Plain `mtdagger eval` is clean depth; --noise/--randomize evaluate under training's conditions."""
    import mtdagger.training.evaluate as evaluate_module
    from mtdagger.cli import main
    from tests.bad_input_support import save_tiny_checkpoint

    cameras = []

    def fake_evaluate(factory, backend_config, tasks, run_tasks, **kwargs):
        cameras.append(backend_config.camera)
        return [TaskResult(task, 1, 1, 10.0) for task in tasks]

    monkeypatch.setattr(evaluate_module, "evaluate_student", fake_evaluate)
    save_tiny_checkpoint(tmp_path / "ck", pointnet=True)
    assert main(["eval", "--checkpoint", str(tmp_path / "ck"), "--episodes", "1", *flags]) == 0
    assert [(c.noise.enabled, c.randomization.enabled) for c in cameras] == [(noisy, randomised)]
    title = " ".join(capsys.readouterr().out.split())  # rich wraps the title
    assert ("realsense depth noise, randomised camera" in title) == noisy


def _checkpoint_trained_in(directory, sim: str) -> None:
    import json

    from tests.bad_input_support import save_tiny_checkpoint

    save_tiny_checkpoint(directory, pointnet=True)
    sidecar = directory / "checkpoint.json"
    meta = json.loads(sidecar.read_text())
    meta["provenance"]["sim_backend"] = sim
    sidecar.write_text(json.dumps(meta))


def test_eval_takes_the_simulator_the_checkpoint_was_trained_in(tmp_path, monkeypatch):
    import mtdagger.training.evaluate as evaluate_module
    from mtdagger.cli import main

    backends = []

    def fake_evaluate(factory, backend_config, tasks, run_tasks, **kwargs):
        backends.append(type(backend_config).__name__)
        return [TaskResult(task, 1, 1, 10.0) for task in tasks]

    monkeypatch.setattr(evaluate_module, "evaluate_student", fake_evaluate)
    _checkpoint_trained_in(tmp_path / "ck", "metaworld")
    assert main(["eval", "--checkpoint", str(tmp_path / "ck"), "--episodes", "1"]) == 0
    assert backends == ["MetaWorldBackendConfig"]


def test_eval_refuses_another_simulator_than_the_checkpoints_in_one_line(tmp_path, capsys):
    from mtdagger.cli import main

    _checkpoint_trained_in(tmp_path / "ck", "fr3")
    assert main(["eval", "--checkpoint", str(tmp_path / "ck"), "--sim", "metaworld"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "trained in 'fr3'" in err


def test_robustness_refuses_a_single_condition_flag(tmp_path, capsys):
    from mtdagger.cli import main

    _checkpoint_trained_in(tmp_path / "ck", "metaworld")
    assert main(["eval", "--checkpoint", str(tmp_path / "ck"), "--robustness", "--noise", "realsense"]) == 2
    assert "drop --noise/--randomize" in capsys.readouterr().err


def test_conditions_choose_a_subset_in_the_tables_order():
    chosen = select_conditions("noise+calibration, clean")
    assert [c.label for c in chosen] == ["clean", "noise + calibration error"]  # clean first
    assert select_conditions(None) == CONDITIONS


@pytest.mark.parametrize("keys", ["clean,calib", ","])
def test_unknown_conditions_are_refused_naming_the_flag(keys):
    with pytest.raises(ValueError, match="--conditions"):
        select_conditions(keys)


def test_eval_runs_only_the_chosen_conditions(tmp_path, monkeypatch, capsys):
    import mtdagger.training.evaluate as evaluate_module
    from mtdagger.cli import main

    cameras = []

    def fake_evaluate(factory, backend_config, tasks, run_tasks, **kwargs):
        cameras.append(backend_config.camera)
        return [TaskResult(task, 1, 1, 10.0) for task in tasks]

    monkeypatch.setattr(evaluate_module, "evaluate_student", fake_evaluate)
    _checkpoint_trained_in(tmp_path / "ck", "metaworld")
    args = ["eval", "--checkpoint", str(tmp_path / "ck"), "--episodes", "1", "--robustness"]
    assert main([*args, "--conditions", "clean,noise+calibration"]) == 0
    assert [(c.noise.enabled, c.randomization.report_nominal_camera) for c in cameras] == [
        (False, False),
        (True, True),
    ]
    assert main([*args, "--conditions", "clean,bogus"]) == 2
    assert main([*args[:-1], "--conditions", "clean"]) == 2  # without --robustness
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "'bogus'" in err[0] and "add --robustness" in err[1]
