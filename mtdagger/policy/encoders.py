"""Point-cloud encoders of the student: the global PointNet and the gripper-local one.

Costs on a CPU, measured by `mtdagger bench train` (N=512, batch 256), drove the layout:
- the last layer's ReLU runs after the max-pool (ReLU is monotone, so relu(max) = max(relu))
  on B rows instead of B×N;
- the pool is `max(dim).values`, whose backward scatters through the arg-max indices, where
  `amax`'s backward builds an equality mask over the whole B×N×C tensor;
- per-point LayerNorm (DP3) is optional: on B×N×C it costs about as much as the matmuls.
Nothing mixes points before the symmetric max, so each feature is invariant to point order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def ee_relative_points(points: torch.Tensor, ee_position: torch.Tensor, scale_m: float) -> torch.Tensor:
    """(B, N, 3) base-frame points → (B, N, 6): the points and (p − ee) / scale_m beside them."""
    return torch.cat([points, (points - ee_position[:, None, :]) / scale_m], dim=-1)


def _nearest(values: torch.Tensor, offsets: torch.Tensor, k: int) -> torch.Tensor:
    """(B, N, C) values of the k points with the smallest offsets (B, N, 3) from the gripper."""
    nearest = (offsets * offsets).sum(dim=-1).topk(k, dim=-1, largest=False).indices
    return torch.gather(values, 1, nearest[..., None].expand(-1, -1, values.shape[-1]))


def cloud_anchor(points: torch.Tensor, ee_position: torch.Tensor, num_points: int) -> torch.Tensor:
    """(B, N, 3), (B, 3) → (B, 3): the centroid of the `num_points` cloud points nearest the
    gripper's position from the state: where the gripper appears IN THE CLOUD.

    Why: with a hand-eye calibration off by 1 cm / 1°, the whole cloud sits 1-3 cm from where
    the state puts the gripper, so points measured against the state's gripper are off by that
    much, and a handle or puck looks that far from where it is (docs/results/student.md,
    robustness). The gripper's own points move with the cloud; measured against their centroid,
    a rigid shift of the cloud cancels. The anchor is not the gripper's true position (a
    centroid of what the camera sees near it), but it is the same function of the cloud in
    training and on the robot, so the student learns what it means."""
    return _nearest(points, points - ee_position[:, None, :], num_points).mean(dim=1)


class PointNetEncoder(nn.Module):
    """Per-point shared MLP (Linear [→ LayerNorm] → ReLU) + max-pool [+ LayerNorm]."""

    def __init__(
        self,
        channels: Sequence[int],
        *,
        in_dim: int = 3,
        point_norm: bool = False,
        pooled_norm: bool = True,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, width in enumerate(channels):
            layers.append(nn.Linear(in_dim, width))
            if point_norm:
                layers.append(nn.LayerNorm(width))
            if i < len(channels) - 1:
                layers.append(nn.ReLU())
            in_dim = width
        self.per_point = nn.Sequential(*layers)
        self.pooled_norm = nn.LayerNorm(in_dim) if pooled_norm else nn.Identity()
        self.out_dim = in_dim

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        pooled = self.per_point(points).max(dim=-2).values
        return self.pooled_norm(torch.relu(pooled))


class GripperLocalEncoder(nn.Module):
    """The K points nearest the gripper, in the gripper's frame, through a small PointNet.

    Why: a 4 cm goal or handle gets ~16 of 1024 points in the global sample, and the global
    max-pool mixes them with the whole scene. The K nearest points are a second, dense look at
    exactly where the gripper is about to act, at a fixed scale (ee_scale_m), whatever the
    robot's position in the workspace. Chosen by distance (top-k), so it is a pure function of
    the same cloud and state every stage already produces: no new preprocessing on the robot.
    """

    def __init__(self, num_points: int, channels: Sequence[int], scale_m: float) -> None:
        super().__init__()
        self.num_points = num_points
        self.scale_m = float(scale_m)
        self.encoder = PointNetEncoder(channels, in_dim=3)
        self.out_dim = self.encoder.out_dim

    def forward(self, points: torch.Tensor, ee_position: torch.Tensor) -> torch.Tensor:
        offsets = points - ee_position[:, None, :]
        return self.encoder(_nearest(offsets, offsets, self.num_points) / self.scale_m)
