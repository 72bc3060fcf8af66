"""Capture folder from a rosbag2 recording: one sample per pause of the arm.

Why: teaching 20 poses with a service call at each is one way; recording a bag while the arm
visits the poses (teach pendant, a script) and calibrating afterwards is another, and the bag can
be re-solved later. The samples are the moments the arm stood still: a still period is a run of
gripper poses (geometry_msgs/PoseStamped, e.g. the ee_state topic) that stay within
`still_m`/`still_deg` of the period's first pose for at least `still_s`; its sample is the image
nearest the period's middle, paired with the pose nearest that image. An image taken while the
arm moves is never used, which also keeps rolling-shutter and TF-latency errors out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from calibration.board import BoardSpec
from calibration.capture import CaptureError, CaptureSettings, CaptureWriter, image_from_fields
from calibration.extrinsics import quaternion_xyzw_to_matrix
from mtdagger.messages.topics import EE_STATE_TOPIC


@dataclass(frozen=True)
class BagTopics:
    image: str = "/camera/camera/color/image_raw"
    camera_info: str = "/camera/camera/color/camera_info"
    gripper_pose: str = EE_STATE_TOPIC  # what the ee_state node publishes and evaluation bags hold


@dataclass(frozen=True)
class _Recording:
    """What a capture needs from a bag: the images (stamp, message), the camera infos and the
    gripper poses (base frame) with their stamps, in stamp order."""

    images: list[tuple[float, Any]]
    infos: list[Any]
    pose_stamps: np.ndarray  # (n,) s, sorted
    poses: np.ndarray  # (n, 4, 4)


def _stamp_s(msg) -> float:
    return int(msg.header.stamp.sec) + int(msg.header.stamp.nanosec) / 1e9


def still_periods(
    stamps: np.ndarray, poses: np.ndarray, still_s: float, still_m: float, still_deg: float
) -> list[tuple[int, int]]:
    """(first, last) pose indices of each period where the pose stays near its first pose."""
    periods, start = [], 0
    for i in range(1, len(poses) + 1):
        moved = i == len(poses) or (
            np.linalg.norm(poses[i][:3, 3] - poses[start][:3, 3]) > still_m
            or np.rad2deg(Rotation.from_matrix(poses[i][:3, :3] @ poses[start][:3, :3].T).magnitude())
            > still_deg
        )
        if moved:
            if stamps[i - 1] - stamps[start] >= still_s:
                periods.append((start, i - 1))
            start = i
    return periods


def capture_from_bag(
    bag_dir: str | Path,
    out_dir: str | Path,
    board: BoardSpec,
    settings: CaptureSettings,
    topics: BagTopics | None = None,
    *,
    still_s: float = 0.5,
    still_m: float = 0.0005,
    still_deg: float = 0.05,
) -> list[str]:
    """Write one sample per still period into `out_dir`; returns the sample names."""
    bag_dir = Path(bag_dir)
    if not bag_dir.exists():
        raise FileNotFoundError(f"bag not found: {bag_dir}")
    recording = _read_recording(bag_dir, topics or BagTopics(), settings.base_frame)
    stamps, poses = recording.pose_stamps, recording.poses
    image_stamps = np.array([s for s, _ in recording.images])
    info = recording.infos[-1]
    K, distortion = np.asarray(info.k, dtype=float).reshape(3, 3), np.asarray(info.d, dtype=float)
    writer = CaptureWriter(out_dir, settings, board)
    names = []
    for first, last in still_periods(stamps, poses, still_s, still_m, still_deg):
        inside = np.flatnonzero((image_stamps >= stamps[first]) & (image_stamps <= stamps[last]))
        if inside.size == 0:
            continue
        middle = (stamps[first] + stamps[last]) / 2
        image_stamp, image = recording.images[int(inside[np.argmin(np.abs(image_stamps[inside] - middle))])]
        nearest = int(np.argmin(np.abs(stamps - image_stamp)))
        pixels = image_from_fields(image.encoding, image.height, image.width, image.step, image.data)
        names.append(writer.add(pixels, K, distortion, image_stamp, poses[nearest], stamps[nearest]))
    if not names:
        raise CaptureError(
            f"{bag_dir}: no still period of >= {still_s} s with an image (the arm must pause at each pose)"
        )
    return names


def _read_recording(bag_dir: Path, topics: BagTopics, base_frame: str) -> _Recording:
    """Every image, camera info and gripper pose of the bag (refused if a topic is missing)."""
    from rosbags.highlevel import AnyReader

    images, infos, pose_stamps, poses = [], [], [], []
    with AnyReader([bag_dir]) as reader:
        for connection, _, raw in reader.messages(connections=_connections(reader, topics, bag_dir)):
            msg = reader.deserialize(raw, connection.msgtype)
            if connection.topic == topics.image:
                images.append((_stamp_s(msg), msg))
            elif connection.topic == topics.camera_info:
                infos.append(msg)
            else:
                poses.append(_gripper_pose(msg, topics.gripper_pose, base_frame))
                pose_stamps.append(_stamp_s(msg))
    if not images or not infos or not poses:
        raise CaptureError(f"{bag_dir}: needs images, camera_info and gripper poses; got "
                           f"{len(images)}, {len(infos)}, {len(poses)}")  # fmt: skip
    order = np.argsort(pose_stamps)
    return _Recording(images, infos, np.asarray(pose_stamps)[order], np.asarray(poses)[order])


def _connections(reader: Any, topics: BagTopics, bag_dir: Path) -> list[Any]:
    """The bag's connections of the three topics; a CaptureError naming any that is missing."""
    names = (topics.image, topics.camera_info, topics.gripper_pose)
    wanted = [c for c in reader.connections if c.topic in names]
    missing = [t for t in names if t not in {c.topic for c in wanted}]
    if missing:
        have = ", ".join(sorted(c.topic for c in reader.connections))
        raise CaptureError(f"{bag_dir}: topic(s) {', '.join(missing)} not in the bag (it has: {have})")
    return wanted


def _gripper_pose(msg: Any, topic: str, base_frame: str) -> np.ndarray:
    """4x4 base <- gripper from a PoseStamped, which must be in `base_frame`."""
    if msg.header.frame_id != base_frame:
        raise CaptureError(f"{topic} is in {msg.header.frame_id!r}, not {base_frame!r}")
    p, q = msg.pose.position, msg.pose.orientation
    T = np.eye(4)
    T[:3, :3] = quaternion_xyzw_to_matrix([q.x, q.y, q.z, q.w])  # normalised by scipy
    T[:3, 3] = (p.x, p.y, p.z)
    return T
