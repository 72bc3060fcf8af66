"""Perception: metric depth -> the contract's N points in the robot base frame (DESIGN.md §3)."""

from mtdagger.perception.camera_model import CameraModel
from mtdagger.perception.contract import PointCloudContract
from mtdagger.perception.pointcloud import (
    DEPTH_16UC1_SCALE_M,
    EmptyPointCloudError,
    StageCounts,
    depth_from_16uc1,
    depth_to_point_cloud,
    depth_to_point_cloud_with_counts,
    sample_fixed_size,
    workspace_points,
)

__all__ = [
    "DEPTH_16UC1_SCALE_M",
    "CameraModel",
    "EmptyPointCloudError",
    "PointCloudContract",
    "StageCounts",
    "depth_from_16uc1",
    "depth_to_point_cloud",
    "depth_to_point_cloud_with_counts",
    "sample_fixed_size",
    "workspace_points",
]
