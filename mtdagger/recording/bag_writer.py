"""Evaluation bags: rosbag2 MCAP written with rosbags, no ROS needed (DESIGN.md §7).

A trial on a real arm is expensive and cannot be repeated exactly, so the bag must hold everything
needed to audit it (see `layout.py` for the topic map) and must survive the recording process
being killed. Two choices make it survive:

- Chunks are closed early. rosbags' MCAP writer keeps the current chunk in memory and only writes
  it once it exceeds 1 MiB (and writes the index and footer on close). A SIGKILL would lose up to
  that much. We close the pending chunk as soon as it holds `chunk_size` bytes (checked after each
  whole step, so a chunk holds whole steps), after the static/metadata block at the start of the
  bag, and after every end-of-episode marker, and flush the file each time: a killed run loses at
  most the steps of the current chunk, and never a finished episode. (Flushed, not fsynced: that
  survives the process dying, not the machine losing power.)
- The first chunk holds the schema and channel records, so a file without its footer can still be
  decoded by streaming it front to back (`bag_reader.read_evaluation_bag` does that).

Bad steps are evidence, not errors: a non-finite action is recorded as given (with whatever the
safety filter applied, typically a hold), and a depth frame that cannot be an image at all (wrong
shape, non-numeric) is left out of that step rather than stopping the deployment (the step's
safety reasons say why the arm held). Only programming errors (wrong vector sizes, stamps
running backwards, episode markers out of order) raise, before anything of that call is written.
What a step's messages are is `step_messages`; this module writes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from mtdagger.messages import topics
from mtdagger.messages.convert import string_msg, tf_message, transform_stamped_msg
from mtdagger.messages.factory import RosbagsFactory
from mtdagger.perception.camera_model import CameraModel
from mtdagger.recording import layout
from mtdagger.recording.chunk_crc import enable_chunk_crcs
from mtdagger.recording.layout import BagMetadata, EpisodeInfo
from mtdagger.recording.step_messages import step_messages

__all__ = ["DEFAULT_CHUNK_SIZE", "BagMetadata", "EpisodeInfo", "EvaluationBagWriter"]

# 64 KiB: with a 640x480 depth image (600 KB per step) every step is its own chunk; with only a
# 1024-point cloud (~14 KB per step) a chunk holds ~5 steps. A kill loses at most that, while the
# per-chunk overhead (chunk + message-index records, chunk index: < 1 KB) stays around 1%.
DEFAULT_CHUNK_SIZE = 64 * 1024


class EvaluationBagWriter:
    """Writes one evaluation bag directory (`<path>/<name>.mcap` + `metadata.yaml` on close).

    The bag is opened on construction (so it can be handed around without a `with`), and closed by
    `close()` or on leaving a `with` block, also when the block raises: what was recorded before
    the failure is the evidence for it. An episode still open at close gets no end marker and reads
    back as incomplete, exactly like a killed run.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        metadata: BagMetadata,
        distro: str = "jazzy",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        if distro not in layout.ROSBAG2_VERSION:
            raise ValueError(f"unknown ROS distro {distro!r}; valid: {', '.join(layout.ROSBAG2_VERSION)}")
        if not isinstance(metadata, BagMetadata):
            raise TypeError(f"metadata must be a BagMetadata, got {type(metadata).__name__}")
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be at least 1 byte, got {chunk_size}")
        self.path = Path(path)
        self.metadata = metadata
        self.distro = distro
        self.chunk_size = int(chunk_size)
        self._factory = RosbagsFactory(distro=distro)
        self._typestore = self._factory.typestore

        self._writer = Writer(
            self.path, version=layout.ROSBAG2_VERSION[distro], storage_plugin=StoragePlugin.MCAP
        )
        self._writer.set_custom_data(layout.CUSTOM_DATA_KEY, metadata.to_json())
        self._writer.open()
        try:
            _check_storage_internals(self._writer.storage)
            enable_chunk_crcs(self._writer)  # a corrupted chunk is refused on read, not read as data
            self._connections = {
                spec.name: self._writer.add_connection(
                    spec.name, spec.msgtype, typestore=self._typestore, offered_qos_profiles=[spec.qos]
                )
                for spec in layout.TOPICS
            }
        except BaseException:
            self._writer.close()
            raise

        self._closed = False
        self._started = False
        self._last_stamp_ns = -1
        self._static: tuple[np.ndarray, str, str] | None = None
        self._episode: EpisodeInfo | None = None
        self._episode_steps = 0
        self.steps_written = 0
        # Steps already on disk (in closed, flushed chunks): what a kill right now would keep.
        self.flushed_steps = 0

    # ------------------------------------------------------------------ public API

    def write_static(
        self,
        T_base_camera: np.ndarray,
        camera_frame: str = topics.COLOR_OPTICAL_FRAME,
        base_frame: str = topics.BASE_FRAME,
        *,
        stamp_ns: int | None = None,
    ) -> None:
        """Record base -> camera optical frame on /tf_static (latched).

        Without `stamp_ns` the transform is written at the bag's first stamp (beside the metadata),
        or at the latest stamp if the bag has started: a static transform has no time of its own.
        """
        T = np.asarray(T_base_camera, dtype=np.float64)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise ValueError(f"T_base_camera must be a finite 4x4 matrix, got shape {T.shape}")
        self._check_open()
        static = (T, str(camera_frame), str(base_frame))
        if stamp_ns is None and not self._started:
            self._static = static
            return
        stamp = self._check_stamp(self._last_stamp_ns if stamp_ns is None else stamp_ns)
        self._begin(stamp)
        self._write_static(stamp, static)
        self._last_stamp_ns = stamp
        self._flush_chunk()

    def start_episode(
        self, stamp_ns: int, info: EpisodeInfo | Mapping[str, Any], extra: Mapping[str, Any] | None = None
    ) -> None:
        """Open an episode; `info` may be an `EpisodeInfo` or its marker dict ("episode", "task", ...).
        `extra`: more marker fields for both markers (a trial's labels, mtdagger.trial.spec)."""
        self._check_open()
        episode = info if isinstance(info, EpisodeInfo) else EpisodeInfo.from_mapping(info)
        if self._episode is not None:
            raise RuntimeError(
                f"episode {self._episode.index} ({self._episode.task}) is still open; call end_episode first"
            )
        stamp = self._check_stamp(stamp_ns)
        self._extra = dict(extra or {})
        marker = {**episode.start_marker(), **self._extra}
        data = self._serialize(topics.EPISODE_TOPIC, self._string(json.dumps(marker)))
        self._begin(stamp)
        self._writer.write(self._connections[topics.EPISODE_TOPIC], stamp, data)
        self._last_stamp_ns = stamp
        self._episode = episode
        self._episode_steps = 0

    def end_episode(
        self, stamp_ns: int, success: bool, notes: str = "", extra: Mapping[str, Any] | None = None
    ) -> None:
        """Close the open episode with its success label; the chunk is flushed right away so a
        finished episode survives any later kill."""
        self._check_open()
        if self._episode is None:
            raise RuntimeError("end_episode without an open episode (call start_episode first)")
        stamp = self._check_stamp(stamp_ns)
        marker = {**self._episode.start_marker(), **getattr(self, "_extra", {}), **(extra or {})}
        marker.update(event="end", success=bool(success), notes=str(notes), num_steps=self._episode_steps)
        data = self._serialize(topics.EPISODE_TOPIC, self._string(json.dumps(marker)))
        self._writer.write(self._connections[topics.EPISODE_TOPIC], stamp, data)
        self._last_stamp_ns = stamp
        self._episode = None
        self._flush_chunk()

    def write_step(
        self,
        stamp_ns: int,
        *,
        depth_m: np.ndarray | None = None,
        camera: CameraModel | None = None,
        points: np.ndarray | None = None,
        ee_position: np.ndarray,
        gripper: float,
        action: np.ndarray,
        applied: np.ndarray,
        safety_status: str,
        safety_reasons: Iterable[str] = (),
        latencies_ms: Mapping[str, float] | None = None,
    ) -> None:
        """Record one control step. All messages of the step share `stamp_ns`.

        `action` is what the policy proposed and `applied` what the safety filter let through,
        both float[4] in the action convention (displacement per step in metres + gripper). Values
        are recorded as given, NaN included. A step outside an episode is recorded too (the reader
        counts it apart).
        """
        self._check_open()
        stamp = self._check_stamp(stamp_ns)
        messages = step_messages(
            self._factory,
            stamp,
            depth_m=depth_m,
            camera=camera,
            points=points,
            ee_position=ee_position,
            gripper=gripper,
            action=action,
            applied=applied,
            safety_status=safety_status,
            safety_reasons=safety_reasons,
            latencies_ms=latencies_ms,
            period_s=self.metadata.control_period_s,
            camera_frame=self._camera_frame(),
            base_frame=self._base_frame(),
        )
        # Serialise everything before writing anything: a step is recorded whole or not at all.
        serialized = [(topic, self._serialize(topic, msg)) for topic, msg in messages]
        self._begin(stamp)
        for topic, data in serialized:
            self._writer.write(self._connections[topic], stamp, data)
        self._last_stamp_ns = stamp
        self.steps_written += 1
        if self._episode is not None:
            self._episode_steps += 1
        if self._pending_chunk_bytes() >= self.chunk_size:
            self._flush_chunk()

    def close(self) -> None:
        """Finish the bag (index, footer, metadata.yaml). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if not self._started:
            self._begin(0)
        self._writer.close()

    def __enter__(self) -> EvaluationBagWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"evaluation bag {self.path} is already closed")

    def _check_stamp(self, stamp_ns: int) -> int:
        """The stamp as an int, refused if invalid; recorded as the latest only once written."""
        if isinstance(stamp_ns, bool) or not isinstance(stamp_ns, int | np.integer):
            raise TypeError(f"stamp_ns must be an integer number of nanoseconds, got {stamp_ns!r}")
        stamp = int(stamp_ns)
        if stamp < 0:
            raise ValueError(f"stamp_ns must be >= 0, got {stamp}")
        # Readers group steps into episodes by time; a stamp running backwards would silently
        # move steps into the wrong episode.
        if stamp < self._last_stamp_ns:
            raise ValueError(f"stamp_ns {stamp} is earlier than the previous one ({self._last_stamp_ns})")
        return stamp

    def _begin(self, stamp: int) -> None:
        """Write the metadata (and a pending static transform) as the bag's first messages."""
        if self._started:
            return
        self._started = True
        data = self._serialize(topics.METADATA_TOPIC, self._string(self.metadata.to_json()))
        self._writer.write(self._connections[topics.METADATA_TOPIC], stamp, data)
        if self._static is not None:
            self._write_static(stamp, self._static)
        self._last_stamp_ns = max(self._last_stamp_ns, stamp)
        self._flush_chunk()

    def _write_static(self, stamp: int, static: tuple[np.ndarray, str, str]) -> None:
        T, camera_frame, base_frame = static
        transform = transform_stamped_msg(self._factory, T, base_frame, camera_frame, stamp)
        msg = tf_message(self._factory, [transform])
        self._writer.write(
            self._connections[topics.TF_STATIC_TOPIC], stamp, self._serialize(topics.TF_STATIC_TOPIC, msg)
        )
        self._static = static

    def _camera_frame(self) -> str:
        return self._static[1] if self._static is not None else topics.COLOR_OPTICAL_FRAME

    def _base_frame(self) -> str:
        return self._static[2] if self._static is not None else topics.BASE_FRAME

    def _serialize(self, topic: str, msg: Any) -> bytes:
        return bytes(self._typestore.serialize_cdr(msg, layout.TOPIC_TYPES[topic]))

    def _pending_chunk_bytes(self) -> int:
        return self._writer.storage.chunk.bio.tell()

    def _flush_chunk(self) -> None:
        storage = self._writer.storage
        if storage is not None and storage.chunk.bio.tell():
            storage.close_chunk()
            storage.bio.flush()
        self.flushed_steps = self.steps_written

    def _string(self, text: str) -> Any:
        return string_msg(self._factory, text)


def _check_storage_internals(storage: Any) -> None:
    """Early chunk closing uses rosbags' MCAP writer's `chunk`, `close_chunk` and `bio`; fail
    loudly at open (not at the first kill) if a rosbags release renamed them."""
    ok = (
        hasattr(storage, "close_chunk")
        and hasattr(storage, "bio")
        and hasattr(getattr(storage, "chunk", None), "bio")
    )
    if not ok:
        import rosbags

        raise RuntimeError(
            f"rosbags {getattr(rosbags, '__version__', '?')}: its MCAP writer no longer exposes "
            "chunk/close_chunk/bio, which EvaluationBagWriter needs to flush chunks early"
        )
