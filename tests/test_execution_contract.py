"""One execution contract in the checkpoint (issue 20, item 4), checked fail-closed at start-up,
and one safety pass per step with every inner verdict recorded (item 5), without ROS."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from mtdagger.control.action import ActionConvention
from mtdagger.control.arm_command import ArmControlCore, ArmControlSettings
from mtdagger.control.execution_contract import ExecutionContract
from mtdagger.control.robot_config import load_robot_config
from mtdagger.deployment.node_config import execution_contract_for
from mtdagger.policy.checkpoint import CheckpointError, read_checkpoint_meta, save_checkpoint
from mtdagger.policy.robot_acceptance import (
    check_arm_controller_execution,
    load_policy_for_robot,
    node_config_contract,
)

REPO = Path(__file__).resolve().parents[1]
FR3_NODE_CONFIG = REPO / "policy_node" / "config" / "franka_fr3.yaml"
ROBOT = load_robot_config("franka_fr3")
CONTRACT = node_config_contract(FR3_NODE_CONFIG)
PERIOD, TRAJECTORY = ROBOT.safety.control_period_s, ROBOT.controllers.trajectory_time_from_start_s
# What the FR3 policy node builds from the robot config and franka_fr3.yaml (its parameters).
POLICY_VIEW = ExecutionContract.from_configs(
    ROBOT, gripper_change_threshold=1.0, gripper_opening_scale=25.0, point_cloud_contract=CONTRACT
)


def _convention(**changes) -> ActionConvention:
    base = ActionConvention(control_period_s=PERIOD, max_step_m=0.0125, trajectory_time_s=TRAJECTORY)
    return dataclasses.replace(base, **changes)


def _checkpoint(directory: Path, convention=None, contract=CONTRACT, execution="same") -> Path:
    """A tiny FR3 point-cloud checkpoint; `execution` 'same' (as training records it), None, or
    an ExecutionContract to store."""
    sys.path.insert(0, str(REPO / "policy_node" / "test"))
    from tiny_checkpoint import save_tiny_fr3_checkpoint

    save_tiny_fr3_checkpoint(directory / "base")
    from mtdagger.policy.checkpoint import load_checkpoint

    model, meta = load_checkpoint(directory / "base")
    convention = convention or _convention()
    if isinstance(execution, str):
        execution = execution_contract_for("franka_fr3", point_cloud_contract=contract, action=convention)
    meta = dataclasses.replace(
        meta,
        action_convention=convention.to_dict(),
        point_cloud_contract=contract.to_dict(),
        execution_contract=None if execution is None else execution.to_dict(),
    )
    save_checkpoint(directory / "ckpt", model, meta)
    return directory / "ckpt"


def _policy_node_check(checkpoint: Path, **kwargs):
    return load_policy_for_robot(
        checkpoint, contract=CONTRACT, control_period_s=PERIOD, trajectory_time_s=TRAJECTORY,
        execution=POLICY_VIEW, **kwargs,
    )  # fmt: skip


def test_training_records_what_the_policy_node_checks(tmp_path):
    """execution_contract_for (training) and the policy node's view agree on main's configs."""
    recorded = execution_contract_for("franka_fr3", point_cloud_contract=CONTRACT, action=_convention())
    assert recorded == POLICY_VIEW
    policy = _policy_node_check(_checkpoint(tmp_path))
    assert policy.checkpoint_id


def _differing(field: str):
    """(convention, point-cloud contract, stored execution contract) differing in `field` only,
    and consistent within the checkpoint (as a checkpoint trained that way would be)."""
    convention, contract = _convention(), CONTRACT
    if field == "control_period_s":
        convention = _convention(control_period_s=0.025)
    elif field == "trajectory_time_s":
        convention = _convention(trajectory_time_s=TRAJECTORY + 0.1)
    elif field == "action_frame":
        convention = _convention(frame="tool")
    elif field == "point_cloud_contract":
        contract = dataclasses.replace(CONTRACT, voxel_size_m=0.01)
    stored = execution_contract_for("franka_fr3", point_cloud_contract=contract, action=convention)
    changes = {
        "controllers": {**stored.controllers, "trajectory_time_from_start_s": 0.3},
        "gripper": {**stored.gripper, "max_effort_n": 40.0},
        "gripper_change_threshold": 0.5,
        "gripper_opening_scale": 12.5,
        "base_frame": "world",
    }
    if field in changes:
        stored = dataclasses.replace(stored, **{field: changes[field]})
    return convention, contract, stored


FIELDS = [f.name for f in dataclasses.fields(ExecutionContract)]


@pytest.mark.parametrize("field", FIELDS)
def test_a_checkpoint_whose_execution_contract_differs_in_any_field_is_refused(tmp_path, field):
    convention, contract, stored = _differing(field)
    checkpoint = _checkpoint(tmp_path, convention, contract, stored)
    # The period and the point-cloud contract are refused by the older checks first, naming them.
    named = rf"(execution_contract\.|action_convention\.|checkpoint ){field}[.=]"
    with pytest.raises(CheckpointError, match=named):
        _policy_node_check(checkpoint)


def test_a_checkpoint_without_an_execution_contract_is_refused_unless_opted_in(tmp_path):
    checkpoint = _checkpoint(tmp_path, execution=None)
    assert read_checkpoint_meta(checkpoint).execution_contract is None  # older checkpoints still load
    with pytest.raises(CheckpointError, match=r"no execution_contract.*retrain"):
        _policy_node_check(checkpoint)
    assert _policy_node_check(checkpoint, accept_missing_execution_contract=True).checkpoint_id
    with pytest.raises(CheckpointError, match="no execution_contract"):
        check_arm_controller_execution(checkpoint, ROBOT, ArmControlSettings("joint_trajectory", 1.0))


@pytest.mark.parametrize("settings, field", [
    (ArmControlSettings("joint_trajectory", 1.0, trajectory_time_from_start_s=TRAJECTORY + 0.1),
     "trajectory_time_s"),
    (ArmControlSettings("joint_trajectory", 0.1), "gripper_change_threshold"),
])  # fmt: skip
def test_an_arm_controller_override_that_disagrees_refuses_to_start(tmp_path, settings, field):
    checkpoint = _checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match=rf"execution_contract\.{field}=.*parameter"):
        check_arm_controller_execution(checkpoint, ROBOT, settings)
    same = ArmControlSettings("joint_trajectory", 1.0, trajectory_time_from_start_s=TRAJECTORY)
    assert check_arm_controller_execution(checkpoint, ROBOT, same) == []


def test_a_contract_that_contradicts_the_checkpoint_itself_does_not_load(tmp_path):
    stored = dataclasses.replace(POLICY_VIEW, control_period_s=0.025)
    with pytest.raises(CheckpointError, match=r"execution_contract\.control_period_s=0\.025 disagrees"):
        read_checkpoint_meta(_checkpoint(tmp_path, execution=stored))


def test_unknown_keys_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['interpolation_lw'\]"):
        ExecutionContract.from_dict({**POLICY_VIEW.to_dict(), "interpolation_lw": "cubic"})
    with pytest.raises(ValueError, match=r"action_convention has unknown key\(s\) \['frme'\]"):
        ActionConvention.from_dict({**_convention().to_dict(), "frme": "base"})
    from types import SimpleNamespace

    from mtdagger.policy.checkpoint_checks import check_execution_contract

    with pytest.raises(CheckpointError, match=r"execution_contract is invalid.*unknown key\(s\) \['x'\]"):
        check_execution_contract(SimpleNamespace(execution_contract={"x": 1}), POLICY_VIEW)


# ----------------------------------------------------------------------------- item 5: NaN IK


def test_a_nan_ik_answer_holds_with_a_reason_instead_of_raising(monkeypatch):
    from mtdagger.control.kinematics import ArmKinematics
    from sim_bridge.fr3.model import BASE_LINK, HOME_Q, TCP_LINK, fr3_urdf

    kinematics = ArmKinematics(fr3_urdf(), BASE_LINK, TCP_LINK)
    core = ArmControlCore(ROBOT, ArmControlSettings("joint_trajectory", 1.0))
    core.set_kinematics(kinematics)
    home = np.asarray(HOME_Q, dtype=np.float64)
    core.on_joint_state(ROBOT.joint_names, home)
    core.on_ee_pose(kinematics.forward(home)[:3, 3], 10.0, (1.0, 0.0, 0.0, 0.0))
    monkeypatch.setattr(kinematics, "_inverse_within", lambda *a, **k: np.full(7, np.nan))
    command = core.on_action([0.005, 0.0, 0.0, -1.0], observation_stamp_s=10.0, now_s=10.0)
    assert command.is_hold and any(r.startswith("ik_error") for r in command.applied.reasons)
    assert command.joint_positions is None or np.all(np.isfinite(command.joint_positions))


def test_the_fr3_cell_executes_the_gripper_threshold_the_node_config_gives():
    """Training's FR3 backend keeps its own constant (sim_bridge cannot read the node config, a
    layer above it): it must equal what the checkpoint records and the arm controller applies."""
    from sim_bridge.fr3.backend import GRIPPER_CHANGE_THRESHOLD

    recorded = execution_contract_for("franka_fr3", point_cloud_contract=CONTRACT, action=_convention())
    assert recorded.gripper_change_threshold == GRIPPER_CHANGE_THRESHOLD
