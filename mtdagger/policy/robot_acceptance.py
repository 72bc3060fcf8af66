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
) -> Any:
    """The StudentPolicy of `checkpoint` if it fits the robot, else CheckpointError/ValueError.

    Imposed: the student's declared inputs are ones the graph produces (DEPLOYED_INPUTS), the
    point-cloud contract (every field), the robot's control period, because a
    displacement per step means nothing at another rate, and the robot's joint-trajectory time
    (robot config `controllers.trajectory_time_from_start_s`), because it decides how much of each
    step the arm executes before the next. The per-step size is the safety filter's business, so
    the stored convention is otherwise taken as it is."""
    from mtdagger.policy.checkpoint import CheckpointError, read_checkpoint_meta
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
    return StudentPolicy.from_checkpoint(checkpoint, expect_contract=contract, expect_action=expected)


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
    )
