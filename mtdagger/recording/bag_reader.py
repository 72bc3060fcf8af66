"""Read an evaluation bag back into per-episode summaries (for reports and tests).

Two read paths, chosen per bag:

- **Complete bag** (metadata.yaml present, every .mcap ends in a valid footer): rosbags'
  `AnyReader`, the same library that wrote it, using the MCAP index.
- **Killed recording** (no metadata.yaml and/or no MCAP footer/summary, because the process died
  before `close()`): the index is gone, so `mcap`'s `make_reader` on a seekable file fails while
  looking for the footer. We instead stream each .mcap file front to back with mcap's
  `NonSeekingReader` (records in file order; schemas and channels are in the first chunk) and stop
  at the truncated tail (`EndOfFile`), keeping every chunk that was fully written. The bag is
  reported with `complete=False` and its last episode, which has no end marker, as incomplete
  (success unknown). The files are not modified; `mtdagger bag repair` (`recording.repair`)
  rewrites such a bag into one `ros2 bag` and rosbags' `AnyReader` open.

Messages are decoded only for the topics a summary needs (never the depth images or clouds), and
fields are read by attribute, so rosbags and mcap-ros2 message objects are handled alike. Finding the
files and streaming their records is `mtdagger.recording.bag_files`; this module assembles episodes.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtdagger.messages import topics
from mtdagger.messages.convert import joint_state_from_msg, pose_from_msg, transform_from_msg, twist_from_msg
from mtdagger.recording import layout
from mtdagger.recording.bag_files import (
    MCAP_MAGIC,
    BagError,
    has_footer,
    iter_anyreader,
    iter_mcap_messages,
    iter_mcap_stream,
    locate_bag,
    read_custom_data,
)
from mtdagger.recording.layout import BagMetadata, position_or_none

# BagError, MCAP_MAGIC and iter_mcap_messages are defined in `bag_files` and kept importable from here.
__all__ = [
    "MCAP_MAGIC",
    "BagError",
    "EpisodeSummary",
    "EvaluationBag",
    "iter_mcap_messages",
    "read_evaluation_bag",
]


# Per-step topics. `EvaluationBagWriter` writes each once per control step; in a bag recorded from
# the ROS graph they come at their publishers' rates, so each is kept as its own series.
_STEP_TOPICS = (
    topics.EE_STATE_TOPIC,
    topics.JOINT_STATES_TOPIC,
    topics.ACTION_TOPIC,
    topics.ACTION_GRIPPER_TOPIC,
    topics.APPLIED_COMMAND_TOPIC,
    topics.APPLIED_GRIPPER_TOPIC,
    topics.SAFETY_TOPIC,
    topics.LATENCY_TOPIC,
)
_DECODED_TOPICS = frozenset(
    (*_STEP_TOPICS, topics.EPISODE_TOPIC, topics.METADATA_TOPIC, topics.TF_STATIC_TOPIC)
)


@dataclass(frozen=True)
class EpisodeSummary:
    """One episode between its start and end markers.

    In a bag from `EvaluationBagWriter` every series has one entry per control step (T =
    num_steps). In a bag recorded from the ROS graph each series has its publisher's rate.
    """

    index: int
    task: str
    object: str
    seed: int | None
    object_split: str | None
    # True / False from the end marker; None when the episode has no end marker (killed run).
    success: bool | None
    complete: bool
    num_steps: int  # control steps = applied commands
    ee_positions: np.ndarray  # (T, 3) base frame, metres
    gripper: np.ndarray  # (T,) gripper opening (joint 'gripper' of /joint_states)
    actions: np.ndarray  # (T, 4) proposed: displacement per step (m) + gripper; NaN kept
    applied: np.ndarray  # (T, 4) after the safety filter
    latencies_ms: dict[str, np.ndarray]  # stage -> (T,) ms, NaN where a step lacked the stage
    safety_status: dict[str, int]  # status -> step count
    safety_reasons: dict[str, int]  # reason -> step count
    notes: str
    start_ns: int
    end_ns: int | None
    # status -> reason -> step count: which reasons made holds and which made clips.
    safety_reasons_by_status: dict[str, dict[str, int]] = field(default_factory=dict)
    # From the start marker, base frame (m); None when the recording did not know them.
    goal_position: tuple[float, float, float] | None = None
    object_position: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class EvaluationBag:
    path: Path
    metadata: BagMetadata | None
    episodes: list[EpisodeSummary]
    topic_counts: dict[str, int]
    # False when the recording was not closed (killed): read by streaming, see the module doc.
    complete: bool
    reader: str  # "rosbags" or "mcap-stream"
    custom_data: dict[str, str] = field(default_factory=dict)  # rosbag2 custom_data (complete bags)
    static_transforms: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (parent, child) -> T
    steps_outside_episodes: int = 0
    warnings: list[str] = field(default_factory=list)


def read_evaluation_bag(path: str | Path) -> EvaluationBag:
    """Read a bag directory (or one .mcap file). Raises `BagError` naming the path when there is
    nothing readable; a killed recording is read as far as it was written, not an error."""
    bag_dir, mcap_files = locate_bag(Path(path))
    complete = (bag_dir / "metadata.yaml").is_file() and all(has_footer(f) for f in mcap_files)
    warnings: list[str] = []
    if complete:
        reader = "rosbags"
        messages = iter_anyreader(bag_dir)
        custom_data = read_custom_data(bag_dir / "metadata.yaml")
    else:
        reader = "mcap-stream"
        messages = iter_mcap_stream(mcap_files, warnings)
        custom_data = {}
        warnings.append(f"{bag_dir}: recording was not closed (no index/metadata.yaml); read by streaming")
    assembler = _Assembler()
    try:
        for topic, stamp, decode in messages:
            assembler.add(topic, stamp, decode)
    except BagError:
        raise
    except Exception as error:  # rosbags/mcap raise many types for a damaged file
        raise BagError(f"{bag_dir}: cannot read bag: {type(error).__name__}: {error}") from error
    if not assembler.topic_counts and not complete:
        raise BagError(f"{bag_dir}: no readable messages (empty or corrupt .mcap)")
    return assembler.finish(
        bag_dir, complete=complete, reader=reader, custom_data=custom_data, warnings=warnings
    )



# --------------------------------------------------------------------------- episode assembly


@dataclass
class _OpenEpisode:
    marker: dict[str, Any]
    start_ns: int
    per_topic: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))


class _Assembler:
    """Groups the time-ordered message stream into episodes between start and end markers."""

    def __init__(self) -> None:
        self.topic_counts: Counter[str] = Counter()
        self.metadata: BagMetadata | None = None
        self.static_transforms: dict[tuple[str, str], np.ndarray] = {}
        self.episodes: list[EpisodeSummary] = []
        self.open: _OpenEpisode | None = None
        self.steps_outside = 0
        self.warnings: list[str] = []

    def add(self, topic: str, stamp: int, decode: Callable[[], Any]) -> None:
        self.topic_counts[topic] += 1
        if topic not in _DECODED_TOPICS:
            return
        msg = decode()
        if topic == topics.METADATA_TOPIC:
            if self.metadata is None:
                self._read_metadata(msg.data)
        elif topic == topics.TF_STATIC_TOPIC:
            for transform in msg.transforms:
                reading = transform_from_msg(transform)
                self.static_transforms[(reading.parent_frame, reading.child_frame)] = reading.T
        elif topic == topics.EPISODE_TOPIC:
            self._marker(stamp, msg.data)
        elif self.open is not None:
            self.open.per_topic[topic].append(_step_value(topic, msg))
        elif topic == topics.EE_STATE_TOPIC:
            self.steps_outside += 1

    def _read_metadata(self, text: str) -> None:
        try:
            self.metadata = BagMetadata.from_json(text)
        except (ValueError, TypeError) as error:
            self.warnings.append(f"unreadable {topics.METADATA_TOPIC}: {error}")

    def _marker(self, stamp: int, text: str) -> None:
        try:
            marker = json.loads(text)
            event = marker["event"]
        except (ValueError, KeyError, TypeError):
            self.warnings.append(f"ignored a malformed episode marker at {stamp} ns: {text[:80]!r}")
            return
        if event == "start":
            if self.open is not None:
                self._close_open(None, note="no end marker before the next episode started")
            self.open = _OpenEpisode(marker, stamp)
        elif event == "end":
            if self.open is None or self.open.marker.get("episode") != marker.get("episode"):
                self.warnings.append(
                    f"ignored an end marker without its start (episode {marker.get('episode')})"
                )
                return
            self._close_open(stamp, success=bool(marker.get("success")), note=str(marker.get("notes") or ""))
        else:
            self.warnings.append(f"ignored an episode marker with unknown event {event!r}")

    def _close_open(self, end_ns: int | None, *, success: bool | None = None, note: str = "") -> None:
        episode, self.open = self.open, None
        assert episode is not None
        self.episodes.append(self._summarise(episode, end_ns, success, note))

    def _summarise(
        self, episode: _OpenEpisode, end_ns: int | None, success: bool | None, note: str
    ) -> EpisodeSummary:
        complete = end_ns is not None
        series = episode.per_topic
        period = self.metadata.control_period_s if self.metadata is not None else float("nan")
        latencies = series[topics.LATENCY_TOPIC]
        stages = sorted({stage for step in latencies for stage in step})
        safety = series[topics.SAFETY_TOPIC]
        marker = episode.marker
        seed = marker.get("seed")
        return EpisodeSummary(
            index=int(marker.get("episode", len(self.episodes))),
            task=str(marker.get("task", "")),
            object=str(marker.get("object") or ""),
            seed=None if seed is None else int(seed),
            object_split=marker.get("object_split"),
            success=success if complete else None,
            complete=complete,
            # A control step is a command that reached the robot: one applied command each.
            num_steps=len(series[topics.APPLIED_COMMAND_TOPIC]),
            ee_positions=np.asarray(series[topics.EE_STATE_TOPIC], dtype=np.float64).reshape(-1, 3),
            gripper=np.asarray(
                [g for g in series[topics.JOINT_STATES_TOPIC] if g is not None], dtype=np.float64
            ),
            actions=_commands(series[topics.ACTION_TOPIC], series[topics.ACTION_GRIPPER_TOPIC], period),
            applied=_commands(
                series[topics.APPLIED_COMMAND_TOPIC], series[topics.APPLIED_GRIPPER_TOPIC], period
            ),
            latencies_ms={
                stage: np.array([_nan_if_none(step.get(stage)) for step in latencies], dtype=np.float64)
                for stage in stages
            },
            safety_status=dict(Counter(status for status, _ in safety)),
            safety_reasons=dict(Counter(reason for _, reasons in safety for reason in reasons)),
            notes=note if complete else "incomplete: no end marker (recording stopped mid-episode)",
            start_ns=episode.start_ns,
            end_ns=end_ns,
            safety_reasons_by_status=_reasons_by_status(safety),
            goal_position=position_or_none(marker.get("goal_position")),
            object_position=position_or_none(marker.get("object_position")),
        )

    def finish(
        self, bag_dir: Path, *, complete: bool, reader: str, custom_data: dict[str, str], warnings: list[str]
    ) -> EvaluationBag:
        if self.open is not None:
            self._close_open(None)
        return EvaluationBag(
            path=bag_dir,
            metadata=self.metadata,
            episodes=self.episodes,
            topic_counts=dict(self.topic_counts),
            complete=complete,
            reader=reader,
            custom_data=custom_data,
            static_transforms=self.static_transforms,
            steps_outside_episodes=self.steps_outside,
            warnings=[*warnings, *self.warnings],
        )


def _step_value(topic: str, msg: Any) -> Any:
    """The part of a per-step message the summary keeps."""
    if topic == topics.EE_STATE_TOPIC:
        return pose_from_msg(msg)[0]
    if topic == topics.JOINT_STATES_TOPIC:
        # A real arm's /joint_states has its own joint names; only our gripper joint is kept.
        reading = joint_state_from_msg(msg)
        if layout.GRIPPER_JOINT_NAME in reading.names and reading.positions.size == len(reading.names):
            return float(reading.positions[reading.names.index(layout.GRIPPER_JOINT_NAME)])
        return None
    if topic in (topics.ACTION_TOPIC, topics.APPLIED_COMMAND_TOPIC):
        return twist_from_msg(msg)[0]
    if topic in (topics.ACTION_GRIPPER_TOPIC, topics.APPLIED_GRIPPER_TOPIC):
        return float(msg.data)
    if topic == topics.SAFETY_TOPIC:
        record = _json_object(msg.data)
        return str(record.get("status", "unknown")), tuple(str(r) for r in record.get("reasons", ()))
    if topic == topics.LATENCY_TOPIC:
        return _json_object(msg.data)
    raise AssertionError(f"not a per-step topic: {topic}")


def _reasons_by_status(safety: list[tuple[str, tuple[str, ...]]]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for status, reasons in safety:
        table[status].update(reasons)
    return {status: dict(counts) for status, counts in table.items() if counts}


def _commands(twists: list[np.ndarray], grippers: list[float], period_s: float) -> np.ndarray:
    """(N, 4) displacement per step (m) + gripper from velocity twists and gripper values, paired in
    order (a killed recording may have one more of either: the unpaired one is left out)."""
    count = min(len(twists), len(grippers))
    commands = np.empty((count, 4), dtype=np.float64)
    if count:
        commands[:, :3] = np.asarray(twists[:count], dtype=np.float64) * period_s
        commands[:, 3] = grippers[:count]
    return commands


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _nan_if_none(value: Any) -> float:
    try:
        return float("nan") if value is None else float(value)
    except (TypeError, ValueError):
        return float("nan")
