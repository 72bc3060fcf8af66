"""`DepthFrame`: one metric depth image with the camera model it was taken with.

What every depth source hands to the point-cloud stage: a simulator backend's `render_depth`, the
RealSense driver, a recorded bag, the ROS preprocessing node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtdagger.perception.camera_model import CameraModel


@dataclass(frozen=True)
class DepthFrame:
    """A metric depth image and the camera model it was taken with (0 or NaN = invalid pixel)."""

    depth_m: np.ndarray  # (H, W) float32, metres along the optical axis (planar depth)
    camera: CameraModel
    stamp_s: float = 0.0
