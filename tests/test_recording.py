"""Evaluation bags: round trip, cross-reader compatibility (rosbags + Foxglove's mcap decoder, for
the Jazzy v9 and Humble v8 layouts), survival of a SIGKILL mid-episode, and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.highlevel import AnyReader

from mtdagger.messages import topics
from mtdagger.perception.camera_model import CameraModel
from mtdagger.recording import layout
from mtdagger.recording.bag_reader import BagError, read_evaluation_bag
from mtdagger.recording.bag_writer import BagMetadata, EpisodeInfo, EvaluationBagWriter

REPO_ROOT = Path(__file__).resolve().parents[1]
PERIOD_S = 0.0125
STEP_NS = 12_500_000
T_BASE_CAMERA = np.array(
    [[0.0, -1.0, 0.0, 0.1], [-1.0, 0.0, 0.0, 0.6], [0.0, 0.0, -1.0, 1.2], [0.0, 0.0, 0.0, 1.0]]
)
CAMERA = CameraModel.from_fov(16, 12, 45.0, T_BASE_CAMERA)
PER_STEP_TOPICS = (
    topics.ALIGNED_DEPTH_TOPIC,
    topics.ALIGNED_DEPTH_INFO_TOPIC,
    topics.POINT_CLOUD_TOPIC,
    topics.EE_STATE_TOPIC,
    topics.JOINT_STATES_TOPIC,
    topics.ACTION_TOPIC,
    topics.ACTION_GRIPPER_TOPIC,
    topics.APPLIED_COMMAND_TOPIC,
    topics.APPLIED_GRIPPER_TOPIC,
    topics.SAFETY_TOPIC,
    topics.LATENCY_TOPIC,
)


def metadata() -> BagMetadata:
    return BagMetadata(
        checkpoint_id="ckpt-abc123",
        calibration_id="calib-2024-05-01",
        robot="sawyer-sim",
        control_period_s=PERIOD_S,
        git_commit="0123456789abcdef",
        config={"tasks": ["reach-v3", "push-v3"], "noise": "realsense"},
        created_at="2024-05-01T12:00:00+00:00",
    )


def step_data(episode: int, step: int) -> dict:
    """Deterministic synthetic step; step 2 of every episode is a NaN action the filter held."""
    rng = np.random.default_rng(100 * episode + step)
    held = step == 2
    depth = rng.uniform(0.3, 1.5, size=(12, 16)).round(3)
    depth[0, 0] = 0.0  # an invalid pixel
    return dict(
        depth_m=depth,
        camera=CAMERA,
        points=rng.uniform(-0.5, 0.5, size=(64, 3)).astype(np.float32),
        ee_position=np.array([0.1 * episode, 0.5 + 0.01 * step, 0.2]),
        gripper=0.25 * step,
        action=np.full(4, np.nan) if held else np.array([0.004, -0.002, 0.001, 1.0]),
        applied=np.array([0.0, 0.0, 0.0, -1.0]) if held else np.array([0.004, -0.002, 0.001, 1.0]),
        safety_status="held" if held else "ok",
        safety_reasons=("non_finite_action",) if held else (),
        latencies_ms={"camera": 1.0 + step, "policy": 2.0 + episode, "safety": 0.1},
    )


EPISODES = (
    EpisodeInfo(index=0, task="reach-v3", object="cube", seed=7, object_split="seen"),
    EpisodeInfo(index=1, task="push-v3", object="mug", seed=8, object_split="unseen", notes="new mug"),
)
SUCCESS = (True, False)
STEPS = 4


def write_bag(path: Path, *, distro: str = "jazzy", chunk_size: int = 4096) -> Path:
    with EvaluationBagWriter(path, metadata=metadata(), distro=distro, chunk_size=chunk_size) as writer:
        writer.write_static(T_BASE_CAMERA)
        stamp = 1_000_000_000
        for info, success in zip(EPISODES, SUCCESS):
            writer.start_episode(stamp, info)
            for step in range(STEPS):
                stamp += STEP_NS
                writer.write_step(stamp, **step_data(info.index, step))
            stamp += STEP_NS
            writer.end_episode(stamp, success=success, notes="" if success else "missed the puck")
            stamp += STEP_NS
    return path


def expected_counts() -> dict[str, int]:
    steps = STEPS * len(EPISODES)
    counts = {topic: steps for topic in PER_STEP_TOPICS}
    counts.update(
        {topics.METADATA_TOPIC: 1, topics.TF_STATIC_TOPIC: 1, topics.EPISODE_TOPIC: 2 * len(EPISODES)}
    )
    return counts


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("distro", ["jazzy", "humble"])
def test_round_trip_recovers_episodes_steps_and_metadata(tmp_path, distro):
    bag = read_evaluation_bag(write_bag(tmp_path / "bag", distro=distro))

    assert bag.complete and bag.reader == "rosbags"
    assert bag.metadata == metadata()
    assert json.loads(bag.custom_data[layout.CUSTOM_DATA_KEY]) == json.loads(metadata().to_json())
    np.testing.assert_allclose(
        bag.static_transforms[(topics.BASE_FRAME, topics.COLOR_OPTICAL_FRAME)], T_BASE_CAMERA, atol=1e-9
    )
    assert bag.topic_counts == expected_counts()
    assert [(e.index, e.task, e.object, e.seed, e.object_split) for e in bag.episodes] == [
        (0, "reach-v3", "cube", 7, "seen"),
        (1, "push-v3", "mug", 8, "unseen"),
    ]
    assert [e.success for e in bag.episodes] == [True, False]
    assert bag.episodes[1].notes == "missed the puck"
    for episode in bag.episodes:
        steps = [step_data(episode.index, k) for k in range(STEPS)]
        assert episode.complete and episode.num_steps == STEPS
        np.testing.assert_allclose(episode.ee_positions, [s["ee_position"] for s in steps])
        np.testing.assert_allclose(episode.gripper, [s["gripper"] for s in steps])
        # The NaN action is evidence: recorded as given, beside the hold that was applied.
        np.testing.assert_allclose(episode.actions, [s["action"] for s in steps], rtol=1e-12)
        assert np.isnan(episode.actions[2]).all()
        np.testing.assert_allclose(episode.applied, [s["applied"] for s in steps], rtol=1e-12)
        assert episode.safety_status == {"ok": 3, "held": 1}
        assert episode.safety_reasons == {"non_finite_action": 1}
        assert episode.safety_reasons_by_status == {"held": {"non_finite_action": 1}}
        np.testing.assert_allclose(episode.latencies_ms["camera"], [1.0, 2.0, 3.0, 4.0])
        assert set(episode.latencies_ms) == {"camera", "policy", "safety"}


def test_killed_reader_path_agrees_with_rosbags_on_a_complete_bag(tmp_path):
    """The streaming path (used for killed bags) gives the same summary as rosbags' indexed one."""
    path = write_bag(tmp_path / "bag")
    indexed = read_evaluation_bag(path)
    (path / "metadata.yaml").unlink()  # forces the streaming path
    streamed = read_evaluation_bag(path)
    assert streamed.reader == "mcap-stream" and not streamed.complete
    assert streamed.topic_counts == indexed.topic_counts
    assert streamed.metadata == indexed.metadata
    for a, b in zip(indexed.episodes, streamed.episodes):
        assert (a.index, a.success, a.num_steps, a.safety_status) == (
            b.index,
            b.success,
            b.num_steps,
            b.safety_status,
        )
        np.testing.assert_array_equal(a.actions, b.actions)
        np.testing.assert_array_equal(a.ee_positions, b.ee_positions)


# --------------------------------------------------------------------------- cross-reader


def _expected_qos(profiles) -> list[dict]:
    # v9 stores a YAML list, v8 (Humble) a YAML string holding that list with enum numbers.
    return yaml.safe_load(profiles) if isinstance(profiles, str) else profiles


@pytest.mark.parametrize(("distro", "version"), [("jazzy", 9), ("humble", 8)])
def test_both_readers_see_every_topic_and_count(tmp_path, distro, version):
    path = write_bag(tmp_path / "bag", distro=distro)
    info = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == version and info["storage_identifier"] == "mcap"
    by_name = {t["topic_metadata"]["name"]: t["topic_metadata"] for t in info["topics_with_message_count"]}
    tf_qos = by_name[topics.TF_STATIC_TOPIC]["offered_qos_profiles"]
    assert isinstance(tf_qos, str) == (version == 8)
    (profile,) = _expected_qos(tf_qos)
    assert profile["depth"] == 1
    assert profile["durability"] in ("transient_local", 1)  # v9 names, v8 enum values (1 = TRANSIENT_LOCAL)

    # rosbags AnyReader: every message deserialises, counts per topic intact.
    with AnyReader([path]) as reader:
        rosbags_counts = Counter()
        for connection, _, raw in reader.messages():
            reader.deserialize(raw, connection.msgtype)
            rosbags_counts[connection.topic] += 1
        depth_conn = next(c for c in reader.connections if c.topic == topics.ALIGNED_DEPTH_TOPIC)
        first_depth = reader.deserialize(next(reader.messages([depth_conn]))[2], depth_conn.msgtype)
    assert dict(rosbags_counts) == expected_counts()

    # Foxglove's decoder: mcap + mcap-ros2-support, decoding every message from the bag's schemas.
    mcap_counts = Counter()
    with (path / f"{path.name}.mcap").open("rb") as handle:
        for _, channel, _, decoded in make_reader(
            handle, decoder_factories=[DecoderFactory()]
        ).iter_decoded_messages():
            mcap_counts[channel.topic] += 1
            if channel.topic == topics.ALIGNED_DEPTH_TOPIC and mcap_counts[channel.topic] == 1:
                mcap_depth = decoded
            if channel.topic == topics.POINT_CLOUD_TOPIC and mcap_counts[channel.topic] == 1:
                mcap_cloud = decoded
        handle.seek(0)
        channels = make_reader(handle).get_summary().channels.values()
    assert dict(mcap_counts) == expected_counts()
    # The MCAP channel carries the same QoS (what `ros2 bag play` re-offers for /tf_static).
    (tf_channel,) = [c for c in channels if c.topic == topics.TF_STATIC_TOPIC]
    (channel_profile,) = yaml.safe_load(tf_channel.metadata["offered_qos_profiles"])
    assert channel_profile["durability"] == profile["durability"] and channel_profile["depth"] == 1

    # Both decoders read the same 16UC1 millimetres and the same cloud.
    expected = step_data(0, 0)
    for msg in (first_depth, mcap_depth):
        assert (msg.encoding, msg.height, msg.width) == ("16UC1", 12, 16)
        depth_mm = np.frombuffer(bytes(msg.data), dtype="<u2").reshape(12, 16)
        np.testing.assert_array_equal(depth_mm, np.round(expected["depth_m"] * 1000).astype(np.uint16))
    assert mcap_cloud.width == 64 and mcap_cloud.header.frame_id == topics.BASE_FRAME


# --------------------------------------------------------------------------- kill


KILL_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    sys.path.insert(0, {tests_dir!r})
    from test_recording import EPISODES, STEP_NS, T_BASE_CAMERA, metadata, step_data
    from mtdagger.recording.bag_writer import EvaluationBagWriter

    writer = EvaluationBagWriter({bag!r}, metadata=metadata(), chunk_size={chunk_size})
    writer.write_static(T_BASE_CAMERA)
    stamp = 1_000_000_000
    writer.start_episode(stamp, EPISODES[0])
    for step in range(3):
        stamp += STEP_NS
        writer.write_step(stamp, **step_data(0, step))
    writer.end_episode(stamp + STEP_NS, success=True)
    stamp += 2 * STEP_NS
    writer.start_episode(stamp, EPISODES[1])
    for step in range({steps}):
        stamp += STEP_NS
        writer.write_step(stamp, **step_data(1, step % 3))
    print("written", writer.steps_written, "flushed", writer.flushed_steps, flush=True)
    sys.stdin.read()  # block until killed: the kill lands mid-episode, never mid-write
    """
)


@pytest.mark.parametrize("chunk_size", [1, 8192])
def test_sigkill_mid_episode_keeps_every_flushed_chunk(tmp_path, chunk_size):
    bag_path = tmp_path / "killed"
    steps = 12
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILL_CHILD.format(
                tests_dir=str(REPO_ROOT / "tests"), bag=str(bag_path), chunk_size=chunk_size, steps=steps
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        line = child.stdout.readline()
        assert line.startswith("written"), child.stderr.read()
        _, written, _, flushed = line.split()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    written, flushed = int(written), int(flushed)
    assert written == 3 + steps
    assert not (bag_path / "metadata.yaml").exists()  # rosbags writes it only on close

    # A killed run loses at most the current chunk: with chunk_size=1 nothing, else a few steps.
    if chunk_size == 1:
        assert flushed == written
    else:
        assert written - 6 <= flushed <= written

    bag = read_evaluation_bag(bag_path)
    assert not bag.complete and bag.reader == "mcap-stream"
    assert bag.metadata == metadata()
    first, last = bag.episodes
    assert (first.task, first.success, first.complete, first.num_steps) == ("reach-v3", True, True, 3)
    assert (last.task, last.success, last.complete) == ("push-v3", None, False)
    assert last.num_steps == flushed - 3
    assert "incomplete" in last.notes

    # The finished chunks decode with Foxglove's decoder too, read as a stream (no footer to seek).
    from mcap.exceptions import EndOfFile
    from mcap.reader import NonSeekingReader

    mcap_counts = Counter()
    with (bag_path / "killed.mcap").open("rb") as handle:
        reader = NonSeekingReader(handle, decoder_factories=[DecoderFactory()])
        try:
            for _, channel, _, decoded in reader.iter_decoded_messages(log_time_order=False):
                mcap_counts[channel.topic] += 1
                assert decoded is not None
        except EndOfFile:
            pass  # the unfinished chunk at the tail
    assert mcap_counts[topics.EE_STATE_TOPIC] == flushed
    assert mcap_counts[topics.ALIGNED_DEPTH_TOPIC] == flushed
    assert mcap_counts[topics.EPISODE_TOPIC] == 3  # start, end, start


# --------------------------------------------------------------------------- writer edge cases


def test_closing_with_an_open_episode_reads_back_as_incomplete(tmp_path):
    path = tmp_path / "bag"
    with EvaluationBagWriter(path, metadata=metadata()) as writer:
        writer.start_episode(0, {"episode": 3, "task": "reach-v3", "seed": 1, "object": "cube"})
        writer.write_step(STEP_NS, **step_data(0, 0))
    bag = read_evaluation_bag(path)
    assert bag.complete
    (episode,) = bag.episodes
    assert (episode.index, episode.success, episode.complete, episode.num_steps) == (3, None, False, 1)


def test_exception_inside_with_block_still_closes_a_readable_bag(tmp_path):
    path = tmp_path / "bag"
    with pytest.raises(RuntimeError, match="boom"):
        with EvaluationBagWriter(path, metadata=metadata()) as writer:
            writer.start_episode(0, EPISODES[0])
            writer.write_step(STEP_NS, **step_data(0, 0))
            raise RuntimeError("boom")
    bag = read_evaluation_bag(path)
    assert bag.complete and bag.episodes[0].num_steps == 1


def test_bad_calls_raise_before_writing_anything(tmp_path):
    path = tmp_path / "bag"
    with EvaluationBagWriter(path, metadata=metadata()) as writer:
        writer.start_episode(0, EPISODES[0])
        writer.write_step(STEP_NS, **step_data(0, 0))
        with pytest.raises(ValueError, match="action must have 4 elements"):
            writer.write_step(9 * STEP_NS, **{**step_data(0, 1), "action": np.zeros(3)})
        # The refused step's later stamp was not taken as "the latest": 2 * STEP_NS is still fine.
        with pytest.raises(ValueError, match="ee_position"):
            writer.write_step(2 * STEP_NS, **{**step_data(0, 1), "ee_position": [0.0, 1.0]})
        with pytest.raises(ValueError, match="earlier than the previous"):
            writer.write_step(STEP_NS - 1, **step_data(0, 1))
        with pytest.raises(RuntimeError, match="still open"):
            writer.start_episode(2 * STEP_NS, EPISODES[1])
        writer.end_episode(2 * STEP_NS, success=True)
        with pytest.raises(RuntimeError, match="without an open episode"):
            writer.end_episode(3 * STEP_NS, success=True)
        with pytest.raises(ValueError, match="needs a 'task'"):
            writer.start_episode(3 * STEP_NS, {"episode": 1})
        # A step outside any episode is still recorded, and counted apart.
        writer.write_step(4 * STEP_NS, **step_data(0, 1))
    assert writer.closed
    with pytest.raises(RuntimeError, match="already closed"):
        writer.write_step(5 * STEP_NS, **step_data(0, 1))
    bag = read_evaluation_bag(path)
    assert bag.topic_counts[topics.EE_STATE_TOPIC] == 2
    assert bag.episodes[0].num_steps == 1 and bag.episodes[0].success is True
    assert bag.steps_outside_episodes == 1


def test_writer_refuses_bad_configuration(tmp_path):
    with pytest.raises(ValueError, match="unknown ROS distro 'iron'"):
        EvaluationBagWriter(tmp_path / "a", metadata=metadata(), distro="iron")
    with pytest.raises(ValueError, match="control_period_s"):
        BagMetadata(checkpoint_id="c", calibration_id="k", robot="r", control_period_s=0.0)
    write_bag(tmp_path / "b")
    with pytest.raises(Exception, match="exists already"):
        EvaluationBagWriter(tmp_path / "b", metadata=metadata())
    assert read_evaluation_bag(tmp_path / "b").topic_counts == expected_counts()  # untouched


# --------------------------------------------------------------------------- reader errors


def test_reader_errors_name_the_path(tmp_path):
    with pytest.raises(BagError, match="nope: no such bag directory"):
        read_evaluation_bag(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match=r"empty: no \.mcap file"):
        read_evaluation_bag(tmp_path / "empty")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "corrupt.mcap").write_bytes(b"this is not an mcap file at all" * 10)
    with pytest.raises(BagError, match="corrupt"):
        read_evaluation_bag(corrupt)


def test_a_tail_cut_mid_chunk_keeps_the_chunks_before_it(tmp_path):
    path = write_bag(tmp_path / "bag")
    mcap_file = path / "bag.mcap"
    with mcap_file.open("rb") as handle:
        last_chunk = make_reader(handle).get_summary().chunk_indexes[-1]
    (path / "metadata.yaml").unlink()
    cut = last_chunk.chunk_start_offset + last_chunk.chunk_length // 2
    mcap_file.write_bytes(mcap_file.read_bytes()[:cut])
    bag = read_evaluation_bag(path)
    assert not bag.complete
    assert any("truncated" in w for w in bag.warnings)
    first, second = bag.episodes
    assert first.complete and first.success is True and first.num_steps == STEPS
    # end_episode flushes, so the cut chunk held the second episode's end: it reads as incomplete.
    assert second.success is None and not second.complete
    assert 0 <= second.num_steps <= STEPS


def test_a_bag_killed_before_its_first_chunk_is_an_error_not_an_empty_result(tmp_path):
    path = write_bag(tmp_path / "bag")
    mcap_file = path / "bag.mcap"
    (path / "metadata.yaml").unlink()
    mcap_file.write_bytes(mcap_file.read_bytes()[:40])  # header only
    with pytest.raises(BagError, match="no readable messages"):
        read_evaluation_bag(path)


def test_bad_sensor_values_are_recorded_not_refused(tmp_path):
    """NaN depth, NaN points and an empty cloud are evidence of a fault: the step is written."""
    path = tmp_path / "bag"
    depth = np.full((12, 16), np.nan)
    depth[3, 4] = 0.75
    with EvaluationBagWriter(path, metadata=metadata()) as writer:
        writer.start_episode(0, EPISODES[0])
        bad_points = np.array([[np.nan, 0.0, 0.0], [0.1, 0.2, 0.3]], dtype=np.float32)
        odd = {
            "latencies_ms": {"policy": None, "camera": float("nan"), "safety": 0.2},
            "safety_reasons": "speed",
        }
        writer.write_step(STEP_NS, **{**step_data(0, 0), "depth_m": depth, "points": bad_points, **odd})
        writer.write_step(2 * STEP_NS, **{**step_data(0, 1), "points": np.zeros((0, 3))})
        writer.write_step(3 * STEP_NS, **{**step_data(0, 1), "depth_m": None, "camera": None, "points": None})
        writer.end_episode(4 * STEP_NS, success=False)
    bag = read_evaluation_bag(path)
    assert bag.episodes[0].num_steps == 3
    assert np.isnan(bag.episodes[0].latencies_ms["policy"][0]) and np.isnan(
        bag.episodes[0].latencies_ms["camera"][0]
    )
    assert bag.episodes[0].latencies_ms["safety"][0] == pytest.approx(0.2)
    assert bag.episodes[0].safety_reasons == {"speed": 1}
    assert bag.topic_counts[topics.ALIGNED_DEPTH_TOPIC] == 2
    assert bag.topic_counts[topics.POINT_CLOUD_TOPIC] == 2
    with AnyReader([path]) as reader:
        (conn,) = [c for c in reader.connections if c.topic == topics.ALIGNED_DEPTH_TOPIC]
        image = reader.deserialize(next(reader.messages([conn]))[2], conn.msgtype)
    depth_mm = np.frombuffer(bytes(image.data), dtype="<u2").reshape(12, 16)
    assert depth_mm[3, 4] == 750 and np.count_nonzero(depth_mm) == 1  # NaN -> 0, realsense's "no data"


def test_a_bag_recorded_from_the_ros_graph_reads_at_each_topics_own_rate(tmp_path):
    """`ros2 bag record` of the nodes: topics at their publishers' rates, a real arm's joint names,
    no latency topic. The reader keeps each series as recorded and counts applied commands as steps."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from mtdagger.messages.convert import (
        float64_msg,
        joint_state_msg,
        pose_stamped_msg,
        string_msg,
        twist_stamped_msg,
    )
    from mtdagger.messages.factory import RosbagsFactory

    factory = RosbagsFactory("humble")
    path = tmp_path / "ros_bag"
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {
            spec.name: writer.add_connection(spec.name, spec.msgtype, typestore=factory.typestore)
            for spec in layout.TOPICS
            if spec.name != topics.LATENCY_TOPIC
        }

        def put(topic, stamp, msg):
            writer.write(connections[topic], stamp, factory.serialize(msg))

        put(topics.METADATA_TOPIC, 0, string_msg(factory, metadata().to_json()))
        put(topics.EPISODE_TOPIC, 1, string_msg(factory, json.dumps(EPISODES[0].start_marker())))
        arm = [f"fr3_joint{i}" for i in range(1, 8)]
        for k in range(30):  # joint states at 3x, EE pose at 2x the control rate
            stamp = 10 + k * STEP_NS // 3
            put(topics.JOINT_STATES_TOPIC, stamp, joint_state_msg(factory, arm, np.zeros(7), stamp))
            if k % 3 == 0:
                put(
                    topics.APPLIED_COMMAND_TOPIC,
                    stamp,
                    twist_stamped_msg(factory, [0.1, 0, 0], [0, 0, 0], stamp, "fr3_link0"),
                )
                put(topics.APPLIED_GRIPPER_TOPIC, stamp, float64_msg(factory, -1.0))
                put(
                    topics.SAFETY_TOPIC,
                    stamp,
                    string_msg(factory, '{"status": "clipped", "reasons": ["speed"]}'),
                )
            if k % 3 != 1:
                put(
                    topics.EE_STATE_TOPIC,
                    stamp,
                    pose_stamped_msg(factory, [0.3, 0, k / 100], [0, 0, 0, 1], stamp, "fr3_link0"),
                )
        marker = {**EPISODES[0].start_marker(), "event": "end", "success": True}
        put(topics.EPISODE_TOPIC, 20 * STEP_NS, string_msg(factory, json.dumps(marker)))

    (episode,) = read_evaluation_bag(path).episodes
    assert episode.success is True and episode.num_steps == 10
    assert episode.ee_positions.shape == (20, 3) and episode.gripper.shape == (0,)
    np.testing.assert_allclose(episode.applied, np.tile([0.1 * PERIOD_S, 0, 0, -1.0], (10, 1)))
    assert episode.actions.shape == (0, 4) and episode.latencies_ms == {}
    assert episode.safety_status == {"clipped": 10} and episode.safety_reasons == {"speed": 10}
