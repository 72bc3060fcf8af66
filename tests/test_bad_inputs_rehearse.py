"""`mtdagger rehearse` refuses before any node starts, and leaves nothing behind (issue 21).

Before: a checkpoint the real graph refuses started the graph first, refused, and left a bag
folder that blocked the corrected command; `--set` of a parameter a node does not declare (or
ignores) was accepted and dropped by ROS. Now every --set key is checked against the node's
declared parameters, and the checkpoint against what the policy node will impose, before
`run_rehearsal`; a failure after the start removes the bag folder if it holds no episode.
"""

from __future__ import annotations

import json

import pytest
from bad_input_support import REPO, assert_refused, save_tiny_checkpoint, stats

from mtdagger.cli import main


def _fr3_checkpoint(directory) -> None:
    """A tiny point-cloud checkpoint the FR3 graph accepts: the cell's contract, period and
    trajectory time, the drawer tasks, trained (its provenance says) in the FR3 cell."""
    import torch

    from mtdagger.control.action import ActionConvention
    from mtdagger.control.robot_config import load_robot_config
    from mtdagger.deployment.node_config import execution_contract_for
    from mtdagger.policy.checkpoint import CheckpointMeta, save_checkpoint
    from mtdagger.policy.networks import build_student
    from mtdagger.policy.robot_acceptance import node_config_contract

    torch.manual_seed(0)
    contract = node_config_contract(REPO / "policy_node" / "config" / "franka_fr3.yaml")
    config = {"num_tasks": 2, "num_points": contract.num_points, "point_channels": [8], "head_hidden": [8],
              "task_embed_dim": 4}  # fmt: skip
    model = build_student("pointnet", config)
    trajectory_time = load_robot_config("franka_fr3").controllers.trajectory_time_from_start_s
    convention = ActionConvention(control_period_s=0.05, max_step_m=0.01, trajectory_time_s=trajectory_time)
    meta = CheckpointMeta.for_model(
        model, tasks=["drawer-open", "drawer-close"], contract=contract, action_convention=convention,
        normalization=stats(39), provenance={"max_episode_steps": 20, "sim_backend": "fr3"},
        execution_contract=execution_contract_for(
            "franka_fr3", point_cloud_contract=contract, action=convention
        ),
    )  # fmt: skip
    save_checkpoint(directory, model, meta)


@pytest.fixture(scope="module")
def fr3_checkpoint(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fr3") / "ck"
    _fr3_checkpoint(directory)
    return directory


@pytest.fixture
def graph_not_started(monkeypatch):
    import mtdagger.rehearsal.graph as graph

    def started(*args, **kwargs):
        raise AssertionError("the rehearsal graph started: the bad input was accepted")

    monkeypatch.setattr(graph, "run_rehearsal", started)


def _rehearse(checkpoint, bag, *extra) -> list[str]:
    return ["rehearse", "--checkpoint", str(checkpoint), "--bag", str(bag), "--episodes", "1", *extra]


def test_a_checkpoint_of_another_simulator_is_refused_before_any_node(capsys, tmp_path, graph_not_started):
    save_tiny_checkpoint(tmp_path / "metaworld", pointnet=True)
    line = assert_refused(capsys, _rehearse(tmp_path / "metaworld", tmp_path / "bag"), "--checkpoint")
    assert "fr3" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metaworld"]  # no bag, no parameter folder


def test_a_checkpoint_the_policy_node_refuses_is_refused_before_any_node(capsys, tmp_path, graph_not_started):
    save_tiny_checkpoint(tmp_path / "ck", pointnet=True)  # MetaWorld's contract and 0.0125 s period
    sidecar = tmp_path / "ck" / "checkpoint.json"
    meta = json.loads(sidecar.read_text())
    meta.update(tasks=["drawer-open", "drawer-close"])
    meta["provenance"]["sim_backend"] = "fr3"
    sidecar.write_text(json.dumps(meta))
    argv = _rehearse(tmp_path / "ck", tmp_path / "bag")
    line = assert_refused(capsys, argv, "refused by the real graph's policy node")
    assert "num_points=64 but this run expects 1024" in line and "control_period_s" in line
    assert not (tmp_path / "bag").exists() and not (tmp_path / ".bag_params").exists()


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ("pointcloud_preprocess.num_points=0", "did you mean 'contract.num_points'?"),
        ("pointcloud_preprocess.contract.num_points=0", "num_points must be >= 1"),
        ("policy.contract.num_points=512", "shared by pointcloud_preprocess and policy"),
        ("policy.gripper_opening_scale=wide", "expected a float"),
        ("camera.fps=30", "no node 'camera' in this graph"),
    ],
)
def test_set_of_an_unknown_ignored_or_mistyped_parameter_is_refused(
    capsys, tmp_path, fr3_checkpoint, graph_not_started, override, names
):
    line = assert_refused(capsys, _rehearse(fr3_checkpoint, tmp_path / "bag", "--set", override), names)
    assert line.startswith(f"error: --set {override.split('=')[0].rsplit('.', 1)[0]}")
    assert not (tmp_path / "bag").exists()


def test_set_of_contract_values_the_checkpoint_was_not_trained_with_is_refused(
    capsys, tmp_path, fr3_checkpoint, graph_not_started
):
    both = ["--set", "pointcloud_preprocess.contract.num_points=512"]
    both += ["--set", "policy.contract.num_points=512"]
    line = assert_refused(capsys, _rehearse(fr3_checkpoint, tmp_path / "bag", *both), "policy node")
    assert "num_points=1024 but this run expects 512" in line


def test_a_failed_start_leaves_no_bag_folder_behind(capsys, tmp_path, fr3_checkpoint, monkeypatch):
    """A refusal once nodes are up (e.g. a node's own start-up check): the empty bag the recorder
    opened is removed, so the corrected command can use the same --bag."""
    from test_recording import metadata

    import mtdagger.rehearsal.graph as graph
    from mtdagger.recording.bag_writer import EvaluationBagWriter

    def refused_at_start(settings, params_dir, log=print):
        params_dir.mkdir(parents=True)
        (params_dir / "rehearsal_parameters.yaml").write_text("{}")
        EvaluationBagWriter(settings.bag, metadata=metadata()).close()  # what the recorder left
        raise RuntimeError("policy refused its checkpoint at start-up")

    monkeypatch.setattr(graph, "run_rehearsal", refused_at_start)
    assert main(_rehearse(fr3_checkpoint, tmp_path / "bag")) == 1
    assert "policy refused" in capsys.readouterr().err
    assert not (tmp_path / "bag").exists() and not (tmp_path / ".bag_params").exists()


def test_a_failure_after_episodes_were_recorded_keeps_the_bag(capsys, tmp_path, fr3_checkpoint, monkeypatch):
    from test_bag_repair import killed_bag

    import mtdagger.rehearsal.graph as graph

    def failed_mid_run(settings, params_dir, log=print):
        killed_bag(tmp_path / "work").rename(settings.bag)  # one finished episode, one open
        raise RuntimeError("the cell died")

    monkeypatch.setattr(graph, "run_rehearsal", failed_mid_run)
    assert main(_rehearse(fr3_checkpoint, tmp_path / "bag")) == 1
    assert any((tmp_path / "bag").glob("*.mcap"))  # evidence is never deleted
