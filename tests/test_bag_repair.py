"""`mtdagger bag repair`: a killed recording becomes a bag rosbags' AnyReader (and the MCAP summary
reader) open with every finished episode, without destroying the killed file (issue 11 defect 2)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.highlevel import AnyReader
from rosbags.highlevel.anyreader import AnyReaderError
from test_recording import EPISODES, STEP_NS, metadata, step_data

from mtdagger.cli import main
from mtdagger.messages import topics
from mtdagger.recording import layout
from mtdagger.recording.bag_reader import BagError, read_evaluation_bag
from mtdagger.recording.bag_writer import EvaluationBagWriter
from mtdagger.recording.repair import BACKUP_SUFFIX, repair_bag

REPO_ROOT = Path(__file__).resolve().parents[1]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def killed_bag(tmp_path: Path, name: str = "killed") -> Path:
    """The on-disk state of a recording killed mid-episode 1: a snapshot of the .mcap taken while
    the writer is still open (what a SIGKILL leaves), with no metadata.yaml."""
    live = tmp_path / f"{name}-live"
    writer = EvaluationBagWriter(live, metadata=metadata(), chunk_size=1)
    stamp = 10**9
    writer.start_episode(stamp, EPISODES[0])
    for step in range(3):
        stamp += STEP_NS
        writer.write_step(stamp, **step_data(0, step))
    writer.end_episode(stamp + STEP_NS, success=True)
    stamp += 2 * STEP_NS
    writer.start_episode(stamp, EPISODES[1])
    for step in range(2):
        stamp += STEP_NS
        writer.write_step(stamp, **step_data(1, step))
    bag = tmp_path / name
    bag.mkdir()
    shutil.copyfile(live / f"{live.name}.mcap", bag / f"{name}.mcap")
    writer.close()
    return bag


def anyreader_episode_markers(bag: Path) -> list[dict]:
    with AnyReader([bag]) as reader:
        connections = [c for c in reader.connections if c.topic == topics.EPISODE_TOPIC]
        return [json.loads(reader.deserialize(raw, c.msgtype).data)
                for c, _, raw in reader.messages(connections=connections)]


def mcap_summary_count(mcap_file: Path, topic: str) -> int:
    with mcap_file.open("rb") as handle:
        summary = make_reader(handle).get_summary()
    assert summary is not None and summary.statistics is not None
    ids = [cid for cid, channel in summary.channels.items() if channel.topic == topic]
    return sum(summary.statistics.channel_message_counts.get(cid, 0) for cid in ids)


def test_in_place_repair_opens_in_anyreader_and_keeps_the_killed_file(tmp_path):
    bag = killed_bag(tmp_path)
    original = bag / "killed.mcap"
    digest = _sha(original)
    with pytest.raises((AnyReaderError, FileNotFoundError)):
        AnyReader([bag]).open()  # the defect: no metadata.yaml

    result = repair_bag(bag)
    assert result.repaired and result.backup == bag / f"killed.mcap{BACKUP_SUFFIX}"
    assert _sha(result.backup) == digest  # the killed recording, byte for byte
    markers = anyreader_episode_markers(bag)
    assert [(m["event"], m["episode"]) for m in markers] == [("start", 0), ("end", 0), ("start", 1)]
    assert mcap_summary_count(bag / "killed.mcap", topics.EE_STATE_TOPIC) == 5
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == 9 and info["relative_file_paths"] == ["killed.mcap"]
    assert layout.CUSTOM_DATA_KEY in info["custom_data"]

    recovered = read_evaluation_bag(bag)
    assert recovered.complete and recovered.reader == "rosbags" and recovered.metadata == metadata()
    first, last = recovered.episodes
    assert (first.success, first.num_steps, last.success, last.num_steps) == (True, 3, None, 2)
    assert not repair_bag(bag).repaired  # a complete bag is left alone
    assert not list(tmp_path.glob(".*repair-tmp"))


def test_repair_to_out_leaves_the_original_untouched(tmp_path, capsys):
    bag = killed_bag(tmp_path)
    before = {p.name: _sha(p) for p in bag.iterdir()}
    out = tmp_path / "fixed"
    assert main(["bag", "repair", str(bag), "--out", str(out), "--distro", "humble"]) == 0
    assert "repaired" in capsys.readouterr().out
    assert {p.name: _sha(p) for p in bag.iterdir()} == before
    assert yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"]["version"] == 8
    assert [e.success for e in read_evaluation_bag(out).episodes] == [True, None]
    # An existing --out is refused with one line, and nothing is written.
    assert main(["bag", "repair", str(bag), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err and "Traceback" not in err


def test_a_repair_interrupted_after_the_backup_rename_can_be_rerun(tmp_path):
    bag = killed_bag(tmp_path)
    digest = _sha(bag / "killed.mcap")
    os.replace(bag / "killed.mcap", bag / f"killed.mcap{BACKUP_SUFFIX}")  # killed mid-swap
    (tmp_path / ".killed.repair-tmp").mkdir()  # and its leftover temporary directory
    result = repair_bag(bag)
    assert result.repaired and _sha(bag / f"killed.mcap{BACKUP_SUFFIX}") == digest
    assert [m["event"] for m in anyreader_episode_markers(bag)] == ["start", "end", "start"]


def test_nothing_to_repair_from_is_a_one_line_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "empty.mcap").write_bytes(b"")
    with pytest.raises(BagError, match="no readable messages"):
        repair_bag(empty)
    assert (empty / "empty.mcap").read_bytes() == b""  # not renamed aside
    with pytest.raises(BagError, match="no such bag"):
        repair_bag(tmp_path / "missing")


# --------------------------------------------------------------------------- a real kill

DEPLOY_CHILD = """
import sys
from mtdagger.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    from mtdagger.bench.control import write_random_checkpoint
    from mtdagger.perception.contract import PointCloudContract
    from mtdagger.training.config import SimConfig
    from mtdagger.training.sim_setup import backend_config_for, describe_backend

    description = describe_backend(backend_config_for(SimConfig(), ["reach-v3"], render_depth=True))
    checkpoint = tmp_path_factory.mktemp("ckpt") / "random"
    write_random_checkpoint(checkpoint, ["reach-v3"], PointCloudContract(num_points=128),
                            description.action_convention, description.privileged_dim)
    return checkpoint


def _finished_episodes(bag: Path) -> int:
    try:
        return sum(e.complete for e in read_evaluation_bag(bag).episodes)
    except BagError:
        return 0


@pytest.mark.integration
def test_sigkill_mid_deploy_record_then_repair_keeps_every_finished_episode(tmp_path, random_checkpoint):
    bag = tmp_path / "deploy-bag"
    command = [sys.executable, "-c", DEPLOY_CHILD, "deploy", "--checkpoint", str(random_checkpoint),
               "--tasks", "reach-v3", "--episodes", "200", "--max-steps", "8", "--record", str(bag)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    child = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while _finished_episodes(bag) < 3:
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "deploy did not finish 3 episodes in 90 s"
            time.sleep(0.2)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not (bag / "metadata.yaml").exists()
    streamed = read_evaluation_bag(bag)  # what the killed file holds, read by streaming
    finished = [e.index for e in streamed.episodes if e.complete]
    assert len(finished) >= 3

    assert main(["bag", "repair", str(bag)]) == 0
    markers = anyreader_episode_markers(bag)
    ended = [m["episode"] for m in markers if m["event"] == "end"]
    assert ended == finished  # AnyReader: every finished episode, none twice
    mcap_file = next(bag.glob("*.mcap"))
    assert mcap_summary_count(mcap_file, topics.EPISODE_TOPIC) == len(markers)
    # The mcap reader through the rebuilt index (seeking, as Foxglove and ros2 bag do).
    with mcap_file.open("rb") as handle:
        reader = make_reader(handle, decoder_factories=[DecoderFactory()])
        records = reader.iter_decoded_messages(topics=[topics.EPISODE_TOPIC])
        decoded = [json.loads(message.data) for _, _, _, message in records]
    assert [m["episode"] for m in decoded if m["event"] == "end"] == finished
    repaired = read_evaluation_bag(bag)
    assert repaired.complete and [e.index for e in repaired.episodes if e.complete] == finished
    assert all(e.num_steps == 8 for e in repaired.episodes if e.complete)
    # The simulator's goal and object positions are in every episode marker (for the report).
    assert all(e.goal_position is not None and e.object_position is not None for e in repaired.episodes)
    assert list(bag.glob(f"*.mcap{BACKUP_SUFFIX}"))
