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

import numpy as np

from calibration.board import BoardSpec
from calibration.capture import CaptureError, CaptureSettings, CaptureWriter, image_from_fields
from calibration.extrinsics import quaternion_xyzw_to_matrix
from calibration.handeye import _rotation_vector
from mtdagger.messages.topics import EE_STATE_TOPIC


@dataclass(frozen=True)
class BagTopics:
    image: str = "/camera/camera/color/image_raw"
    camera_info: str = "/camera/camera/color/camera_info"
    gripper_pose: str = EE_STATE_TOPIC  # what the ee_state node publishes and evaluation bags hold


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
            or np.rad2deg(np.linalg.norm(_rotation_vector(poses[i][:3, :3] @ poses[start][:3, :3].T)))
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
    from rosbags.highlevel import AnyReader

    topics = topics or BagTopics()
    images, infos, pose_stamps, poses = [], [], [], []
    bag_dir = Path(bag_dir)
    if not bag_dir.exists():
        raise FileNotFoundError(f"bag not found: {bag_dir}")
    with AnyReader([bag_dir]) as reader:
        wanted = [
            c
            for c in reader.connections
            if c.topic in (topics.image, topics.camera_info, topics.gripper_pose)
        ]
        found = {c.topic for c in wanted}
        missing = [t for t in (topics.image, topics.camera_info, topics.gripper_pose) if t not in found]
        if missing:
            have = ", ".join(sorted(c.topic for c in reader.connections))
            raise CaptureError(f"{bag_dir}: topic(s) {', '.join(missing)} not in the bag (it has: {have})")
        for connection, _, raw in reader.messages(connections=wanted):
            msg = reader.deserialize(raw, connection.msgtype)
            if connection.topic == topics.image:
                images.append((_stamp_s(msg), msg))
            elif connection.topic == topics.camera_info:
                infos.append(msg)
            else:
                if msg.header.frame_id != settings.base_frame:
                    frame = msg.header.frame_id
                    raise CaptureError(f"{topics.gripper_pose} is in {frame!r}, not {settings.base_frame!r}")
                p, q = msg.pose.position, msg.pose.orientation
                T = np.eye(4)
                T[:3, :3] = quaternion_xyzw_to_matrix(
                    np.array([q.x, q.y, q.z, q.w]) / np.linalg.norm([q.x, q.y, q.z, q.w])
                )
                T[:3, 3] = (p.x, p.y, p.z)
                pose_stamps.append(_stamp_s(msg))
                poses.append(T)
    if not images or not infos or not poses:
        raise CaptureError(f"{bag_dir}: needs images, camera_info and gripper poses; got "
                           f"{len(images)}, {len(infos)}, {len(poses)}")  # fmt: skip
    order = np.argsort(pose_stamps)
    stamps, poses = np.asarray(pose_stamps)[order], np.asarray(poses)[order]
    image_stamps = np.array([s for s, _ in images])
    info = infos[-1]
    K = np.asarray(info.k, dtype=float).reshape(3, 3)
    writer = CaptureWriter(out_dir, settings, board)
    names = []
    for first, last in still_periods(stamps, poses, still_s, still_m, still_deg):
        inside = np.flatnonzero((image_stamps >= stamps[first]) & (image_stamps <= stamps[last]))
        if inside.size == 0:
            continue
        middle = (stamps[first] + stamps[last]) / 2
        image_stamp, image = images[int(inside[np.argmin(np.abs(image_stamps[inside] - middle))])]
        nearest = int(np.argmin(np.abs(stamps - image_stamp)))
        pixels = image_from_fields(image.encoding, image.height, image.width, image.step, image.data)
        names.append(
            writer.add(
                pixels, K, np.asarray(info.d, dtype=float), image_stamp, poses[nearest], stamps[nearest]
            )
        )
    if not names:
        raise CaptureError(
            f"{bag_dir}: no still period of >= {still_s} s with an image (the arm must pause at each pose)"
        )
    return names
