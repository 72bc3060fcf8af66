"""A tiny, untrained point-cloud checkpoint for the ROS graph tests (what it does is irrelevant:
the tests check that the graph carries observations to actions, not that the arm succeeds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_tiny_checkpoint(
    directory: Path,
    tasks=("reach-v3",),
    num_points: int = 64,
    period_s: float = 0.0125,
    trajectory_time_s: float = 0.0,
    execution_contract: bool = True,
):
    import torch

    from mtdagger.control.action import ActionConvention
    from mtdagger.data.normalization import NormalizationStats
    from mtdagger.deployment.node_config import execution_contract_for
    from mtdagger.perception.contract import PointCloudContract
    from mtdagger.policy.checkpoint import CheckpointMeta, save_checkpoint
    from mtdagger.policy.networks import build_student

    torch.manual_seed(0)
    config = {
        "num_tasks": len(tasks),
        "num_points": num_points,
        "point_channels": [8, 16],
        "head_hidden": [16],
        "task_embed_dim": 4,
    }
    model = build_student("pointnet", config)
    rng = np.random.default_rng(0)
    stats = NormalizationStats.from_arrays(
        {
            "state": rng.normal(0.5, 0.2, size=(50, 4)),
            "action": rng.normal(0.0, [0.002, 0.002, 0.002, 0.5], size=(50, 4)),
        }
    )
    contract = PointCloudContract(
        num_points=num_points,
        workspace_min=(-0.6, 0.25, 0.015),
        workspace_max=(0.6, 0.97, 0.6),
        voxel_size_m=0.01,
    )
    convention = ActionConvention(
        control_period_s=period_s, max_step_m=0.01, trajectory_time_s=trajectory_time_s
    )
    meta = CheckpointMeta.for_model(
        model,
        tasks=list(tasks),
        contract=contract,
        action_convention=convention,
        normalization=stats,
        # As training records it: the MetaWorld robot and node config (None: an older checkpoint).
        execution_contract=execution_contract_for(
            "metaworld_sawyer", point_cloud_contract=contract, action=convention
        ) if execution_contract else None,
    )
    save_checkpoint(directory, model, meta)
    return directory


def save_tiny_fr3_checkpoint(directory: Path):
    """An untrained point-cloud checkpoint with the FR3 cell's contract (franka_fr3.yaml node
    config), control period and trajectory time: what the policy node demands in the FR3 cell."""
    import torch

    from mtdagger.control.action import ActionConvention
    from mtdagger.control.robot_config import load_robot_config
    from mtdagger.data.normalization import NormalizationStats
    from mtdagger.deployment.node_config import execution_contract_for
    from mtdagger.policy.checkpoint import CheckpointMeta, save_checkpoint
    from mtdagger.policy.networks import build_student
    from mtdagger.policy.robot_acceptance import node_config_contract

    torch.manual_seed(0)
    contract = node_config_contract(Path(__file__).resolve().parents[1] / "config" / "franka_fr3.yaml")
    robot = load_robot_config("franka_fr3")
    safety = robot.safety
    model = build_student("pointnet", {
        "num_tasks": 2, "num_points": contract.num_points, "point_channels": [8, 16],
        "head_hidden": [16], "task_embed_dim": 4,
    })  # fmt: skip
    rng = np.random.default_rng(0)
    stats = NormalizationStats.from_arrays({
        "state": rng.normal(0.5, 0.2, size=(50, 4)),
        "action": rng.normal(0.0, [0.004, 0.004, 0.004, 0.5], size=(50, 4)),
    })  # fmt: skip
    convention = ActionConvention(control_period_s=safety.control_period_s,
                                  max_step_m=safety.max_speed_m_s * safety.control_period_s,
                                  trajectory_time_s=robot.controllers.trajectory_time_from_start_s)
    meta = CheckpointMeta.for_model(
        model, tasks=["drawer-open", "drawer-close"], contract=contract, normalization=stats,
        action_convention=convention,
        execution_contract=execution_contract_for(
            "franka_fr3", point_cloud_contract=contract, action=convention
        ),
    )  # fmt: skip
    save_checkpoint(directory, model, meta)
    return directory
