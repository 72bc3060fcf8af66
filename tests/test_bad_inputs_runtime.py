"""Bad inputs at run time (issue 11, part B): bags, depth frames into the deploy loop, robot /
safety configs and report outputs. Each asserts the exit code (or the hold), one line naming the
field or path, no traceback, and that nothing already written changed (hashes before/after)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_bag_repair import killed_bag
from test_recording import CAMERA, metadata

from mtdagger import keys
from mtdagger.cli import main
from mtdagger.control.action import ActionConvention
from mtdagger.control.robot_config import ROBOT_CONFIG_DIR, load_robot_config
from mtdagger.control.safety import SafetyFilter
from mtdagger.perception.contract import PointCloudContract
from mtdagger.perception.frames import DepthFrame
from mtdagger.recording.bag_reader import read_evaluation_bag
from mtdagger.recording.bag_writer import EvaluationBagWriter
from mtdagger.runtime.loop import DeploymentLoop
from mtdagger.runtime.stages import PointCloudStage, SimClock, StageOutput
from sim_bridge.backend import StepResult


def tree_hashes(root: Path) -> dict[str, str]:
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def assert_one_line_error(capsys, *needles: str) -> None:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "Traceback" not in captured.err + captured.out
    assert err.count("\n") == 0 and err.startswith("error:"), err
    for needle in needles:
        assert needle in err, (needle, err)


# --------------------------------------------------------------------------- bags


def test_repair_of_a_bag_truncated_inside_its_first_chunk(tmp_path, capsys):
    bag = killed_bag(tmp_path)
    mcap = bag / "killed.mcap"
    mcap.write_bytes(mcap.read_bytes()[:40])  # magic + part of the header: no chunk survived
    before = tree_hashes(tmp_path)
    assert main(["bag", "repair", str(bag)]) == 2
    assert_one_line_error(capsys, str(mcap), "no readable messages")
    assert tree_hashes(tmp_path) == before


def test_repair_of_an_empty_mcap(tmp_path, capsys):
    bag = tmp_path / "empty"
    bag.mkdir()
    (bag / "empty.mcap").write_bytes(b"")
    assert main(["bag", "repair", str(bag)]) == 2
    assert_one_line_error(capsys, "empty.mcap")
    assert (bag / "empty.mcap").read_bytes() == b""
    assert sorted(p.name for p in bag.iterdir()) == ["empty.mcap"]


def test_repair_of_a_file_that_is_not_a_bag(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not a bag\n")
    assert main(["bag", "repair", str(text)]) == 2
    assert_one_line_error(capsys, "notes.txt", "not a bag directory")
    assert text.read_text() == "not a bag\n"


def test_repair_of_an_mcap_named_file_holding_text(tmp_path, capsys):
    bag = tmp_path / "fake"
    bag.mkdir()
    (bag / "fake.mcap").write_text("hello, I am not MCAP")
    before = tree_hashes(bag)
    assert main(["bag", "repair", str(bag)]) == 2
    assert_one_line_error(capsys, "fake.mcap", "not an MCAP file")
    assert tree_hashes(bag) == before


def test_repair_of_a_missing_folder(tmp_path, capsys):
    assert main(["bag", "repair", str(tmp_path / "no_such_bag")]) == 2
    assert_one_line_error(capsys, "no_such_bag", "no such bag directory")
    assert not (tmp_path / "no_such_bag").exists() and list(tmp_path.iterdir()) == []


def test_repair_of_a_folder_without_an_mcap(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"\xff\xd8")
    assert main(["bag", "repair", str(tmp_path / "photos")]) == 2
    assert_one_line_error(capsys, "photos", "no .mcap file")


def test_repair_out_onto_an_existing_folder(tmp_path, capsys):
    bag = killed_bag(tmp_path)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    before = tree_hashes(tmp_path)
    assert main(["bag", "repair", str(bag), "--out", str(tmp_path / "taken")]) == 2
    assert_one_line_error(capsys, "--out", "taken", "already exists")
    assert tree_hashes(tmp_path) == before


def test_report_out_on_a_file(tmp_path, capsys):
    bag = killed_bag(tmp_path)
    target = tmp_path / "report.txt"
    target.write_text("an existing file")
    before = tree_hashes(tmp_path)
    assert main(["report", str(bag), "--out", str(target)]) == 2
    assert_one_line_error(capsys, "--out", "report.txt", "not a directory")
    assert tree_hashes(tmp_path) == before


def test_report_of_a_truncated_bag_reports_its_finished_episodes(tmp_path, capsys):
    # Truncated is not an error for the report: the finished episode is scored, the rest noted.
    bag = killed_bag(tmp_path)
    before = tree_hashes(bag)
    assert main(["report", str(bag), "--out", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r" / "report.md").read_text()
    assert "| reach-v3 | 1/1 |" in text and "not closed" in text
    assert tree_hashes(bag) == before  # reading never modifies a bag


# --------------------------------------------------------------------------- robot config / safety


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("workspace_max", [0.5, float("nan"), 0.5], "workspace_max"),
        ("max_speed_m_s", float("inf"), "max_speed_m_s"),
        ("control_period_s", float("nan"), "control_period_s"),
        ("joint_limit_margin_rad", -0.05, "joint_limit_margin_rad"),
        ("joint_limit_margin_rad", {"not_a_joint": 0.05}, "joint_limit_margin_rad"),
    ],
)
def test_robot_config_with_bad_safety_numbers_is_refused_by_deploy(tmp_path, capsys, field, value, needle):
    data = yaml.safe_load((ROBOT_CONFIG_DIR / "metaworld_sawyer.yaml").read_text())
    data["safety"][field] = value
    robot = tmp_path / "robot.yaml"
    robot.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=needle):
        load_robot_config(robot)
    # Through the CLI: refused before the checkpoint is even read, nothing recorded.
    before = tree_hashes(tmp_path)
    code = main(["deploy", "--checkpoint", str(tmp_path / "no_checkpoint"), "--robot-config", str(robot),
                 "--record", str(tmp_path / "bag")])
    assert code == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err.strip().count("\n") == 0
    assert needle in captured.err and "robot.yaml" in captured.err
    assert tree_hashes(tmp_path) == before and not (tmp_path / "bag").exists()


# --------------------------------------------------------------------------- depth into the deploy loop


class _Backend:
    action_convention = ActionConvention(control_period_s=0.0125, max_step_m=0.01)

    def reset(self, task, seed):
        return {keys.STATE: np.array([0.0, 0.7, 0.2, 1.0], dtype=np.float32)}

    def step(self, action):
        assert np.all(np.isfinite(action)), action
        return StepResult({keys.STATE: np.array([0.0, 0.7, 0.2, 1.0], dtype=np.float32)}, False, False)


class _Camera:
    def __init__(self, depth, clock):
        self.depth, self.clock = depth, clock

    def read(self):
        return DepthFrame(self.depth, CAMERA, stamp_s=self.clock.now_s)


class _Policy:
    def set_task(self, task):
        pass

    def act(self, points, state):
        return StageOutput(np.array([0.002, 0.0, 0.0, 1.0])) if points is not None else StageOutput(
            None, "no_point_cloud")


@pytest.mark.parametrize(
    "depth",
    [
        np.full((12, 16), np.nan, dtype=np.float32),
        np.full((12, 16), np.inf, dtype=np.float32),
        np.full((12, 16), "far", dtype=object),
        np.ones((12, 16, 3), dtype=np.float32),
        np.full((12, 16), 900, dtype=np.uint16),  # millimetres handed over as if metres: wrong dtype
    ],
    ids=["nan", "inf", "strings", "rgb-shaped", "uint16"],
)
def test_bad_depth_frames_hold_the_arm_and_are_recorded_not_crashed_on(tmp_path, depth):
    clock = SimClock()
    limits = load_robot_config("metaworld_sawyer").safety
    writer = EvaluationBagWriter(tmp_path / "bag", metadata=metadata())
    stage = PointCloudStage(PointCloudContract(num_points=64))
    loop = DeploymentLoop(_Backend(), _Camera(depth, clock), stage, _Policy(), SafetyFilter(limits),
                          clock=clock, recorder=writer)
    outcome = loop.run_episode("reach-v3", 0, max_steps=5)
    writer.close()
    assert outcome.steps == 5 and outcome.status_counts["held"] == 5
    assert outcome.reason_counts["non_finite_action"] == 5
    assert any(r in outcome.reason_counts for r in ("empty_point_cloud", "bad_depth_frame"))
    (episode,) = read_evaluation_bag(tmp_path / "bag").episodes
    assert episode.num_steps == 5 and episode.safety_status == {"held": 5}
