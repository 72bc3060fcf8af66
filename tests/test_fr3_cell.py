"""The FR3 cell is the real cell: camera from its calibration file, the real robot's contract, and
checkpoints trained in it are what `real.launch.py robot:=franka_fr3` accepts.

The acceptance test calls `load_policy_for_robot`, the function the policy node itself calls at
start-up, with the numbers of policy_node/config/franka_fr3.yaml and configs/robots/franka_fr3.yaml.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from calibration.extrinsics import load_extrinsics
from mtdagger.control.robot_config import load_robot_config
from mtdagger.perception.contract import PointCloudContract
from mtdagger.policy.checkpoint import CheckpointError
from mtdagger.policy.robot_acceptance import load_policy_for_robot, node_config_contract

REPO = Path(__file__).resolve().parents[1]
NODE_CONFIG = REPO / "policy_node" / "config" / "franka_fr3.yaml"
CALIBRATION = REPO / "configs" / "calibration" / "fr3_cell.yaml"
PRESETS = ("configs/fr3-drawer-pointcloud-cpu.yaml", "configs/fr3-drawer-pointcloud.yaml")

pytest.importorskip("mujoco")


def test_the_cells_calibration_is_what_real_launch_publishes_for_the_fr3():
    from mtdagger.deployment.camera import calibration_transform, camera_optical_frame

    robot = load_robot_config("franka_fr3")
    transform = calibration_transform(
        str(CALIBRATION),
        robot_base_frame=robot.base_frame,
        camera_frame=camera_optical_frame("camera"),
    )
    assert transform.base_frame == "fr3_link0" and transform.calibration_id == "fr3-cell-nominal-0001"


def test_the_sim_camera_takes_its_pose_from_the_calibration_file(tmp_path):
    from sim_bridge.fr3.config import FR3BackendConfig

    expected = load_extrinsics(CALIBRATION).T_base_camera
    config = FR3BackendConfig(render_depth=False)
    np.testing.assert_allclose(config.camera.camera_model().T_base_camera, expected, atol=1e-6)
    # Another calibration file moves the simulated camera with it (a miscalibrated cell).
    data = yaml.safe_load(CALIBRATION.read_text())
    data["translation"] = [data["translation"][0] + 0.02, *data["translation"][1:]]
    moved = tmp_path / "moved.yaml"
    moved.write_text(yaml.safe_dump(data))
    shifted = FR3BackendConfig(render_depth=False, calibration=str(moved)).camera.camera_model()
    np.testing.assert_allclose(shifted.T_base_camera[:3, 3] - expected[:3, 3], [0.02, 0, 0], atol=1e-9)
    data["base_frame"] = "base_link"
    moved.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match="base_frame"):
        FR3BackendConfig(render_depth=False, calibration=str(moved))


@pytest.mark.parametrize("preset", PRESETS)
def test_the_suites_contract_is_the_real_robots(preset):
    data = yaml.safe_load((REPO / preset).read_text())
    assert data["sim"]["backend"] == "fr3"
    assert PointCloudContract.from_dict(data["point_cloud"]) == node_config_contract(NODE_CONFIG)


@pytest.mark.integration
def test_a_known_cabinet_appears_in_the_cloud_at_its_true_base_frame_position():
    """The cloud made by the contract's own function shows the cabinet's top at the height and
    place the suite put it (spec + placement, no MuJoCo state), and the drawer front plane."""
    from mtdagger.perception.pointcloud import depth_to_point_cloud
    from sim_bridge.fr3.config import FR3BackendConfig

    contract = node_config_contract(NODE_CONFIG)
    backend = FR3BackendConfig(objects="all").build()
    try:
        backend.reset("drawer-open", seed=3, object_id=4)
        spec, place = backend.cabinet, backend.placement
        frame = backend.render_depth()
        cloud = depth_to_point_cloud(frame.depth_m, frame.camera, contract)
    finally:
        backend.close()
    assert cloud.shape == (contract.num_points, 3)
    front = place.front_x - place.initial_opening
    inside = (
        (cloud[:, 0] > place.front_x + 0.04)
        & (np.abs(cloud[:, 1] - place.center_y) < spec.width / 2 - 0.03)
        & (cloud[:, 2] > spec.height - 0.05)
    )
    assert inside.sum() > 30, "the cabinet top is missing from the cloud"
    np.testing.assert_allclose(np.median(cloud[inside, 2]), spec.height, atol=0.004)
    on_front = (np.abs(cloud[:, 0] - front) < 0.006) & (cloud[:, 2] < spec.height - 0.005)
    assert on_front.sum() > 10, "no points on the drawer front plane"


@pytest.mark.integration
def test_the_cells_crop_keeps_the_table_out_under_noise_and_a_calibration_error():
    """The trial's case (`eval --robustness`'s noise + 1 cm / 1 deg calibration error): the cloud
    is made with the nominal camera pose while the true one is off, so the table (z = 0) is lifted
    and tilted and depth noise scatters it further. Mapped back through the TRUE camera, no point
    of the cell's cloud may come from the table. The old crop (z from 0.015) let in up to a third
    of the cloud on these seeds, which cost drawer-open 30-45 points (docs/results/student.md)."""
    from mtdagger.perception.pointcloud import workspace_points
    from mtdagger.training.robustness import CALIBRATION_ERROR
    from sim_bridge.camera.depth_noise import CameraRandomizationConfig, DepthNoiseConfig
    from sim_bridge.fr3.config import FR3BackendConfig

    contract = node_config_contract(NODE_CONFIG)
    old_crop = dataclasses.replace(contract, workspace_min=(*contract.workspace_min[:2], 0.015))
    config = FR3BackendConfig(objects="all")
    camera = dataclasses.replace(
        config.camera,
        noise=DepthNoiseConfig.realsense(),
        randomization=CameraRandomizationConfig(**CALIBRATION_ERROR),
    )
    backend = dataclasses.replace(config, camera=camera).build()
    table_points = {"cell": 0, "old crop": 0}
    try:
        for seed in range(16):
            backend.reset("drawer-open", seed)
            frame = backend.render_depth()
            reported_to_true = backend.camera.T_base_camera @ np.linalg.inv(frame.camera.T_base_camera)
            for name, crop in (("cell", contract), ("old crop", old_crop)):
                points, _ = workspace_points(frame.depth_m, frame.camera, crop)
                true_z = points @ reported_to_true[2, :3] + reported_to_true[2, 3]
                table_points[name] += int((true_z < 0.008).sum())
    finally:
        backend.close()
    assert table_points["old crop"] > 300, "these seeds no longer draw an error that lifts the table"
    assert table_points["cell"] == 0, f"{table_points['cell']} table points in the cell's cloud"


# ---------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def fr3_checkpoint(tmp_path_factory):
    """A point-cloud checkpoint trained by `mtdagger train` in the FR3 cell (tiny, not useful)."""
    from mtdagger.cli import main

    root = tmp_path_factory.mktemp("fr3_train")
    config = yaml.safe_load((REPO / "configs" / "fr3-drawer-pointcloud-cpu.yaml").read_text())
    config.update(name="fr3-tiny", workers=1)
    config["sim"]["max_episode_steps"] = 8
    config["student"]["config"] = {
        "point_channels": [8, 16],
        "task_embed_dim": 4,
        "head_hidden": [16],
        "ee_relative": True,  # the preset's gripper-frame inputs, small
        "local_points": 8,
        "local_channels": [8],
    }
    config["dagger"].update(
        rounds=1, initial_episodes_per_task=1, budget_per_round=2, eval_episodes_per_task=1
    )
    config["bc"].update(epochs=1)
    path = root / "fr3-tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", "--config", str(path), "--out", str(root / "run"), "--workers", "1"]) == 0
    return root / "run" / "checkpoints" / "final"


def _fr3_node_checks(checkpoint):
    robot = load_robot_config("franka_fr3")
    return load_policy_for_robot(
        checkpoint,
        contract=node_config_contract(NODE_CONFIG),
        control_period_s=robot.safety.control_period_s,
        trajectory_time_s=robot.controllers.trajectory_time_from_start_s,
    )


@pytest.mark.integration
def test_real_launch_for_franka_fr3_accepts_a_checkpoint_trained_in_the_fr3_cell(fr3_checkpoint):
    policy = _fr3_node_checks(fr3_checkpoint)
    assert policy.tasks == ["drawer-open", "drawer-close"]
    assert policy.action_convention.control_period_s == 0.05
    assert policy.action_convention.frame == "base"
    # Trained with the real arm controller's joint-trajectory time (robot config: 3 periods).
    assert policy.action_convention.trajectory_time_s == 0.15


@pytest.mark.integration
def test_real_launch_refuses_an_fr3_checkpoint_trained_with_another_trajectory_time(fr3_checkpoint, tmp_path):
    """A checkpoint whose steps were executed over one period drives a robot whose arm covers
    half of each step: refused, naming the field (the rehearsal's 0/12 of issue 8)."""
    import json
    import shutil

    other = tmp_path / "one-period"
    shutil.copytree(fr3_checkpoint, other)
    meta = json.loads((other / "checkpoint.json").read_text())
    meta["action_convention"]["trajectory_time_s"] = 0.0
    (other / "checkpoint.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="trajectory_time_s"):
        _fr3_node_checks(other)


@pytest.mark.integration
def test_real_launch_refuses_a_student_reading_inputs_the_graph_does_not_produce(fr3_checkpoint):
    """The gripper-frame student is accepted (the node produces cloud, state and ee_position);
    a student that reads privileged simulator state is refused, naming the input."""
    from mtdagger.data.normalization import NormalizationStats
    from mtdagger.policy.checkpoint import CheckpointMeta, read_checkpoint_meta, save_checkpoint
    from mtdagger.policy.networks import build_student

    policy = _fr3_node_checks(fr3_checkpoint)
    assert "ee_position" in policy.model.config.input_keys()
    meta = read_checkpoint_meta(fr3_checkpoint)
    privileged_dim = NormalizationStats.from_dict(meta.normalization).dim("privileged")
    config = {"num_tasks": 2, "privileged_dim": privileged_dim, "hidden": [8], "task_embed_dim": 4}
    model = build_student("state", config)
    state_meta = dataclasses.replace(
        meta, architecture="state", architecture_config=model.config.to_dict(), weights_sha256=""
    )
    directory = fr3_checkpoint.parent.parent / "state-student"
    save_checkpoint(directory, model, CheckpointMeta.from_dict(state_meta.to_dict()))
    with pytest.raises(CheckpointError, match=r"reads \['privileged'\], which the robot's graph does not"):
        _fr3_node_checks(directory)


def test_real_launch_for_franka_fr3_refuses_metaworld_checkpoints(tmp_path):
    sys.path.insert(0, str(REPO / "policy_node" / "test"))
    try:
        from tiny_checkpoint import save_tiny_checkpoint
    finally:
        sys.path.pop(0)
    metaworld = save_tiny_checkpoint(tmp_path / "mw")
    with pytest.raises(CheckpointError, match="point_cloud_contract"):
        _fr3_node_checks(metaworld)
    # Even with the FR3 cell's contract, MetaWorld's control period (0.0125 s) is refused.
    contract = node_config_contract(NODE_CONFIG)
    with pytest.raises(CheckpointError, match="control_period_s"):
        load_policy_for_robot(
            metaworld,
            contract=PointCloudContract(**{**contract.to_dict(), "num_points": 64}),
            control_period_s=0.05,
        )


@pytest.mark.integration
def test_deploy_runs_the_fr3_checkpoint_in_process_and_records_the_cells_calibration(
    fr3_checkpoint, tmp_path, capsys
):
    from mtdagger.cli import main
    from mtdagger.recording.bag_reader import read_evaluation_bag

    bag = tmp_path / "bag"
    command = ["deploy", "--sim", "fr3", "--checkpoint", str(fr3_checkpoint), "--episodes", "1"]
    code = main([*command, "--max-steps", "5", "--record", str(bag), "--noise", "realsense"])
    assert code == 0, capsys.readouterr().err
    recorded = read_evaluation_bag(bag)
    assert [e.task for e in recorded.episodes] == ["drawer-open", "drawer-close"]
    assert [e.seed for e in recorded.episodes] == [20000, 21000]  # the scenes `mtdagger eval` resets
    assert recorded.metadata.calibration_id == "sim:fr3-cell-nominal-0001"
    assert recorded.metadata.robot == "franka_fr3" and recorded.metadata.control_period_s == 0.05


@pytest.mark.integration
def test_eval_reports_seen_and_unseen_cabinets_separately(fr3_checkpoint, capsys):
    from mtdagger.cli import main

    assert (
        main(
            [
                "eval",
                "--sim",
                "fr3",
                "--checkpoint",
                str(fr3_checkpoint),
                "--episodes",
                "1",
                "--objects",
                "both",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "seen objects" in out and "unseen objects" in out


def test_eval_refuses_the_object_split_outside_the_fr3_suite(tmp_path, capsys):
    from mtdagger.cli import main

    sys.path.insert(0, str(REPO / "policy_node" / "test"))
    try:
        from tiny_checkpoint import save_tiny_checkpoint
    finally:
        sys.path.pop(0)
    checkpoint = save_tiny_checkpoint(tmp_path / "mw")
    assert main(["eval", "--checkpoint", str(checkpoint), "--objects", "unseen"]) == 2
    assert "--objects applies to --sim fr3" in capsys.readouterr().err
