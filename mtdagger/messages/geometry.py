"""geometry_msgs and tf2_msgs conversions: twists, poses and rigid transforms.

Split from `mtdagger.messages.convert` (which re-exports every name here, so callers keep one
import for all conversions): these messages share the vector/quaternion/rigid-motion checks and
have nothing to do with images or clouds. Same rules as `convert`: writers build through a
`MessageFactory`, readers are duck-typed. Transforms are 4x4 homogeneous matrices mapping child
frame coordinates into the parent frame (tf2's parent -> child transform).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from mtdagger.messages.factory import MessageFactory
from mtdagger.messages.stamps import checked_frame_id, header, stamp_ns_from_header


def _vector3(values: Any, name: str) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float64)
    if vector.shape != (3,):
        raise ValueError(f"{name} must have 3 elements, got shape {vector.shape}")
    return vector


def _vector3_msg(factory: MessageFactory, values: Any, name: str,
                 type_name: str = "geometry_msgs/msg/Vector3") -> Any:
    x, y, z = (float(v) for v in _vector3(values, name))
    return factory.new(type_name, x=x, y=y, z=z)


def _quaternion_msg(factory: MessageFactory, quaternion_xyzw: Any) -> Any:
    q = np.asarray(quaternion_xyzw, dtype=np.float64)
    if q.shape != (4,) or not np.all(np.isfinite(q)) or not np.isclose(np.linalg.norm(q), 1.0, atol=1e-6):
        raise ValueError(f"quaternion must be 4 finite numbers (x, y, z, w) of unit norm, "
                         f"got {quaternion_xyzw!r}")
    x, y, z, w = (float(v) for v in q)
    return factory.new("geometry_msgs/msg/Quaternion", x=x, y=y, z=z, w=w)


def twist_stamped_msg(factory: MessageFactory, linear_m_s: Any, angular: Any, stamp_ns: int,
                      frame_id: str) -> Any:
    """geometry_msgs/TwistStamped (MoveIt Servo's input): linear m/s and angular rad/s in `frame_id`."""
    twist = factory.new("geometry_msgs/msg/Twist", linear=_vector3_msg(factory, linear_m_s, "linear_m_s"),
                        angular=_vector3_msg(factory, angular, "angular"))
    return factory.new("geometry_msgs/msg/TwistStamped", header=header(factory, stamp_ns, frame_id),
                       twist=twist)


def twist_from_msg(msg: Any) -> tuple[np.ndarray, np.ndarray]:
    """(linear, angular) float64[3] of a TwistStamped (or a bare Twist)."""
    twist = getattr(msg, "twist", msg)
    return (np.array([twist.linear.x, twist.linear.y, twist.linear.z], dtype=np.float64),
            np.array([twist.angular.x, twist.angular.y, twist.angular.z], dtype=np.float64))


def pose_stamped_msg(factory: MessageFactory, position: Any, quaternion_xyzw: Any, stamp_ns: int,
                     frame_id: str) -> Any:
    """geometry_msgs/PoseStamped (e.g. a Cartesian impedance controller's equilibrium pose)."""
    pose = factory.new("geometry_msgs/msg/Pose",
                       position=_vector3_msg(factory, position, "position", "geometry_msgs/msg/Point"),
                       orientation=_quaternion_msg(factory, quaternion_xyzw))
    return factory.new("geometry_msgs/msg/PoseStamped", header=header(factory, stamp_ns, frame_id), pose=pose)


def pose_from_msg(msg: Any) -> tuple[np.ndarray, np.ndarray]:
    """(position float64[3], quaternion x y z w float64[4]) of a PoseStamped (or a bare Pose)."""
    pose = getattr(msg, "pose", msg)
    p, q = pose.position, pose.orientation
    return np.array([p.x, p.y, p.z], dtype=np.float64), np.array([q.x, q.y, q.z, q.w], dtype=np.float64)


def _checked_transform(T: Any) -> np.ndarray:
    matrix = np.asarray(T, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise ValueError(f"transform must be a finite 4x4 matrix, got shape {matrix.shape}")
    rotation = matrix[:3, :3]
    if (not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6) or np.linalg.det(rotation) < 0
            or not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0])):
        raise ValueError("transform is not a rigid motion "
                         "(rotation not orthonormal, or last row not 0 0 0 1)")
    return matrix


def transform_stamped_msg(factory: MessageFactory, T: Any, parent_frame: str, child_frame: str,
                          stamp_ns: int) -> Any:
    """geometry_msgs/TransformStamped of `T` (child -> parent coordinates), e.g. base -> camera optical."""
    matrix = _checked_transform(T)
    quaternion = Rotation.from_matrix(matrix[:3, :3]).as_quat()  # x, y, z, w
    transform = factory.new("geometry_msgs/msg/Transform",
                            translation=_vector3_msg(factory, matrix[:3, 3], "translation"),
                            rotation=_quaternion_msg(factory, quaternion / np.linalg.norm(quaternion)))
    return factory.new("geometry_msgs/msg/TransformStamped", header=header(factory, stamp_ns, parent_frame),
                       child_frame_id=checked_frame_id(child_frame), transform=transform)


@dataclass(frozen=True)
class TransformReading:
    T: np.ndarray  # 4x4: child-frame coordinates -> parent-frame coordinates
    parent_frame: str
    child_frame: str
    stamp_ns: int


def transform_from_msg(msg: Any) -> TransformReading:
    t, q = msg.transform.translation, msg.transform.rotation
    quaternion = np.array([q.x, q.y, q.z, q.w], dtype=np.float64)
    norm = np.linalg.norm(quaternion)
    if not np.isfinite(norm) or norm < 1e-9:
        raise ValueError(f"transform {msg.header.frame_id}->{msg.child_frame_id} has an invalid quaternion")
    matrix = np.eye(4)
    matrix[:3, :3] = Rotation.from_quat(quaternion / norm).as_matrix()
    matrix[:3, 3] = [t.x, t.y, t.z]
    return TransformReading(matrix, str(msg.header.frame_id), str(msg.child_frame_id),
                            stamp_ns_from_header(msg.header))


def tf_message(factory: MessageFactory, transforms: list[Any]) -> Any:
    """tf2_msgs/TFMessage for /tf or /tf_static (the latter with depth 1, TRANSIENT_LOCAL QoS)."""
    return factory.new("tf2_msgs/msg/TFMessage", transforms=list(transforms))
