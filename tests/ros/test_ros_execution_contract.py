"""Real rclpy: the policy node and the arm controller refuse a checkpoint whose execution contract
is not theirs, naming the field, and an exception in the arm controller's command path is a hold
with its reason, not a dead callback (issue 20, items 4 and 5)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from graph_harness import REPO_ROOT

FR3_NODE_CONFIG = REPO_ROOT / "policy_node" / "config" / "franka_fr3.yaml"


@pytest.fixture
def ros():
    import rclpy

    rclpy.init()
    yield rclpy
    rclpy.try_shutdown()


def _fr3_checkpoint(directory: Path, **contract_changes) -> Path:
    """The tiny FR3 checkpoint, its recorded execution contract changed by `contract_changes`."""
    from tiny_checkpoint import save_tiny_fr3_checkpoint

    from mtdagger.control.execution_contract import ExecutionContract
    from mtdagger.policy.checkpoint import load_checkpoint, save_checkpoint

    save_tiny_fr3_checkpoint(directory / "base")
    if not contract_changes:
        return directory / "base"
    model, meta = load_checkpoint(directory / "base")
    stored = dataclasses.replace(ExecutionContract.from_dict(meta.execution_contract), **contract_changes)
    meta = dataclasses.replace(meta, execution_contract=stored.to_dict())
    save_checkpoint(directory / "changed", model, meta)
    return directory / "changed"


def _start(node_class, parameters: dict):
    """The node, or the StartupError's message."""
    from policy_node.ros_support import StartupError
    from rclpy.parameter import Parameter

    try:
        return node_class(parameter_overrides=[Parameter(k, value=v) for k, v in parameters.items()])
    except StartupError as error:
        return str(error)


def _fr3_parameters(node: str, checkpoint: Path) -> dict:
    from mtdagger.deployment.node_config import load_node_config

    return {**load_node_config(FR3_NODE_CONFIG).for_node(node), "checkpoint": str(checkpoint)}


@pytest.mark.parametrize("changes, field", [
    ({}, None),
    ({"gripper_change_threshold": 0.5}, "gripper_change_threshold"),
    ({"gripper_opening_scale": 12.5}, "gripper_opening_scale"),
    ({"base_frame": "world"}, "base_frame"),
])  # fmt: skip
def test_the_fr3_policy_node_refuses_another_execution_contract(ros, tmp_path, changes, field):
    from policy_node.policy import PolicyNode

    checkpoint = _fr3_checkpoint(tmp_path, **changes)
    node = _start(PolicyNode, {**_fr3_parameters("policy", checkpoint), "task": "drawer-open"})
    if field is None:
        assert not isinstance(node, str), node
        node.destroy_node()
    else:
        assert isinstance(node, str) and f"execution_contract.{field}=" in node, node


@pytest.mark.parametrize("cell_band", [0.015, 0.0])
def test_a_banded_checkpoint_runs_only_where_the_cell_sets_the_same_table_band(ros, tmp_path, cell_band):
    """A checkpoint whose clouds dropped the 1.5 cm above a fitted table runs only where the cell's
    contract.table_band_m says the same: without it the node would feed the student the table."""
    from policy_node.policy import PolicyNode

    from mtdagger.policy.checkpoint import load_checkpoint, save_checkpoint

    model, meta = load_checkpoint(_fr3_checkpoint(tmp_path))
    floor = [*meta.point_cloud_contract["workspace_min"][:2], -0.05]
    banded = {**meta.point_cloud_contract, "workspace_min": floor, "table_band_m": 0.015}
    execution = {**meta.execution_contract, "point_cloud_contract": banded}
    meta = dataclasses.replace(meta, point_cloud_contract=banded, execution_contract=execution)
    save_checkpoint(tmp_path / "banded", model, meta)
    cell = {"contract.workspace_min": floor, "contract.table_band_m": cell_band}
    parameters = {**_fr3_parameters("policy", tmp_path / "banded"), **cell, "task": "drawer-open"}
    node = _start(PolicyNode, parameters)
    if cell_band:
        assert not isinstance(node, str), node
        node.destroy_node()
    else:
        assert isinstance(node, str) and "table_band_m=0.015 but this run expects 0.0" in node, node


def test_the_arm_controller_refuses_a_trajectory_time_override(ros, tmp_path):
    from policy_node.arm_controller import ArmControllerNode

    from mtdagger.control.robot_config import load_robot_config

    checkpoint = _fr3_checkpoint(tmp_path)
    parameters = {**_fr3_parameters("arm_controller", checkpoint), "gripper_interface": "topic"}
    trained = load_robot_config("franka_fr3").controllers.trajectory_time_from_start_s
    refusal = _start(ArmControllerNode, {**parameters, "trajectory_time_from_start_s": trained + 0.1})
    assert isinstance(refusal, str) and f"execution_contract.trajectory_time_s={trained}" in refusal, refusal
    assert "trajectory_time_from_start_s" in refusal
    node = _start(ArmControllerNode, parameters)  # the same settings without the override start
    assert not isinstance(node, str), node
    node.destroy_node()


def test_an_exception_in_the_command_path_is_a_recorded_hold(ros):
    """The core raising (a NaN IK answer, a ValueError) inside `_on_action`: the callback returns,
    a hold with the reason is sent and recorded."""
    from policy_node.arm_controller import ArmControllerNode
    from policy_node.ros_support import action_command_msg

    node = _start(ArmControllerNode, {"robot_config": "metaworld_sawyer", "gripper_interface": "topic"})
    sent = []
    node._send = lambda command, stamp_ns: sent.append(command)
    node._core.on_ee_pose(np.array([0.0, 0.6, 0.2]), 0.0, (0.0, 0.0, 0.0, 1.0))

    def broken(*_args, **_kwargs):
        raise ValueError("forward kinematics has non-finite joint values: [nan ...]")

    node._core.on_action = broken
    node._on_action(action_command_msg([0.01, 0.0, 0.0, -1.0], 0, "right_arm_base_link"))
    assert len(sent) == 1 and sent[0].is_hold
    assert any(r.startswith("command_error: ValueError") for r in sent[0].applied.reasons)
    node.destroy_node()
