"""Bad command-line flags, checkpoints and robot/calibration files for eval, deploy, rollout and report.

Each is refused before any simulator is built (these tests would take seconds each otherwise, and
the module would need rendering), in one line naming the flag or field, exit code 2, nothing on
disk changed.
"""

from __future__ import annotations

import os

import pytest
import yaml
from bad_input_support import REPO, assert_refused, save_tiny_checkpoint

from calibration.extrinsics import ExtrinsicsError, load_extrinsics
from mtdagger.cli import main
from mtdagger.control.robot_config import load_robot_config
from mtdagger.policy.checkpoint import CheckpointError, load_checkpoint


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    save_tiny_checkpoint(root / "state")
    save_tiny_checkpoint(root / "pointnet", pointnet=True)
    nan_name = save_tiny_checkpoint(root / "nan_state", nan=True)
    nan_pointnet = save_tiny_checkpoint(root / "nan_pointnet", pointnet=True, nan=True)
    return root, nan_name, nan_pointnet


def _deploy(checkpoints, *extra: str) -> list[str]:
    root, _, _ = checkpoints
    return ["deploy", "--checkpoint", str(root / "pointnet"), *extra]


# ------------------------------------------------------------------ eval


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        (["--episodes", "0"], "--episodes"),
        (["--episodes", "-2"], "--episodes"),
        (["--workers", "0"], "--workers"),
        (["--workers", "5000"], "--workers"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_eval_bad_counts(capsys, checkpoints, flags, names):
    root, _, _ = checkpoints
    assert_refused(capsys, ["eval", "--checkpoint", str(root / "state"), *flags], names, watch=(root,))


def test_eval_nan_weights_named_plainly_not_in_a_worker_traceback(capsys, checkpoints):
    root, nan_name, _ = checkpoints
    line = assert_refused(capsys, ["eval", "--checkpoint", str(root / "nan_state")], nan_name, watch=(root,))
    assert "non-finite" in line and "RolloutJobError" not in line


def test_eval_truncated_weights_reported_plainly(capsys, tmp_path):
    save_tiny_checkpoint(tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert_refused(
        capsys, ["eval", "--checkpoint", str(tmp_path / "ckpt")], "weights_sha256", watch=(tmp_path,)
    )


def test_eval_missing_checkpoint(capsys, tmp_path):
    assert_refused(capsys, ["eval", "--checkpoint", str(tmp_path / "none")], "does not exist")


def test_nan_weights_refused_at_load_naming_the_tensor(checkpoints):
    root, nan_name, _ = checkpoints
    with pytest.raises(CheckpointError, match=rf"tensor '{nan_name}' holds 1 non-finite"):
        load_checkpoint(root / "nan_state")


# ------------------------------------------------------------------ deploy


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        (["--episodes", "0"], "--episodes"),
        (["--max-steps", "0"], "--max-steps"),
        (["--seed", "-5"], "--seed"),
        (["--robot-config", "configs/robots/nope.yaml"], "--robot-config"),
        (["--camera-config", "configs/cameras/nope.yaml"], "--camera-config"),
        (["--config", "configs/nope.yaml"], "--config"),
    ],
)
def test_deploy_bad_flags(capsys, checkpoints, flags, names):
    assert_refused(capsys, _deploy(checkpoints, *flags), names, watch=(checkpoints[0],))


def test_deploy_record_into_an_existing_bag_is_refused_and_left_alone(capsys, checkpoints, tmp_path):
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "bag_0.mcap").write_bytes(b"earlier recording")
    assert_refused(capsys, _deploy(checkpoints, "--record", str(bag)), "--record", watch=(bag,))


def test_deploy_record_onto_a_file_is_refused(capsys, checkpoints, tmp_path):
    target = tmp_path / "bag.mcap"
    target.write_bytes(b"x")
    assert_refused(capsys, _deploy(checkpoints, "--record", str(target)), "--record", watch=(target,))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only directories")
def test_deploy_record_under_a_read_only_directory_is_refused(capsys, checkpoints, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert_refused(capsys, _deploy(checkpoints, "--record", str(locked / "bag")), "not writable")
    finally:
        locked.chmod(0o700)


def test_deploy_robot_speed_in_the_wrong_unit_is_refused(capsys, checkpoints, tmp_path):
    robot = yaml.safe_load((REPO / "configs/robots/metaworld_sawyer.yaml").read_text())
    robot["safety"]["max_speed_m_s"] = 1e9
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(robot))
    line = assert_refused(capsys, _deploy(checkpoints, "--robot-config", str(path)), "max_speed_m_s")
    assert "--robot-config" in line


def test_deploy_nan_weights_refused_before_the_simulator(capsys, checkpoints):
    root, _, nan_pointnet = checkpoints
    argv = ["deploy", "--checkpoint", str(root / "nan_pointnet")]
    assert_refused(capsys, argv, nan_pointnet, watch=(root,))


def test_deploy_contract_config_with_a_typo_is_refused(capsys, checkpoints, tmp_path):
    preset = yaml.safe_load((REPO / "configs/mt10-pointcloud-tiny.yaml").read_text())
    preset["point_cloud"]["voxel_size"] = preset["point_cloud"].pop("voxel_size_m")
    path = tmp_path / "preset.yaml"
    path.write_text(yaml.safe_dump(preset))
    assert_refused(capsys, _deploy(checkpoints, "--config", str(path)), "voxel_size", watch=(path,))


def test_deploy_defaults_do_not_depend_on_the_current_directory(capsys, checkpoints, tmp_path, monkeypatch):
    """From another directory the default robot/camera configs are still found: the first refusal
    is the bad --episodes, not a misleading 'configs/... not found'."""
    monkeypatch.chdir(tmp_path)
    root, _, _ = checkpoints
    argv = ["deploy", "--checkpoint", str(root / "pointnet"), "--record", str(tmp_path / "bag")]
    argv += ["--camera-config", "configs/cameras/typo.yaml"]
    line = assert_refused(capsys, argv, "--camera-config")
    assert "repository" in line


# ------------------------------------------------------------------ rollout and report


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        (["--episodes", "0"], "--episodes"),
        (["--workers", "0"], "--workers"),
        (["--workers", "100000"], "--workers"),
        (["--max-steps", "0"], "--max-steps"),
    ],
)
def test_rollout_bad_counts(capsys, flags, names):
    assert_refused(capsys, ["rollout", "--tasks", "reach-v3", *flags], names)


def test_rollout_out_holding_other_files_is_refused(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.png").write_bytes(b"png")
    argv = ["rollout", "--tasks", "reach-v3", "--episodes", "1", "--out", str(out)]
    assert_refused(capsys, argv, "--out", watch=(out,))


def test_report_out_that_is_a_file_is_refused(capsys, tmp_path):
    target = tmp_path / "report.md"
    target.write_text("# earlier report")
    argv = ["report", str(tmp_path / "bag"), "--out", str(target)]
    assert_refused(capsys, argv, "--out", watch=(target,))


def test_report_never_overwrites_an_earlier_report(capsys, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.md").write_text("# earlier report")
    argv = ["report", str(tmp_path / "bag"), "--out", str(out)]
    assert_refused(capsys, argv, "--out", watch=(out,))


# ------------------------------------------------------------------ robot and calibration files


def test_robot_config_in_millimetres_is_refused(tmp_path):
    robot = yaml.safe_load((REPO / "configs/robots/franka_fr3.yaml").read_text())
    robot["safety"]["workspace_max"] = [600, 500, 800]
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(robot))
    with pytest.raises(ValueError, match=r"safety\.workspace_max\[0\].*millimetres"):
        load_robot_config(path)


def test_calibration_translation_in_millimetres_is_refused(tmp_path):
    data = yaml.safe_load((REPO / "configs/calibration/example_eye_on_base.yaml").read_text())
    data["translation"] = [1200.0, 0.0, 450.0]
    path = tmp_path / "calibration.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ExtrinsicsError, match=r"translation.*millimetres") as error:
        load_extrinsics(path)
    assert "\n" not in str(error.value)


def test_every_flag_of_every_command_has_a_help_line():
    import argparse

    from mtdagger.cli import build_parser

    missing = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    walk(sub, f"{name} {sub_name}")
            elif action.dest != "help" and not action.help:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "mtdagger")
    assert not missing, f"flags without a help line: {missing}"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="refusal is for machines without CUDA")
def test_bench_train_on_cuda_without_a_gpu_is_refused_in_one_line(capsys):
    assert_refused(capsys, ["bench", "train", "--device", "cuda", "--rollout-episodes", "0"], "--device cuda")


def test_eval_refuses_a_zero_step_limit_in_one_line(tmp_path, capsys):
    save_tiny_checkpoint(tmp_path / "ck", pointnet=True)
    assert_refused(capsys, ["eval", "--checkpoint", str(tmp_path / "ck"), "--max-steps", "0"], "--max-steps")


def test_eval_refuses_an_unknown_noise_model_naming_the_flag(tmp_path, capsys):
    save_tiny_checkpoint(tmp_path / "ck", pointnet=True)
    with pytest.raises(SystemExit) as exit_info:  # argparse's own refusal
        main(["eval", "--checkpoint", str(tmp_path / "ck"), "--noise", "kinect"])
    assert exit_info.value.code == 2 and "--noise" in capsys.readouterr().err
