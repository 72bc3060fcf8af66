"""Whether a checkpoint may drive a given robot: the policy node's start-up checks, without ROS.

The policy node (`policy_node/policy.py`) calls `load_policy_for_robot` with the contract of its
parameters and the robot config's control period; tests call the same function with the same
numbers read from the node's config YAML (`node_config_contract`), so "the real launch accepts
this checkpoint" is checked by the code that decides it, not by a copy.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mtdagger.control.action import ActionConvention
from mtdagger.control.execution_contract import ExecutionContract
from mtdagger.files import load_yaml
from mtdagger.perception.contract import PointCloudContract

# What the real graph can feed a student, per step: the preprocessed cloud (pointcloud_preprocess),
# proprioception = TCP position + gripper opening (ee_state + /joint_states), the gripper position
# as its own input (= state[:3]) and the task (the policy node's parameter). Privileged simulator
# state exists only in simulation.
DEPLOYED_INPUTS = frozenset({"point_cloud", "state", "ee_position", "task_index"})


def load_policy_for_robot(
    checkpoint: str | Path,
    *,
    contract: PointCloudContract,
    control_period_s: float,
    trajectory_time_s: float = 0.0,
    execution: ExecutionContract | None = None,
    sources: dict[str, str] | None = None,
    accept_missing_execution_contract: bool = False,
) -> Any:
    """The StudentPolicy of `checkpoint` if it fits the robot, else CheckpointError/ValueError.

    Imposed: the student's declared inputs are ones the graph produces (DEPLOYED_INPUTS), the
    point-cloud contract (every field), the robot's control period, because a
    displacement per step means nothing at another rate, and the robot's joint-trajectory time
    (robot config `controllers.trajectory_time_from_start_s`), because it decides how much of each
    step the arm executes before the next, and, given `execution`, the whole execution contract
    (mtdagger.control.execution_contract), fail-closed. The per-step size is the safety filter's business, so
    the stored convention is otherwise taken as it is."""
    from mtdagger.policy.checkpoint import CheckpointError, read_checkpoint_meta
    from mtdagger.policy.checkpoint_checks import check_execution_contract
    from mtdagger.policy.networks import student_config_class
    from mtdagger.policy.student import StudentPolicy

    meta = read_checkpoint_meta(checkpoint)
    try:
        declared = student_config_class(meta.architecture).from_dict(meta.architecture_config).input_keys()
    except ValueError as error:
        raise CheckpointError(f"checkpoint architecture_config is invalid: {error}") from error
    missing = sorted(set(declared) - DEPLOYED_INPUTS)
    if missing:
        raise CheckpointError(
            f"checkpoint architecture={meta.architecture!r} reads {missing}, which the robot's graph does "
            f"not produce (it produces {sorted(DEPLOYED_INPUTS)})"
        )
    stored = ActionConvention.from_dict(meta.action_convention)
    expected = dataclasses.replace(
        stored, control_period_s=control_period_s, trajectory_time_s=trajectory_time_s
    )
    policy = StudentPolicy.from_checkpoint(checkpoint, expect_contract=contract, expect_action=expected)
    if execution is not None:  # then every field: the policy node's view of the whole contract
        check_execution_contract(
            meta, execution, sources=sources, accept_missing=accept_missing_execution_contract
        )
    return policy


def check_checkpoint_execution(
    checkpoint: str | Path,
    expected: ExecutionContract,
    *,
    only: list[str] | None = None,
    sources: dict[str, str] | None = None,
    accept_missing: bool = False,
) -> list[str]:
    """The arm controller's start-up check: the fields it configures, against the checkpoint's
    recorded execution contract (CheckpointError naming each difference; warnings returned)."""
    from mtdagger.policy.checkpoint import read_checkpoint_meta
    from mtdagger.policy.checkpoint_checks import check_execution_contract

    return check_execution_contract(
        read_checkpoint_meta(checkpoint), expected, only=only, sources=sources, accept_missing=accept_missing
    )


# The execution-contract fields the arm controller configures, and where its values come from.
ARM_CONTRACT_FIELDS = ("control_period_s", "trajectory_time_s", "controllers", "gripper",
                       "gripper_change_threshold", "base_frame", "action_frame")  # fmt: skip
ARM_CONTRACT_SOURCES = {
    "trajectory_time_s": "arm_controller parameter trajectory_time_from_start_s, else the robot config's",
    "gripper_change_threshold": "arm_controller parameter gripper_change_threshold",
}


def check_arm_controller_execution(
    checkpoint: str | Path | None, robot: Any, settings: Any, accept_missing: bool = False
) -> list[str]:
    """The arm controller's start-up check (`settings`: its ArmControlSettings): the trajectory
    time it will send (its override, else the robot config's) and its gripper threshold, with the
    robot config's fields, against the checkpoint. CheckpointError on a difference; the warnings
    to log otherwise (no checkpoint given: nothing checked, said so)."""
    if checkpoint is None:
        return ["no checkpoint parameter: the execution contract is not checked"]
    trajectory_time_s = (
        settings.trajectory_time_from_start_s or robot.controllers.trajectory_time_from_start_s
    )
    expected = ExecutionContract.from_configs(
        robot, gripper_change_threshold=settings.gripper_change_threshold, gripper_opening_scale=1.0,
        point_cloud_contract=None, trajectory_time_s=trajectory_time_s,
    )  # fmt: skip
    return check_checkpoint_execution(
        checkpoint, expected, only=list(ARM_CONTRACT_FIELDS), sources=ARM_CONTRACT_SOURCES,
        accept_missing=accept_missing,
    )  # fmt: skip


def node_config_contract(path: str | Path) -> PointCloudContract:
    """The `contract` parameters of a policy_node config YAML (its `/**` section)."""
    data = load_yaml(Path(path).read_text(), str(path)) or {}
    try:
        contract = data["/**"]["ros__parameters"]["contract"]
    except (KeyError, TypeError):
        raise ValueError(f"{path}: no /**.ros__parameters.contract section") from None
    return PointCloudContract(
        num_points=int(contract["num_points"]),
        workspace_min=tuple(float(v) for v in contract["workspace_min"]),
        workspace_max=tuple(float(v) for v in contract["workspace_max"]),
        min_depth_m=float(contract["min_depth_m"]),
        max_depth_m=float(contract["max_depth_m"]),
        voxel_size_m=float(contract["voxel_size_m"]),
        table_band_m=float(contract.get("table_band_m", 0.0)),
    )
