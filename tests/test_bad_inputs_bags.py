"""Bags and reports (issue 21): a corrupted chunk is refused, not read as data; the same bag given
twice is refused; pooling different checkpoints or conditions is said; every failed episode says
why it failed; a latency series from a stopped (simulated) clock is explained, not plotted empty."""

from __future__ import annotations

import dataclasses
import shutil
import struct

import numpy as np
import pytest
from bad_input_support import assert_refused
from test_bag_repair import killed_bag
from test_recording import STEP_NS, T_BASE_CAMERA, metadata, step_data, write_bag

from mtdagger.recording.bag_reader import BagError, read_evaluation_bag
from mtdagger.recording.bag_writer import EpisodeInfo, EvaluationBagWriter
from mtdagger.recording.report import write_report


def _chunks(data: bytes) -> list[tuple[int, int]]:
    """(offset, record length) of every chunk record (opcode 0x06) of an MCAP file."""
    position, found = 8, []
    while position + 9 <= len(data):
        opcode, length = data[position], struct.unpack_from("<Q", data, position + 1)[0]
        if opcode == 0x06:
            found.append((position, length))
        position += 9 + length
    return found


def _flip_a_bit_in_a_chunk(bag) -> None:
    mcap = sorted(bag.glob("*.mcap"))[0]
    data = bytearray(mcap.read_bytes())
    start, length = _chunks(bytes(data))[len(_chunks(bytes(data))) // 2]
    assert struct.unpack_from("<I", data, start + 33)[0] != 0, "the writer left the chunk CRC empty"
    data[start + 9 + length - 5] ^= 0x01  # inside the chunk's records: an episode marker's bytes
    mcap.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["closed", "killed"])
def test_a_corrupted_chunk_is_refused_not_read_as_other_data(tmp_path, capsys, kind):
    bag = write_bag(tmp_path / "bag") if kind == "closed" else killed_bag(tmp_path)
    assert len(read_evaluation_bag(bag).episodes) == 2
    _flip_a_bit_in_a_chunk(bag)
    with pytest.raises(BagError, match="fails its CRC check"):
        read_evaluation_bag(bag)
    assert_refused(capsys, ["report", str(bag), "--out", str(tmp_path / "r")], "CRC", watch=(bag,))
    assert not (tmp_path / "r").exists()


def test_the_same_bag_twice_is_refused(tmp_path, capsys):
    bag = write_bag(tmp_path / "bag")
    copy = tmp_path / "copy"
    shutil.copytree(bag, copy)
    line = assert_refused(capsys, ["report", str(bag), str(bag), "--out", str(tmp_path / "r")], "given twice")
    assert "counted twice" in line
    assert_refused(capsys, ["report", str(bag), str(copy), "--out", str(tmp_path / "r")], "a copy of")
    assert not (tmp_path / "r" / "report.md").exists()


def _trial(path, outcomes, *, checkpoint="ckpt-abc123", noise="none", latency=None):
    config = {"noise": noise, "safety_limits": {"workspace_min": [-1, -1, 0], "workspace_max": [1, 1, 1]}}
    bag_metadata = dataclasses.replace(metadata(), checkpoint_id=checkpoint, config=config)
    with EvaluationBagWriter(path, metadata=bag_metadata) as writer:
        writer.write_static(T_BASE_CAMERA)
        stamp = 0
        for index, (success, notes) in enumerate(outcomes):
            info = EpisodeInfo(index=index, task="reach-v3", seed=index, goal_position=(0.1, 0.5, 0.2))
            writer.start_episode(stamp, info)
            for step in range(4):
                stamp += STEP_NS
                data = step_data(index, step)
                if latency is not None:
                    data["latencies_ms"] = dict.fromkeys(data["latencies_ms"], latency)
                writer.write_step(stamp, **data)
            writer.end_episode(stamp + STEP_NS, success=success, notes=notes)
            stamp += 2 * STEP_NS
    return read_evaluation_bag(path)


def test_pooling_other_checkpoints_or_conditions_is_said(tmp_path):
    first = _trial(tmp_path / "a", [(True, "")])
    second = _trial(tmp_path / "b", [(False, "")], checkpoint="ckpt-other", noise="realsense")
    report = write_report([first, second], tmp_path / "out")
    text = report.report_path.read_text()
    checkpoint = [w for w in report.warnings if "checkpoint_id" in w]
    noise = [w for w in report.warnings if "condition noise" in w]
    assert checkpoint and '"ckpt-abc123" (a)' in checkpoint[0] and '"ckpt-other" (b)' in checkpoint[0]
    assert noise and "realsense" in noise[0] and "mix them" in noise[0]
    assert checkpoint[0] in text
    same = write_report([_trial(tmp_path / "c", [(True, "")])], tmp_path / "out2")
    assert not [w for w in same.warnings if "pooled" in w]


def test_every_failed_episode_says_why(tmp_path):
    bag = _trial(tmp_path / "bag", [(True, ""), (False, "timeout: max_steps=4")])
    report = write_report([bag], tmp_path / "out")
    rows = [line for line in report.report_path.read_text().splitlines() if "| failure |" in line]
    assert len(rows) == 1
    notes = rows[0].rsplit("|", 2)[1]
    assert "timeout: max_steps=4" in notes
    assert "held 1 step(s) (non_finite_action 1)" in notes  # step 2 of every episode was held
    last = step_data(1, 3)["ee_position"]
    assert f"last distance to goal {np.linalg.norm(last - np.array([0.1, 0.5, 0.2])):.3f} m" in notes


def test_a_failed_episode_without_notes_still_gets_a_reason(tmp_path):
    report = write_report([_trial(tmp_path / "bag", [(False, "")])], tmp_path / "out")
    row = next(line for line in report.report_path.read_text().splitlines() if "| failure |" in line)
    assert "no success in 4 steps" in row and "last distance to goal" in row


def test_latency_from_a_stopped_clock_is_explained_not_plotted_empty(tmp_path):
    bag = _trial(tmp_path / "bag", [(True, "")], latency=0.0)
    report = write_report([bag], tmp_path / "out")
    text = report.report_path.read_text()
    assert report.latency == [] and not (tmp_path / "out" / "latency.png").exists()
    assert "No latencies were measured" in text
    assert any("simulated clock" in w and "'camera'" in w for w in report.warnings)
    measured = write_report([_trial(tmp_path / "bag2", [(True, "")], latency=2.5)], tmp_path / "out2")
    assert [row.p50 for row in measured.latency] == [2.5, 2.5, 2.5]


def test_deploy_records_why_an_episode_ended(tmp_path):
    """The in-process loop writes the timeout into the end marker (the report's first reason)."""
    from test_bad_inputs_runtime import _Backend, _Camera, _Policy

    from mtdagger.control.robot_config import load_robot_config
    from mtdagger.control.safety import SafetyFilter
    from mtdagger.perception.contract import PointCloudContract
    from mtdagger.runtime.loop import DeploymentLoop
    from mtdagger.runtime.stages import PointCloudStage, SimClock

    clock = SimClock()
    writer = EvaluationBagWriter(tmp_path / "bag", metadata=metadata())
    loop = DeploymentLoop(
        _Backend(), _Camera(np.full((12, 16), 0.8, np.float32), clock),
        PointCloudStage(PointCloudContract(num_points=64)), _Policy(),
        SafetyFilter(load_robot_config("metaworld_sawyer").safety), clock=clock, recorder=writer,
    )  # fmt: skip
    loop.run_episode("reach-v3", 0, max_steps=3)
    writer.close()
    (episode,) = read_evaluation_bag(tmp_path / "bag").episodes
    assert episode.success is False and episode.notes == "timeout: max_steps=3"
