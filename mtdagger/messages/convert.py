"""Conversions between ROS 2 messages and the core's numpy / dataclass values.

Writers take a `MessageFactory` first and build every message, nested ones included, through
`factory.new`, passing Humble-safe values: Python float/int/str, lists, and `array.array` for numeric
sequences (byte buffers as `array.array('B')`, which rclpy stores without a per-byte check). The
same writer thus yields rclpy messages on the robot and rosbags messages in bags and tests.

Readers are duck-typed: they use attribute access, `np.asarray` and `np.frombuffer`, which work on
rclpy messages (array.array / ndarray fields), rosbags messages (ndarray fields) and PlainMessage.

Units and conventions: stamps are integer nanoseconds; depth is published as realsense-ros does,
16UC1 millimetres; points are float32 metres; transforms are 4x4 homogeneous matrices mapping child
frame coordinates into the parent frame (tf2's parent -> child transform).

This module is the one import for every conversion: stamps and headers live in
`mtdagger.messages.stamps`, twists, poses and transforms in `mtdagger.messages.geometry`, and both
are re-exported here; images, camera info, clouds, joint states and scalars are written here.
"""

from __future__ import annotations

import array
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtdagger.messages.factory import MessageFactory
from mtdagger.messages.geometry import (
    TransformReading,
    pose_from_msg,
    pose_stamped_msg,
    tf_message,
    transform_from_msg,
    transform_stamped_msg,
    twist_from_msg,
    twist_stamped_msg,
)
from mtdagger.messages.stamps import NANOSECONDS, header, split_stamp, stamp_ns_from_header, time_msg
from mtdagger.perception.camera_model import CameraModel

__all__ = [
    "DEPTH_16UC1",
    "DEPTH_32FC1",
    "MAX_DEPTH_MM",
    "NANOSECONDS",
    "POINT_FIELD_FLOAT32",
    "POINT_FIELD_FLOAT64",
    "JointStateReading",
    "TransformReading",
    "camera_info_msg",
    "camera_model_from_camera_info",
    "depth_image_msg",
    "depth_m_from_image_msg",
    "float64_msg",
    "gripper_command_msg",
    "header",
    "joint_state_from_msg",
    "joint_state_msg",
    "json_from_string_msg",
    "json_string_msg",
    "point_cloud2_msg",
    "points_from_point_cloud2",
    "pose_from_msg",
    "pose_stamped_msg",
    "split_stamp",
    "stamp_ns_from_header",
    "string_msg",
    "tf_message",
    "time_msg",
    "transform_from_msg",
    "transform_stamped_msg",
    "twist_from_msg",
    "twist_stamped_msg",
]

MAX_DEPTH_MM = 65535
DEPTH_16UC1 = "16UC1"
DEPTH_32FC1 = "32FC1"
_DEPTH_DTYPES = {"16UC1": "u2", "mono16": "u2", "32FC1": "f4"}
# sensor_msgs/PointField datatypes we read as coordinates.
POINT_FIELD_FLOAT32 = 7
POINT_FIELD_FLOAT64 = 8
_POINT_FIELD_DTYPES = {POINT_FIELD_FLOAT32: "f4", POINT_FIELD_FLOAT64: "f8"}


def _byte_buffer(values: np.ndarray) -> array.array:
    return array.array("B", np.ascontiguousarray(values).tobytes())


def _float64_sequence(values: Any) -> array.array:
    data = np.asarray(values, dtype=np.float64).reshape(-1)
    return array.array("d", data.tobytes())


def _as_bytes(data: Any) -> np.ndarray:
    """uint8 view of a message's `data`, whatever container the library used."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    return np.frombuffer(data, dtype=np.uint8)


# ----------------------------------------------------------------------------- depth image

def depth_image_msg(factory: MessageFactory, depth_m: np.ndarray, stamp_ns: int, frame_id: str) -> Any:
    """sensor_msgs/Image, 16UC1 millimetres little-endian, as realsense-ros publishes depth.

    Invalid depth (NaN, inf, <= 0) becomes 0, realsense's "no data"; depth is rounded to the nearest
    millimetre and clipped to 65535 mm (65.5 m: far beyond any depth camera's range).
    """
    depth = np.asarray(depth_m, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f"depth_m must be a 2-D (H, W) image, got shape {depth.shape}")
    valid = np.isfinite(depth) & (depth > 0)
    millimetres = np.where(valid, np.rint(np.where(valid, depth, 0.0) * 1000.0), 0.0)
    millimetres = np.clip(millimetres, 0, MAX_DEPTH_MM).astype("<u2")
    height, width = depth.shape
    return factory.new(
        "sensor_msgs/msg/Image",
        header=header(factory, stamp_ns, frame_id),
        height=int(height), width=int(width), encoding=DEPTH_16UC1, is_bigendian=0, step=int(width * 2),
        data=_byte_buffer(millimetres),
    )


def depth_m_from_image_msg(msg: Any) -> np.ndarray:
    """(H, W) float32 metres from a 16UC1 (mm, 0 = invalid stays 0) or 32FC1 (m) depth image.

    Honours `step` (row padding) and `is_bigendian`.
    """
    encoding = str(msg.encoding)
    if encoding not in _DEPTH_DTYPES:
        raise ValueError(f"unsupported depth encoding {encoding!r}; expected one of {sorted(_DEPTH_DTYPES)}")
    dtype = np.dtype((">" if msg.is_bigendian else "<") + _DEPTH_DTYPES[encoding])
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if step < width * dtype.itemsize:
        raise ValueError(f"image step {step} is shorter than a row of {width} x {dtype.itemsize} bytes")
    raw = _as_bytes(msg.data)
    if raw.size < step * height:
        raise ValueError(f"image data has {raw.size} bytes, expected step x height = {step * height}")
    rows = raw[: step * height].reshape(height, step)[:, : width * dtype.itemsize]
    pixels = np.ascontiguousarray(rows).view(dtype).reshape(height, width)
    if dtype.kind == "u":
        return (pixels.astype(np.float32) * np.float32(0.001)).astype(np.float32)
    return pixels.astype(np.float32)


# ----------------------------------------------------------------------------- camera info

def camera_info_msg(factory: MessageFactory, camera: CameraModel, stamp_ns: int, frame_id: str) -> Any:
    """sensor_msgs/CameraInfo of an undistorted pinhole camera ('plumb_bob', d empty, r identity)."""
    fx, fy, cx, cy = float(camera.fx), float(camera.fy), float(camera.cx), float(camera.cy)
    return factory.new(
        "sensor_msgs/msg/CameraInfo",
        header=header(factory, stamp_ns, frame_id),
        height=int(camera.height), width=int(camera.width), distortion_model="plumb_bob",
        d=array.array("d"),
        k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    )


def camera_model_from_camera_info(msg: Any, T_base_camera: np.ndarray, *,
                                  ignore_distortion: bool = False) -> CameraModel:
    """CameraModel from K of a CameraInfo, placed at `T_base_camera` (the optical frame's pose).

    The point-cloud contract assumes undistorted pinhole pixels; a CameraInfo with non-zero distortion
    coefficients, skew or binning is refused unless `ignore_distortion` says the caller accepts that.
    """
    k = np.asarray(msg.k, dtype=np.float64).reshape(-1)
    if k.shape != (9,):
        raise ValueError(f"CameraInfo.k must have 9 elements, got {k.size}")
    distortion = np.asarray(msg.d, dtype=np.float64).reshape(-1)
    if not ignore_distortion:
        if np.any(distortion != 0.0):
            raise ValueError(f"CameraInfo has distortion {distortion.tolist()} ({msg.distortion_model}); "
                             "the point-cloud contract needs undistorted depth (pass ignore_distortion=True "
                             "to accept it)")
        if k[1] != 0.0:
            raise ValueError(f"CameraInfo has skew k[1]={k[1]}; CameraModel has no skew term")
        if int(msg.binning_x) > 1 or int(msg.binning_y) > 1:
            raise ValueError(f"CameraInfo binning {msg.binning_x}x{msg.binning_y} is not supported")
    return CameraModel(int(msg.width), int(msg.height), float(k[0]), float(k[4]), float(k[2]), float(k[5]),
                       np.asarray(T_base_camera, dtype=np.float64))


# ----------------------------------------------------------------------------- point cloud

def point_cloud2_msg(factory: MessageFactory, points: np.ndarray, stamp_ns: int, frame_id: str) -> Any:
    """sensor_msgs/PointCloud2: unordered (height 1), x y z float32 little-endian, point_step 12."""
    xyz = np.asarray(points, dtype=np.float32)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {xyz.shape}")
    fields = [factory.new("sensor_msgs/msg/PointField", name=name, offset=4 * index,
                          datatype=POINT_FIELD_FLOAT32, count=1)
              for index, name in enumerate("xyz")]
    count = int(xyz.shape[0])
    return factory.new(
        "sensor_msgs/msg/PointCloud2",
        header=header(factory, stamp_ns, frame_id),
        height=1, width=count, fields=fields, is_bigendian=False, point_step=12, row_step=12 * count,
        data=_byte_buffer(xyz.astype("<f4")), is_dense=bool(np.isfinite(xyz).all()),
    )


def points_from_point_cloud2(msg: Any) -> np.ndarray:
    """(N, 3) float32 x y z of any PointCloud2 with float32/float64 x, y, z fields.

    Honours point_step, field offsets (e.g. realsense's extra packed 'rgb'), row_step padding of
    organised clouds and is_bigendian; points with a non-finite coordinate (organised clouds mark
    missing depth with NaN) are dropped.
    """
    fields = {str(f.name): f for f in msg.fields}
    missing = [name for name in "xyz" if name not in fields]
    if missing:
        raise ValueError(f"PointCloud2 lacks field(s) {missing}; has {sorted(fields)}")
    endian = ">" if msg.is_bigendian else "<"
    formats = []
    for name in "xyz":
        datatype = int(fields[name].datatype)
        if datatype not in _POINT_FIELD_DTYPES:
            raise ValueError(f"PointCloud2 field {name!r} has datatype {datatype}; only float32 (7) and "
                             "float64 (8) coordinates are supported")
        formats.append(endian + _POINT_FIELD_DTYPES[datatype])
    offsets = [int(fields[name].offset) for name in "xyz"]
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    height, width = int(msg.height), int(msg.width)
    if any(offset + np.dtype(fmt).itemsize > point_step for offset, fmt in zip(offsets, formats)):
        raise ValueError(f"PointCloud2 field offsets {offsets} do not fit point_step {point_step}")
    if row_step < width * point_step:
        raise ValueError(f"PointCloud2 row_step {row_step} < width {width} x point_step {point_step}")
    raw = _as_bytes(msg.data)
    if raw.size < row_step * height:
        raise ValueError(f"PointCloud2 data has {raw.size} bytes, expected row_step x height = "
                         f"{row_step * height}")
    if width * height == 0:
        return np.zeros((0, 3), dtype=np.float32)
    dtype = np.dtype({"names": list("xyz"), "formats": formats, "offsets": offsets, "itemsize": point_step})
    rows = np.ascontiguousarray(raw[: row_step * height].reshape(height, row_step)[:, : width * point_step])
    records = rows.view(dtype).reshape(-1)
    xyz = np.stack([records[name].astype(np.float32) for name in "xyz"], axis=1)
    return xyz[np.isfinite(xyz).all(axis=1)]


# ----------------------------------------------------------------------------- joint state

@dataclass(frozen=True)
class JointStateReading:
    names: tuple[str, ...]
    positions: np.ndarray
    velocities: np.ndarray  # empty when the publisher sent none
    efforts: np.ndarray
    stamp_ns: int


def joint_state_msg(factory: MessageFactory, names: list[str], positions: Any, stamp_ns: int, *,
                    velocities: Any = None, efforts: Any = None, frame_id: str = "") -> Any:
    """sensor_msgs/JointState; velocities/efforts may be omitted (empty), as the message allows."""
    names = [str(name) for name in names]
    values = {"position": positions, "velocity": velocities, "effort": efforts}
    sequences = {}
    for field, given in values.items():
        sequence = _float64_sequence([] if given is None else given)
        if given is not None and len(sequence) != len(names):
            raise ValueError(f"joint_state {field} has {len(sequence)} values for {len(names)} joint names")
        sequences[field] = sequence
    return factory.new("sensor_msgs/msg/JointState", header=header(factory, stamp_ns, frame_id), name=names,
                       **sequences)


def joint_state_from_msg(msg: Any) -> JointStateReading:
    return JointStateReading(
        names=tuple(str(name) for name in msg.name),
        positions=np.asarray(msg.position, dtype=np.float64),
        velocities=np.asarray(msg.velocity, dtype=np.float64),
        efforts=np.asarray(msg.effort, dtype=np.float64),
        stamp_ns=stamp_ns_from_header(msg.header),
    )


# ----------------------------------------------------------------------------- gripper and scalars

def gripper_command_msg(factory: MessageFactory, position_m: float, max_effort: float) -> Any:
    """control_msgs/GripperCommand (the goal of the GripperCommand action): gap in m, effort in N."""
    return factory.new("control_msgs/msg/GripperCommand", position=float(position_m),
                       max_effort=float(max_effort))


def float64_msg(factory: MessageFactory, value: float) -> Any:
    return factory.new("std_msgs/msg/Float64", data=float(value))


def string_msg(factory: MessageFactory, text: str) -> Any:
    return factory.new("std_msgs/msg/String", data=str(text))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_string_msg(factory: MessageFactory, payload: dict[str, Any]) -> Any:
    """std_msgs/String holding `payload` as JSON (episode markers, safety status, metadata).

    numpy values are converted; keys are sorted so equal payloads give equal bytes.
    """
    return string_msg(factory, json.dumps(payload, sort_keys=True, default=_json_default))


def json_from_string_msg(msg: Any) -> Any:
    return json.loads(msg.data)
