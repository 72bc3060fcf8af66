"""The point-cloud contract (DESIGN.md §3): one config object, stored in every checkpoint.

A simulated cloud and a real cloud are made by the same function with these same numbers;
`mtdagger.perception.pointcloud.depth_to_point_cloud` is that function.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from mtdagger.config_validation import bounds, build_dataclass

_METRES_BOX = bounds(ge=-10, le=10, why="metres in the robot base frame, not millimetres")


@dataclass(frozen=True)
class PointCloudContract:
    """How a depth image becomes the policy's point cloud.

    Every field takes part in checkpoint validation: a policy trained on one contract refuses
    to run on clouds made with another.
    """

    num_points: int = field(default=1024, metadata=bounds(ge=1, le=1_000_000))
    # Axis-aligned crop box in the robot base frame (metres).
    workspace_min: tuple[float, float, float] = field(default=(-0.6, 0.3, -0.0225), metadata=_METRES_BOX)
    workspace_max: tuple[float, float, float] = field(default=(0.6, 1.1, 0.6), metadata=_METRES_BOX)
    # Depth outside [min_depth_m, max_depth_m] is invalid (dropped, never a point at the origin).
    min_depth_m: float = field(default=0.1, metadata=bounds(ge=0, le=20, why="metres, not millimetres"))
    max_depth_m: float = field(default=2.5, metadata=bounds(gt=0, le=20, why="metres, not millimetres"))
    # Voxel grid edge before FPS; 0 disables the voxel grid. 5 mm keeps every pixel of the decimated
    # 160x120 stream we deploy (a pixel spans ~7.5 mm at 1.2 m) and thins full-resolution depth;
    # the crop's z floor (-0.0225) puts a table top at z = 0 mid-layer, so noise does not split it.
    # `mtdagger bench perception` also times 1 cm, the lever if full-resolution depth must be fast.
    voxel_size_m: float = field(
        default=0.005, metadata=bounds(ge=0, le=1, why="metres; 0 disables the voxel grid")
    )
    # Points less than this height above the table plane fitted in each cloud are dropped
    # (perception/table_plane.py); 0 disables. It follows a table that a calibration error lifted
    # or tilted, where a fixed crop floor lets it in; the box must then reach below the table.
    table_band_m: float = field(
        default=0.0, metadata=bounds(ge=0, le=0.2, why="metres; 0 disables the table-following crop")
    )
    # When fewer than num_points survive: repeat-sample surviving points (never zero padding).
    padding: Literal["repeat"] = "repeat"

    def __post_init__(self) -> None:
        scalars = (self.min_depth_m, self.max_depth_m, self.voxel_size_m, self.table_band_m)
        if not all(np.isfinite(float(v)) for v in scalars):
            raise ValueError("min_depth_m, max_depth_m, voxel_size_m and table_band_m must be finite")
        if self.num_points <= 0:
            raise ValueError(f"num_points must be positive, got {self.num_points}")
        lo, hi = np.asarray(self.workspace_min), np.asarray(self.workspace_max)
        if lo.shape != (3,) or hi.shape != (3,) or not np.all(lo < hi) or not np.all(np.isfinite(lo)):
            raise ValueError(f"workspace box must be 3-D with min < max, got {lo} .. {hi}")
        if not 0 <= self.min_depth_m < self.max_depth_m:
            raise ValueError("depth range must satisfy 0 <= min_depth_m < max_depth_m")
        if self.voxel_size_m < 0:
            raise ValueError("voxel_size_m must be >= 0")
        if self.table_band_m < 0:
            raise ValueError("table_band_m must be >= 0")
        if self.table_band_m > 0 and lo[2] >= 0:
            raise ValueError(
                f"table_band_m > 0 fits the table (z = 0) in each cloud, so workspace_min z must lie "
                f"below it, got {lo[2]}"
            )
        if self.padding != "repeat":
            raise ValueError(f"unknown padding rule {self.padding!r}; only 'repeat' is defined")
        object.__setattr__(self, "workspace_min", tuple(float(v) for v in lo))
        object.__setattr__(self, "workspace_max", tuple(float(v) for v in hi))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["workspace_min"] = list(self.workspace_min)
        data["workspace_max"] = list(self.workspace_max)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "point_cloud") -> PointCloudContract:
        """Build from plain data. Unknown keys (`voxel_size`, `num_point`), wrong types, NaN/inf
        and out-of-range values are `ConfigError`s naming `where.field`: this is the sim-to-real
        contract, so nothing in it may be dropped or defaulted silently."""
        return build_dataclass(cls, data, where)
