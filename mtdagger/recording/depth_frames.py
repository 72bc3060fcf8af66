"""Depth frames of an evaluation bag, as the contract would see them: depth + CameraInfo + /tf_static.

`read_evaluation_bag` summarises episodes and skips images; the sim-to-real gap check
(`mtdagger gap`) needs the images themselves, placed with the transform recorded in the bag (the
cell's calibration), exactly as the point-cloud node would place them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtdagger.messages import topics
from mtdagger.messages.convert import (
    camera_model_from_camera_info,
    depth_m_from_image_msg,
    transform_from_msg,
)
from mtdagger.perception.camera_model import CameraModel
from mtdagger.recording.bag_files import (
    BagError,
    has_footer,
    iter_anyreader,
    iter_mcap_stream,
    locate_bag,
)

_TOPICS = {
    topics.TF_STATIC_TOPIC, topics.EPISODE_TOPIC, topics.ALIGNED_DEPTH_TOPIC, topics.ALIGNED_DEPTH_INFO_TOPIC
}


@dataclass(frozen=True)
class BagDepthFrame:
    episode: int
    task: str
    seed: int | None
    object: str  # the marker's object label ("" if none)
    object_split: str | None  # "seen" / "unseen" where the suite has a split
    depth_m: np.ndarray  # (H, W) float32 metres
    camera: CameraModel  # CameraInfo intrinsics at the recorded base -> camera transform
    base_frame: str


def first_depth_frames(path: str | Path, max_episodes: int) -> list[BagDepthFrame]:
    """The first depth frame of each of the bag's first `max_episodes` episodes.

    The first frame follows the reset, so it shows the scene a simulator reset with the same task and
    seed shows, which makes bag and simulator frames comparable one for one. Raises `BagError`
    (naming the bag) when the bag is unreadable, has no depth, or lacks the camera transform.
    """
    bag_dir, mcap_files = locate_bag(Path(path))
    complete = (bag_dir / "metadata.yaml").is_file() and all(has_footer(f) for f in mcap_files)
    messages = iter_anyreader(bag_dir) if complete else iter_mcap_stream(mcap_files, [])
    transforms: dict[str, tuple[str, np.ndarray]] = {}  # child frame -> (parent, T)
    frames: list[BagDepthFrame] = []
    marker: dict | None = None
    info = depth = None
    try:
        for topic, _, decode in messages:
            if topic not in _TOPICS:
                continue
            msg = decode()
            if topic == topics.TF_STATIC_TOPIC:
                for transform in msg.transforms:
                    reading = transform_from_msg(transform)
                    transforms[reading.child_frame] = (reading.parent_frame, reading.T)
            elif topic == topics.EPISODE_TOPIC:
                event = json.loads(msg.data)
                marker = event if event.get("event") == "start" else None
                info = depth = None
            elif marker is not None:
                if topic == topics.ALIGNED_DEPTH_INFO_TOPIC:
                    info = info or msg
                else:
                    depth = depth or msg
                if info is not None and depth is not None:
                    frames.append(_frame(bag_dir, marker, depth, info, transforms))
                    marker = None
                    if len(frames) >= max_episodes:
                        break
    except BagError:
        raise
    except Exception as error:  # rosbags/mcap raise many types for a damaged file
        raise BagError(f"{bag_dir}: cannot read bag: {type(error).__name__}: {error}") from error
    if not frames:
        raise BagError(
            f"{bag_dir}: no episode with a depth image and camera info "
            f"({topics.ALIGNED_DEPTH_TOPIC}, {topics.ALIGNED_DEPTH_INFO_TOPIC}); "
            "record with depth to check the gap"
        )
    return frames


def _frame(bag_dir: Path, marker: dict, depth_msg, info_msg, transforms) -> BagDepthFrame:
    camera_frame = str(depth_msg.header.frame_id)
    if camera_frame not in transforms:
        known = ", ".join(sorted(transforms)) or "none"
        raise BagError(
            f"{bag_dir}: no {topics.TF_STATIC_TOPIC} transform to the depth frame {camera_frame!r} "
            f"(frames with one: {known})"
        )
    parent, T = transforms[camera_frame]
    try:
        camera = camera_model_from_camera_info(info_msg, T)
        depth = depth_m_from_image_msg(depth_msg)
    except ValueError as error:
        raise BagError(f"{bag_dir}: episode {marker.get('episode')}: {error}") from error
    seed = marker.get("seed")
    return BagDepthFrame(
        episode=int(marker.get("episode", -1)),
        task=str(marker.get("task", "")),
        seed=None if seed is None else int(seed),
        object=str(marker.get("object") or ""),
        object_split=None if marker.get("object_split") is None else str(marker["object_split"]),
        depth_m=depth,
        camera=camera,
        base_frame=parent,
    )
