"""What an evaluation bag contains: topics, message types, QoS, and the JSON records we add.

One table shared by the writer and the reader, so the two cannot disagree on a topic name or on
where the gripper command lives. Standard ROS 2 types are used wherever one fits, so `ros2 bag
play`, Foxglove and RViz show a trial without our code; the few things ROS has no type for
(episode markers, metadata, safety verdicts, latencies) are `std_msgs/String` holding JSON.

Topic map (realsense-ros names and REP 103/105 frames; DESIGN.md §7):

| topic | type | content |
|---|---|---|
| /camera/camera/aligned_depth_to_color/image_raw | sensor_msgs/Image | depth, 16UC1 millimetres |
| /camera/camera/aligned_depth_to_color/camera_info | sensor_msgs/CameraInfo | intrinsics of that image |
| /tf_static | tf2_msgs/TFMessage | base -> camera optical frame; TRANSIENT_LOCAL, depth 1 |
| /mtdagger/point_cloud | sensor_msgs/PointCloud2 | the policy's input cloud, base frame |
| /mtdagger/ee_state | geometry_msgs/PoseStamped | end-effector position, base frame (orientation: identity) |
| /joint_states | sensor_msgs/JointState | one joint named `gripper`: position = gripper opening |
| /mtdagger/action | geometry_msgs/TwistStamped | policy action: linear = displacement / period (m/s) |
| /mtdagger/action/gripper | std_msgs/Float64 | policy gripper command in [-1, 1] (-1 open, +1 closed) |
| /mtdagger/applied_command | geometry_msgs/TwistStamped | command after the safety filter, same units |
| /mtdagger/applied_command/gripper | std_msgs/Float64 | applied gripper command |
| /mtdagger/safety | std_msgs/String | JSON {"status": str, "reasons": [str]} |
| /mtdagger/latency | std_msgs/String | JSON {stage: milliseconds} for the step |
| /mtdagger/episode | std_msgs/String | JSON episode marker (see `EpisodeInfo`) |
| /mtdagger/metadata | std_msgs/String | JSON `BagMetadata`, TRANSIENT_LOCAL, first message of the bag |

The gripper travels on its own Float64 topic rather than hidden in `twist.angular.x`: a Twist's
angular part has a meaning (rad/s) that every viewer would misreport, while a named topic cannot
be misread. The angular part of our twists is always zero (the action convention has no rotation).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)

from mtdagger.messages import topics

GRIPPER_JOINT_NAME = "gripper"

# Key under which the metadata JSON is also stored in rosbag2's `custom_data` (metadata.yaml),
# so `ros2 bag info`-style tools see it without decoding a message.
CUSTOM_DATA_KEY = "mtdagger.metadata"
METADATA_SCHEMA_VERSION = 1

# rosbag2 metadata version per ROS distro (reference §8): Humble's metadata_io.cpp reads
# offered_qos_profiles as a YAML *string* (v8); Jazzy writes and reads a YAML list (v9).
ROSBAG2_VERSION = {"jazzy": 9, "humble": 8}

_DEFAULT_DURATION = QosTime(0, 0)  # rmw "default" = infinite deadline / lifespan / lease


def _qos(durability: QosDurability, depth: int) -> Qos:
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=depth,
        reliability=QosReliability.RELIABLE,
        durability=durability,
        deadline=_DEFAULT_DURATION,
        lifespan=_DEFAULT_DURATION,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=_DEFAULT_DURATION,
        avoid_ros_namespace_conventions=False,
    )


# ROS 2's default publisher profile (reliable, volatile, keep last 10).
DEFAULT_QOS = _qos(QosDurability.VOLATILE, 10)
# tf2's static broadcaster profile (reference §7): a late subscriber (or `ros2 bag play`) still
# receives the transform, which is published once.
LATCHED_QOS = _qos(QosDurability.TRANSIENT_LOCAL, 1)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    msgtype: str
    qos: Qos = DEFAULT_QOS


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(topics.METADATA_TOPIC, "std_msgs/msg/String", LATCHED_QOS),
    TopicSpec(topics.TF_STATIC_TOPIC, "tf2_msgs/msg/TFMessage", LATCHED_QOS),
    TopicSpec(topics.EPISODE_TOPIC, "std_msgs/msg/String"),
    TopicSpec(topics.ALIGNED_DEPTH_TOPIC, "sensor_msgs/msg/Image"),
    TopicSpec(topics.ALIGNED_DEPTH_INFO_TOPIC, "sensor_msgs/msg/CameraInfo"),
    TopicSpec(topics.POINT_CLOUD_TOPIC, "sensor_msgs/msg/PointCloud2"),
    TopicSpec(topics.EE_STATE_TOPIC, "geometry_msgs/msg/PoseStamped"),
    TopicSpec(topics.JOINT_STATES_TOPIC, "sensor_msgs/msg/JointState"),
    TopicSpec(topics.ACTION_TOPIC, "geometry_msgs/msg/TwistStamped"),
    TopicSpec(topics.ACTION_GRIPPER_TOPIC, "std_msgs/msg/Float64"),
    TopicSpec(topics.APPLIED_COMMAND_TOPIC, "geometry_msgs/msg/TwistStamped"),
    TopicSpec(topics.APPLIED_GRIPPER_TOPIC, "std_msgs/msg/Float64"),
    TopicSpec(topics.SAFETY_TOPIC, "std_msgs/msg/String"),
    TopicSpec(topics.LATENCY_TOPIC, "std_msgs/msg/String"),
)
TOPIC_TYPES: dict[str, str] = {spec.name: spec.msgtype for spec in TOPICS}


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True, kw_only=True)
class BagMetadata:
    """Who and what produced a bag: enough to audit a trial months later.

    `control_period_s` is required because the bag stores actions as velocities (m/s, the unit of
    a Twist); the displacement per step (the action convention) is velocity x period.
    """

    checkpoint_id: str
    calibration_id: str
    robot: str
    control_period_s: float
    git_commit: str = "unknown"
    config: Mapping[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=_utc_now)
    schema_version: int = METADATA_SCHEMA_VERSION

    def __post_init__(self) -> None:
        period = self.control_period_s
        if not (isinstance(period, int | float) and math.isfinite(period) and period > 0):
            raise ValueError(
                f"BagMetadata.control_period_s must be a positive number of seconds, got {period!r}"
            )
        object.__setattr__(self, "config", dict(self.config))

    def to_json(self) -> str:
        # default=str: a config may hold paths or numpy scalars; metadata must never stop a trial.
        return json.dumps(asdict(self), sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> BagMetadata:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"bag metadata must be a JSON object, got {type(data).__name__}")
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True, kw_only=True)
class EpisodeInfo:
    """The start marker of an episode. `object_split` ('seen' / 'unseen') lets the report split
    success by whether the object was in the training set."""

    index: int
    task: str
    object: str = ""
    seed: int | None = None
    object_split: str | None = None
    notes: str = ""
    # Where the episode had to go, base frame (m), when the source knows it (simulation).
    goal_position: tuple[float, float, float] | None = None
    object_position: tuple[float, float, float] | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> EpisodeInfo:
        """Accepts the marker's own JSON keys ("episode" for the index) as well as field names."""
        if "task" not in data:
            raise ValueError(f"an episode marker needs a 'task'; got keys {sorted(data)}")
        index = data.get("episode", data.get("index"))
        if index is None:
            raise ValueError(f"an episode marker needs an 'episode' index; got keys {sorted(data)}")
        seed = data.get("seed")
        return cls(
            index=int(index),
            task=str(data["task"]),
            object=str(data.get("object") or ""),
            seed=None if seed is None else int(seed),
            object_split=None if data.get("object_split") is None else str(data["object_split"]),
            notes=str(data.get("notes") or ""),
            goal_position=position_or_none(data.get("goal_position")),
            object_position=position_or_none(data.get("object_position")),
        )

    def start_marker(self) -> dict[str, Any]:
        return {
            "event": "start",
            "episode": self.index,
            "task": self.task,
            "object": self.object,
            "seed": self.seed,
            "object_split": self.object_split,
            "notes": self.notes,
            **{
                name: list(value)
                for name, value in (("goal_position", self.goal_position),
                                    ("object_position", self.object_position))
                if value is not None
            },
        }


def position_or_none(value: Any) -> tuple[float, float, float] | None:
    """3 finite numbers as a tuple, anything else None: a marker's position is for plots only."""
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(numbers) != 3 or not all(math.isfinite(v) for v in numbers):
        return None
    return numbers  # type: ignore[return-value]
