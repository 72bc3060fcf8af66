"""Bad training configs: each is refused before anything runs, in one line naming the field.

`mtdagger train` must not create its run folder on a refused start (so the corrected command can
reuse the same --out), and must not touch the preset or any earlier run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest
import yaml
from bad_input_support import REPO, assert_refused

from mtdagger.config_validation import ConfigError, bounds, build_dataclass

QUICK = str(REPO / "configs" / "mt10-state-quick.yaml")
POINTCLOUD = str(REPO / "configs" / "mt10-pointcloud-tiny.yaml")

# (--set override, text the one error line must contain)
BAD_OVERRIDES = [
    ("bc.lr=-1", "bc.lr"),
    ("bc.lr=.inf", "bc.lr"),
    ("bc.epochs=2.5", "bc.epochs"),
    ("bc.batch_size=0", "bc.batch_size"),
    ("bc.epochz=3", "epochz"),
    ("seed=-3", "seed"),
    ("seed=abc", "seed"),
    ("workers=0", "workers"),
    ("dagger.rounds=abc", "dagger.rounds"),
    ("dagger.holdout_fraction=1.5", "dagger.holdout_fraction"),
    ("dagger.retrain=sometimes", "dagger.retrain"),
    ("bc.lr_schedule=linear", "bc.lr_schedule"),
    ("dagger.initial_episodes_by_task={reach-v3: 0}", "dagger.initial_episodes_by_task.reach-v3"),
    ("dagger.initial_episodes_by_task={reach-v3: 2.5}", "dagger.initial_episodes_by_task.reach-v3"),
    ("dagger.initial_episodes_by_task={peg-insert-v3: 200}", "'peg-insert-v3' is not a task of this run"),
    ("dagger.initial_episodes_by_task=[reach-v3]", "dagger.initial_episodes_by_task"),
    ("dagger.budget_per_round=-1", "dagger.budget_per_round"),
    ("dagger.beta.schedule=cosine", "dagger.beta.schedule"),
    ("dagger.beta.rampdown=2", "['rampdown'] in dagger.beta"),
    ("dagger.beta.rampdown_rounds=two", "dagger.beta.rampdown_rounds"),
    ("dagger.beta.decay=0.5", "['decay'] in dagger.beta for schedule 'linear'"),
    ("student.architecture=transformer", "student.architecture"),
    ("student.config.hidden=[0]", "hidden"),
    ("student.config.widht=3", "widht"),
    ("student.config.num_tasks=3", "student.config.num_tasks"),
    ("student.config=[1, 2]", "student.config"),
    ("scheduler.name=taskneed", "scheduler.name"),
    ("scheduler.temperature=0", "temperature"),
    ("scheduler.kalman=maybe", "scheduler.kalman"),
    ("scheduler.name=drats", "['kalman', 'temperature'] in scheduler for name 'drats'"),
    ("sim.tasks=nope-v3", "sim.tasks"),
    ("sim.max_episode_steps=0", "sim.max_episode_steps"),
    ("sim.camera=configs/cameras/missing.yaml", "sim.camera"),
    ("sim=3", "sim"),
    ("bc", "--set 'bc'"),
    ("bc.lr=[1", "--set bc.lr"),
    ("bc.lr.x=1", "--set bc.lr.x"),
    ("=3", "--set '=3'"),
]


@pytest.mark.parametrize(("override", "names"), BAD_OVERRIDES, ids=[o for o, _ in BAD_OVERRIDES])
def test_bad_override_is_refused_before_a_run_folder_exists(capsys, tmp_path, override, names):
    out = tmp_path / "run"
    assert_refused(capsys, ["train", "--config", QUICK, "--out", str(out), "--set", override], names)
    assert not out.exists(), "a refused start left a run folder behind"


BAD_CONTRACTS = [
    ("point_cloud.voxel_size=0.01", "voxel_size"),
    ("point_cloud.num_point=512", "num_point"),
    ("point_cloud.voxel_size_m=.nan", "point_cloud.voxel_size_m"),
    ("point_cloud.voxel_size_m=-0.01", "point_cloud.voxel_size_m"),
    ("point_cloud.num_points=0", "point_cloud.num_points"),
    ("point_cloud.max_depth_m=2500", "point_cloud.max_depth_m"),
    ("point_cloud.workspace_min=[0, 0]", "point_cloud.workspace_min"),
    ("point_cloud.padding=zeros", "point_cloud.padding"),
    ("point_cloud.table_band_m=-0.01", "point_cloud.table_band_m"),
    ("point_cloud.table_band_m=.inf", "point_cloud.table_band_m"),
]


@pytest.mark.parametrize(("override", "names"), BAD_CONTRACTS, ids=[o for o, _ in BAD_CONTRACTS])
def test_bad_point_cloud_contract_is_refused(capsys, tmp_path, override, names):
    out = tmp_path / "run"
    assert_refused(capsys, ["train", "--config", POINTCLOUD, "--out", str(out), "--set", override], names)
    assert not out.exists()


def _write(path, text: str):
    path.write_text(text)
    return str(path)


def test_empty_yaml_config_is_an_error_not_the_mt10_defaults(capsys, tmp_path):
    config = _write(tmp_path / "empty.yaml", "# nothing here\n")
    line = assert_refused(capsys, ["train", "--config", config, "--out", str(tmp_path / "run")], "empty")
    assert "empty.yaml" in line
    assert not (tmp_path / "run").exists()


def test_yaml_syntax_error_names_the_line(capsys, tmp_path):
    config = _write(tmp_path / "broken.yaml", "name: x\nbc:\n  lr: [1, 2\n  epochs: 3\n")
    line = assert_refused(capsys, ["train", "--config", config, "--out", str(tmp_path / "run")], "line ")
    assert "broken.yaml" in line


def test_yaml_list_instead_of_mapping(capsys, tmp_path):
    config = _write(tmp_path / "list.yaml", "- a\n- b\n")
    assert_refused(capsys, ["train", "--config", config, "--out", str(tmp_path / "run")], "mapping")


def test_missing_config_file_names_the_flag(capsys, tmp_path):
    assert_refused(
        capsys, ["train", "--config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "r")], "--config"
    )


def test_camera_yaml_with_an_unknown_key_is_refused(capsys, tmp_path):
    camera = yaml.safe_load((REPO / "configs/cameras/metaworld_d435.yaml").read_text())
    camera["fov_deg"] = 60
    path = _write(tmp_path / "camera.yaml", yaml.safe_dump(camera))
    argv = ["train", "--config", QUICK, "--out", str(tmp_path / "run"), "--set", f"sim.camera={path}"]
    line = assert_refused(capsys, argv, "fov_deg", watch=(tmp_path / "camera.yaml",))
    assert "sim.camera" in line


def test_camera_yaml_with_a_wrong_type_is_refused(capsys, tmp_path):
    camera = yaml.safe_load((REPO / "configs/cameras/metaworld_d435.yaml").read_text())
    camera["fx"] = "wide"
    path = _write(tmp_path / "camera.yaml", yaml.safe_dump(camera))
    argv = ["train", "--config", QUICK, "--out", str(tmp_path / "run"), "--set", f"sim.camera={path}"]
    assert_refused(capsys, argv, "fx")


def test_workers_flag_out_of_range(capsys, tmp_path):
    argv = ["train", "--config", QUICK, "--out", str(tmp_path / "run"), "--workers", "100000"]
    assert_refused(capsys, argv, "--workers")


def test_out_that_is_a_file_is_refused(capsys, tmp_path):
    out = tmp_path / "run"
    out.write_text("not a folder")
    assert_refused(capsys, ["train", "--config", QUICK, "--out", str(out)], "--out", watch=(out,))


def test_out_that_holds_files_is_refused_without_resume_and_left_alone(capsys, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert_refused(capsys, ["train", "--config", QUICK, "--out", str(out)], "--resume", watch=(out,))


def test_resume_of_a_folder_without_a_run_is_refused(capsys, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    assert_refused(
        capsys, ["train", "--config", QUICK, "--out", str(out), "--resume"], "--resume", watch=(out,)
    )


def test_resume_with_another_config_is_refused_and_the_run_left_alone(capsys, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    saved = yaml.safe_load((REPO / "configs/mt10-state-quick.yaml").read_text())
    (out / "config.yaml").write_text(yaml.safe_dump(saved))
    argv = ["train", "--config", QUICK, "--out", str(out), "--resume", "--set", "bc.lr=0.5"]
    # The saved config is the raw preset, the new one is resolved with defaults and bc.lr: differs.
    assert_refused(capsys, argv, "config differs", watch=(out,))


def test_train_help_lists_the_keys_set_accepts(capsys):
    with pytest.raises(SystemExit) as done:
        from mtdagger.cli import main

        main(["train", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for key in ("bc.lr", "dagger.rounds", "point_cloud.voxel_size_m", "scheduler.temperature", "sim.camera"):
        assert key in text


def test_a_new_annotated_field_is_validated_with_no_extra_code():
    """Other work adds fields to the config dataclasses; the generic validator must check them from
    their annotation (and range metadata) alone."""
    @dataclass(frozen=True)
    class Section:
        noise_std: float = 0.0
        mode: Literal["off", "on"] = "off"
        gains: tuple[float, float] = (1.0, 2.0)
        steps: int = field(default=3, metadata=bounds(ge=1))
        targets: dict[str, float] = field(default_factory=dict)
        label: str | None = None

    assert build_dataclass(Section, {"gains": [3, 4], "steps": 5}, "amf").gains == (3.0, 4.0)
    bad = [
        ({"noise_std": "high"}, "amf.noise_std must be a number"),
        ({"noise_std": float("nan")}, "amf.noise_std must be finite"),
        ({"mode": "auto"}, "amf.mode must be one of"),
        ({"gains": [1.0]}, "amf.gains must have 2 entries"),
        ({"steps": 0}, "amf.steps must be >= 1"),
        ({"steps": True}, "amf.steps must be an integer"),
        ({"targets": {"reach-v3": "x"}}, "amf.targets.reach-v3 must be a number"),
        ({"label": 3}, "amf.label must be a string"),
        ({"stpes": 2}, "unknown config key(s) ['stpes'] in amf"),
    ]
    for data, message in bad:
        with pytest.raises(ConfigError) as error:
            build_dataclass(Section, data, "amf")
        assert message in str(error.value), (data, str(error.value))
