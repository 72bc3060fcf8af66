"""A rehearsed trial end to end over real rclpy: `mtdagger trial rehearse` (the rehearsal graph,
the FR3 cell playing the arm, following the plan, the dead-man on) in its own process, and the
console's logic and rclpy adapter (TrialSession + RosTrialGraph, what `mtdagger trial run` drives)
with a scripted operator who takes each verdict from the cell's judge. A plan of 4 episodes on
seen and unseen cabinets; the bag's trial markers and `mtdagger report`'s verdicts must match
the judge episode for episode.

The checkpoint is tiny and untrained (built here): what is tested is the trial's plumbing, not
that drawers open.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtdagger.messages import topics

REPO = Path(__file__).resolve().parents[2]
MAX_STEPS = 12


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory) -> Path:
    from tiny_checkpoint import save_tiny_fr3_checkpoint

    from mtdagger.trial.plan import make_plan, parse_objects, write_plan

    folder = tmp_path_factory.mktemp("trial")
    checkpoint = save_tiny_fr3_checkpoint(folder / "tiny")
    plan = make_plan(str(checkpoint), ("drawer-open",), parse_objects("3,5,21,25"), 1, seed=3)
    return write_plan(plan, folder / "plan.yaml")


class ScriptedOperator:
    """Reads the cell's judge; plays the console's keys through TrialSession."""

    def __init__(self, session, graph) -> None:
        from std_msgs.msg import String

        self.session, self.graph = session, graph
        self.judge: dict[int, dict] = {}
        graph.node.create_subscription(String, topics.TRIAL_JUDGE_TOPIC, self._on_judge, 10)

    def _on_judge(self, msg) -> None:
        marker = json.loads(msg.data)
        if marker.get("event") == "end":
            self.judge[int(marker["episode"])] = marker

    def run(self, timeout_s: float) -> None:
        from mtdagger.trial.session import DONE, READY, RUNNING

        deadline = time.monotonic() + timeout_s
        while self.session.phase != DONE and time.monotonic() < deadline:
            self.graph.beat()
            session = self.session
            if session.phase == READY:
                session.confirm()
            elif session.phase == RUNNING and session.spec.episode in self.judge:
                end = self.judge[session.spec.episode]
                session.judge("success" if end["success"] else "failure")
                session.submit_note(f"judge: drawer at {end['drawer_opening_m']:.3f} m")
            time.sleep(0.05)


def test_a_console_driven_rehearsed_trial_records_the_judges_verdicts(plan_file, tmp_path):
    from mtdagger.recording.bag_reader import read_evaluation_bag
    from mtdagger.recording.report import write_report
    from mtdagger.trial.plan import load_plan
    from mtdagger.trial.progress import Progress, progress_path
    from mtdagger.trial.ros_client import RosTrialGraph
    from mtdagger.trial.session import DONE, TrialSession

    plan = load_plan(plan_file)
    assert {e.object_split for e in plan.episodes} == {"seen", "unseen"} and len(plan.episodes) == 4
    bag = tmp_path / "bag"
    command = [sys.executable, "-m", "mtdagger.cli", "trial", "rehearse", str(plan_file), "--bag", str(bag),
               "--deadman-timeout", "2.0", "--max-steps", str(MAX_STEPS)]  # fmt: skip
    graph_process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    holder: list = []
    graph = RosTrialGraph(service_timeout_s=120.0, status=lambda: holder[0].status)
    try:
        session = TrialSession(plan, Progress.load(plan, progress_path(plan_file)), graph)
        holder.append(session)
        operator = ScriptedOperator(session, graph)
        operator.run(timeout_s=400.0)
        if session.phase != DONE:  # say what the graph said: a start-up failure shows only there
            graph_process.kill()
            output, _ = graph_process.communicate(timeout=60)
            pytest.fail(f"{session.message}\n--- trial graph output (tail) ---\n{output[-3000:]}")
        output, _ = graph_process.communicate(timeout=60)
    finally:
        graph.close()
        if graph_process.poll() is None:
            graph_process.kill()
    assert graph_process.returncode == 0, output[-3000:]
    assert "4/4 episodes ended by the console" in output
    judge = {e: "success" if m["success"] else "failure" for e, m in operator.judge.items()}
    assert sorted(judge) == [0, 1, 2, 3]

    report = write_report([read_evaluation_bag(bag)], tmp_path / "report")
    counted = {e.episode: e for e in report.trial.counted}
    assert {e: c.verdict for e, c in counted.items()} == judge  # the operator's verdicts are the judge's
    for episode in plan.episodes:  # each with the plan's task, object and split in the bag
        got = counted[episode.episode]
        assert (got.task, got.object, got.split, got.attempt) == (
            episode.task, episode.object, episode.object_split, 1)  # fmt: skip
        assert got.note.startswith("judge: drawer at")
    assert not report.trial.not_counted
    text = report.report_path.read_text()
    assert "### Seen vs unseen" in text and "| unseen | drawer-open |" in text
