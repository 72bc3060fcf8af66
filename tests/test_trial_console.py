"""The operator console's logic (mtdagger.trial.session, .progress) and its text UI, without ROS:
a fake graph stands in for the policy node and the arm controller and records what they would
publish (the episode markers the bag gets)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtdagger.trial.plan import PlannedEpisode, TrialObject, TrialPlan, load_plan, write_plan
from mtdagger.trial.progress import Progress, progress_path
from mtdagger.trial.session import DONE, NOTE, READY, RUNNING, GraphError, TrialSession

REPO = Path(__file__).resolve().parents[1]


class FakeGraph:
    """Appends what the policy node would mark, one JSON line per marker, to `bag` (fsynced: a
    kill loses nothing already marked, as a bag keeps its finished chunks); `held` logs holds."""

    def __init__(self, bag: Path) -> None:
        self.bag, self.held, self.running = bag, 0, None
        self.fail_end = False

    def _mark(self, marker: dict) -> None:
        with open(self.bag, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(marker) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def start(self, spec) -> None:
        self.running = spec
        self._mark({"event": "start", **json.loads(spec.to_json())})

    def hold(self) -> None:
        self.held += 1

    def end(self, verdict) -> None:
        if self.fail_end or self.running is None:
            raise GraphError("policy ~/end_episode refused: no episode is running")
        self._mark({"event": "end", **json.loads(self.running.to_json()), **json.loads(verdict.to_json())})
        self.running = None


def _plan(n_objects: int = 2) -> TrialPlan:
    objects = tuple(TrialObject(f"obj{i}", ("seen", "unseen")[i % 2]) for i in range(n_objects))
    episodes = tuple(PlannedEpisode(i, "drawer-open", o.name, o.split, f"{o.name}: drawer closed")
                     for i, o in enumerate(objects * 2))  # fmt: skip
    return TrialPlan("ckpt", "ab" * 32, ("drawer-open",), objects, 2, 0, episodes)


def _session(tmp_path: Path, plan: TrialPlan | None = None) -> tuple[TrialSession, FakeGraph]:
    plan = plan or _plan()
    graph = FakeGraph(tmp_path / "bag.jsonl")
    return TrialSession(plan, Progress.load(plan, tmp_path / "plan.progress.yaml"), graph), graph


def test_one_episode_arms_only_on_confirm_holds_on_the_verdict_and_marks_verdict_and_note(tmp_path):
    session, graph = _session(tmp_path)
    assert session.phase == READY and graph.running is None and graph.held == 1  # held at start
    assert "reset: obj0: drawer closed" in session.view()["episode"]
    session.judge("success")  # no effect before the episode runs
    assert session.phase == READY
    session.confirm()
    assert session.phase == RUNNING and graph.running.episode == 0
    session.status.on_safety({"status": "held", "reasons": ["stale_observation"]})
    session.status.on_safety({"status": "clipped", "reasons": ["speed_limit"]})
    session.status.on_latency({"observation_to_command": 12.5})
    status = session.view()["status"]
    assert "holds 1" in status and "clips 1" in status and "12.5 ms" in status and "speed_limit" in status
    session.judge("abort")
    assert session.phase == NOTE and graph.held == 2  # the arm holds before anything else
    assert Progress.load(session.plan, session.progress.path).attempts[0].verdict == "abort"  # saved
    session.status.on_action()
    assert "last episode" not in session.view()["status"]
    session.submit_note("cable  caught\non the handle")
    assert session.phase == READY and "1/4" in session.view()["progress"]
    assert "last episode: steps 1  holds 1  clips 1" in session.view()["status"]  # not the next one's
    end = [json.loads(line) for line in graph.bag.read_text().splitlines()][-1]
    assert end["verdict"] == "abort" and end["note"] == "cable caught on the handle" and end["episode"] == 0


def test_a_whole_plan_runs_once_per_episode_then_is_done(tmp_path):
    session, graph = _session(tmp_path)
    for verdict in ("success", "failure", "success", "abort"):
        session.confirm()
        session.judge(verdict)
        session.submit_note("")
    assert session.phase == DONE and session.progress.done_count == 4
    ends = [json.loads(line) for line in graph.bag.read_text().splitlines() if '"end"' in line]
    assert [e["episode"] for e in ends] == [0, 1, 2, 3]
    assert [e["verdict"] for e in ends] == ["success", "failure", "success", "abort"]


def test_a_start_refused_before_its_marker_leaves_no_attempt_behind(tmp_path):
    session, graph = _session(tmp_path)

    def refuse(spec):
        raise GraphError("policy refused episode_spec: episode_spec.task: unknown task", marked=False)

    graph.start = refuse
    session.confirm()
    assert session.phase == READY and "not started" in session.message and session.progress.attempts == []
    del graph.start
    session.confirm()
    assert (session.spec.attempt, session.spec.rerun_of) == (1, None)


def test_an_end_the_node_refuses_leaves_the_episode_to_run_again_as_a_rerun(tmp_path):
    session, graph = _session(tmp_path)
    session.confirm()
    session.judge("success")
    graph.fail_end = True
    session.submit_note("x")
    assert "run again" in session.message and session.progress.done_count == 0
    graph.fail_end = False
    session.confirm()
    assert (session.spec.episode, session.spec.attempt, session.spec.rerun_of) == (0, 2, 1)


# ------------------------------------------------------------------ a console killed mid-episode
_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
from test_trial_console import FakeGraph
from mtdagger.trial.plan import load_plan
from mtdagger.trial.progress import Progress, progress_path
from mtdagger.trial.session import TrialSession
from pathlib import Path
plan = load_plan({plan!r}, check_checkpoint=False)
s = TrialSession(plan, Progress.load(plan, progress_path({plan!r})), FakeGraph(Path({bag!r})))
for verdict in ("success", "failure"):
    s.confirm(); s.judge(verdict); s.submit_note("n")
s.confirm()
print("mid-episode", flush=True)
time.sleep(60)
"""


def test_resume_after_a_kill_mid_episode_loses_no_finished_episode_and_duplicates_none(tmp_path):
    plan_path = write_plan(_plan(3), tmp_path / "plan.yaml")  # 6 episodes
    bag = tmp_path / "bag.jsonl"
    script = _SCRIPT.format(tests=str(REPO / "tests"), plan=str(plan_path), bag=str(bag))
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert process.stdout.readline().strip() == "mid-episode"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    plan = load_plan(plan_path, check_checkpoint=False)
    progress = Progress.load(plan, progress_path(plan_path))
    assert progress.done_count == 2 and progress.next_episode().episode == 2
    graph = FakeGraph(bag)
    session = TrialSession(plan, progress, graph)  # `mtdagger trial run PLAN` again
    while session.phase != DONE:
        session.confirm()
        session.judge("success")
        session.submit_note("")
    markers = [json.loads(line) for line in bag.read_text().splitlines()]
    ends = [m for m in markers if m["event"] == "end"]
    assert sorted(e["episode"] for e in ends) == list(range(6))  # every episode once: none lost, none twice
    assert [e["verdict"] for e in ends[:2]] == ["success", "failure"]  # the finished ones kept as they were
    starts = [(m["episode"], m["attempt"], m["rerun_of"]) for m in markers if m["event"] == "start"]
    assert starts.count((2, 1, None)) == 1 and (2, 2, 1) in starts  # the killed attempt, then its re-run
    assert [e["attempt"] for e in ends if e["episode"] == 2] == [2]


def test_a_verdict_given_before_a_crash_is_ended_on_resume_with_the_note_marked_lost(tmp_path):
    session, graph = _session(tmp_path)
    session.confirm()
    session.judge("failure")  # ... and the console dies while the note is typed
    resumed = TrialSession(session.plan, Progress.load(session.plan, session.progress.path), graph)
    assert resumed.progress.done_count == 1 and resumed.progress.next_episode().episode == 1
    end = json.loads(graph.bag.read_text().splitlines()[-1])
    assert end["verdict"] == "failure" and "note lost" in end["note"]


def test_progress_of_another_plan_is_refused_naming_the_field(tmp_path):
    session, _ = _session(tmp_path)
    session.confirm()
    other = _plan(3)
    from mtdagger.trial.plan import PlanError

    with pytest.raises(PlanError, match="plan: progress of plan"):
        Progress.load(other, session.progress.path)


# ------------------------------------------------------------------ the text UI (Textual's pilot)
def test_the_console_keys_drive_the_session(tmp_path):
    from mtdagger.trial.tui import TrialConsole

    session, graph = _session(tmp_path)
    beats = []

    async def drive() -> None:
        app = TrialConsole(session, beat=lambda: beats.append(time.monotonic()))
        async with app.run_test() as pilot:
            await pilot.press("s")  # nothing runs yet: ignored
            assert session.phase == READY
            await pilot.press("enter")
            assert session.phase == RUNNING
            await pilot.press("q")  # quitting mid-episode is refused
            assert session.phase == RUNNING and app.is_running
            await pilot.press("f")
            assert session.phase == NOTE
            await pilot.press(*"wet handle", "enter")
            assert session.phase == READY
            await pilot.pause(0.35)
            await pilot.press("q")

    asyncio.run(drive())
    end = json.loads(graph.bag.read_text().splitlines()[-1])
    assert end["verdict"] == "failure" and end["note"] == "wet handle"
    assert len(beats) >= 3  # the heartbeat ticks from the UI loop
