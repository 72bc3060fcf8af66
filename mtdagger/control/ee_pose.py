"""What the `ee_state` node computes, without ROS: the end-effector pose of every joint state.

The pose is the forward kinematics of the robot description's base_frame -> ee_frame chain at the
joint state's positions, stamped with the joint state's stamp: exactly what robot_state_publisher
turns into TF (same URDF, same joints), without going through TF. Why not TF (issue 21): TF
listeners latch only /tf_static, and robot_state_publisher publishes /tf once per NEW joint-state
stamp, so a node that starts after the last new stamp (a lockstep simulator waiting for its first
command republishes one stamp) never gets the pose; and a node that samples TF on a timer gives a
pose older than the observation it goes with (the timer fires before the newest /tf arrives),
which the arm controller's watchdog then holds as a stale observation. One pose per joint state,
driven by the joint states themselves, has neither problem, and runs on PyPI rclpy (no tf2_ros).

Rules (`EePoseFromJoints.pose`):
- no robot description yet, or a state lacking a chain joint or with non-finite positions: None;
- a state repeated with the same stamp (a republished observation) gives the same pose again, so
  a subscriber that joined late gets it too;
- `min_interval_s` > 0 caps the rate on the states' stamps (a 1 kHz joint-state stream), never
  dropping a state that is at least that much newer than the last pose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mtdagger.control.kinematics import ArmKinematics, KinematicsError


@dataclass(frozen=True)
class EePose:
    position: np.ndarray  # (3,) base frame, m
    orientation_xyzw: np.ndarray  # (4,) unit quaternion
    stamp_ns: int  # the joint state's stamp


class EePoseFromJoints:
    def __init__(self, base_frame: str, ee_frame: str, min_interval_s: float = 0.0) -> None:
        if not (math.isfinite(min_interval_s) and min_interval_s >= 0):
            raise ValueError(f"min_interval_s must be >= 0, got {min_interval_s!r}")
        self.base_frame, self.ee_frame = base_frame, ee_frame
        self._min_interval_ns = round(min_interval_s * 1e9)
        self.kinematics: ArmKinematics | None = None
        self._last_stamp_ns: int | None = None
        self.problem = "no robot description yet"  # why the last state gave no pose ("": the cap)

    def set_robot_description(self, urdf_xml: str) -> None:
        """The URDF (KinematicsError when it has no base_frame -> ee_frame chain)."""
        self.kinematics = ArmKinematics(urdf_xml, self.base_frame, self.ee_frame)

    def pose(self, names, positions, stamp_ns: int) -> EePose | None:
        """The EE pose of this joint state, or None (`problem` says why)."""
        if self.kinematics is None:
            return None
        last = self._last_stamp_ns
        if last is not None and 0 < stamp_ns - last < self._min_interval_ns:
            self.problem = ""  # skipped on purpose: the rate cap
            return None
        try:
            q = self.kinematics.joints_from_state(list(names), list(positions))
            T = self.kinematics.forward(q)
        except (KinematicsError, ValueError) as error:
            self.problem = str(error)
            return None
        from scipy.spatial.transform import Rotation

        self._last_stamp_ns = int(stamp_ns)
        self.problem = ""
        quaternion = Rotation.from_matrix(T[:3, :3]).as_quat()
        return EePose(T[:3, 3].copy(), np.asarray(quaternion, dtype=np.float64), int(stamp_ns))
