"""`ros2 bag record -s mcap` of the evaluation topics, for where rosbag2 is absent (PyPI wheels).

Subscribes every topic of the evaluation-bag layout (mtdagger.recording.layout) with raw
(serialized CDR) callbacks and writes the bytes unchanged into a rosbag2 MCAP bag with rosbags,
so the bag holds exactly what went over DDS, as `ros2 bag record` would store it. Log times are
the receive times on the recording node's clock: the simulated /clock when it runs with
use_sim_time, as `ros2 bag record --use-sim-time` stores them (the rehearsal's recorder does, as
rehearse.launch.py's `ros2 bag record` does). A bag of a simulated run then has receive times that
agree with its header stamps, and `ros2 bag play --clock` of it drives real.launch.py without
stale-observation holds; wall-clock receive times beside simulated stamps did not (issue 21).
Receive times are kept strictly increasing (+1 ns) so the reader's time order is the order of
arrival (under lockstep sim time a whole step shares one clock value; arrival order keeps an
episode's last command before its end marker). What arrives before the first /clock (the latched
metadata) waits, and is written at the first clock value, as rosbag2 starts recording only then.

What it does not record: /tf_static. tf2_msgs is not among the PyPI wheels, so nothing can
publish it there; `write_static_transform` writes the calibration's transform into the bag, the
message `static_transform_publisher` would have sent on a full ROS 2 install (written with the
first message, at its receive time).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from mtdagger.messages import topics
from mtdagger.messages.convert import tf_message, transform_stamped_msg
from mtdagger.messages.factory import RosbagsFactory
from mtdagger.recording import layout
from mtdagger.recording.chunk_crc import enable_chunk_crcs

_CAMERA_TOPICS = (topics.ALIGNED_DEPTH_TOPIC, topics.ALIGNED_DEPTH_INFO_TOPIC)


def _message_class(msgtype: str) -> Any:
    package, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


class BagRecorder:
    """Records the layout's topics from `node` into a new bag directory `path` until `close()`."""

    def __init__(self, node, path: str | Path, *, distro: str = "jazzy") -> None:
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

        self.path = Path(path)
        self._factory = RosbagsFactory(distro=distro)
        self._writer = Writer(
            self.path, version=layout.ROSBAG2_VERSION[distro], storage_plugin=StoragePlugin.MCAP
        )
        self._writer.open()
        enable_chunk_crcs(self._writer)  # a corrupted chunk is refused on read, not misread
        self._connections: dict[str, Any] = {}
        self._clock = node.get_clock()
        self._last_ns = 0
        self._early: list[tuple[str, bytes]] = []  # received before the clock started
        self.counts: dict[str, int] = {}
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)  # fmt: skip
        for spec in layout.TOPICS:
            self._connections[spec.name] = self._writer.add_connection(
                spec.name, spec.msgtype, typestore=self._factory.typestore, offered_qos_profiles=[spec.qos]
            )
            if spec.name == topics.TF_STATIC_TOPIC:
                continue  # see the module doc
            qos = qos_profile_sensor_data if spec.name in _CAMERA_TOPICS else (
                latched if spec.qos == layout.LATCHED_QOS else 100)  # fmt: skip
            node.create_subscription(
                _message_class(spec.msgtype), spec.name,
                lambda data, topic=spec.name: self._write(topic, data), qos, raw=True,
            )  # fmt: skip

    def _stamp(self, now_ns: int) -> int:
        self._last_ns = max(now_ns, self._last_ns + 1)
        return self._last_ns

    def _write(self, topic: str, data: bytes) -> None:
        if self._writer is None:
            return
        now_ns = self._clock.now().nanoseconds
        if now_ns <= 0:  # use_sim_time and no /clock yet: written with the first clock value
            self._early.append((topic, bytes(data)))
            return
        self._flush_early(now_ns)
        self._put(topic, bytes(data), now_ns)

    def _flush_early(self, now_ns: int) -> None:
        early, self._early = self._early, []
        for topic, data in early:
            self._put(topic, data, now_ns)

    def _put(self, topic: str, data: bytes, now_ns: int) -> None:
        self._writer.write(self._connections[topic], self._stamp(now_ns), data)
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def write_static_transform(self, T_base_camera: np.ndarray, base_frame: str, camera_frame: str) -> None:
        msg = tf_message(
            self._factory, [transform_stamped_msg(self._factory, T_base_camera, base_frame, camera_frame, 0)]
        )
        data = self._factory.typestore.serialize_cdr(msg, "tf2_msgs/msg/TFMessage")
        self._write(topics.TF_STATIC_TOPIC, data)

    def close(self) -> None:
        if self._writer is not None:
            self._flush_early(max(self._last_ns + 1, 1))  # never a clock: keep them all the same
            self._writer.close()
            self._writer = None
