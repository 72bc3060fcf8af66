"""The operator console's logic: one trial, episode by episode, as a small state machine.

READY (the next episode and its reset shown) --confirm--> RUNNING (the policy armed, live status)
--success | failure | abort--> NOTE (the arm already holding; an optional note) --note--> READY,
or DONE after the last episode. The console's only ways to the robot are the `TrialGraph`
methods (the rclpy adapter in `ros_client`, a fake in tests), and every change of state is first
saved by `Progress`, so the TUI (`tui`) only draws `view()` and forwards keys.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from mtdagger.trial.plan import PlannedEpisode, TrialPlan
from mtdagger.trial.progress import Progress
from mtdagger.trial.spec import EpisodeSpec, Verdict

READY, RUNNING, NOTE, DONE = "ready", "running", "note", "done"
NOTE_LOST = "(note lost: the console stopped before it was given)"


class GraphError(RuntimeError):
    """The graph did not do what the console asked (a service missing, a request refused).
    `marked`: the episode's start marker may have gone out (else the attempt is withdrawn)."""

    def __init__(self, message: str, marked: bool = True) -> None:
        super().__init__(message)
        self.marked = marked


class TrialGraph(Protocol):
    def start(self, spec: EpisodeSpec) -> None:
        """Arm: the episode's spec to the policy node, the arm's stop cleared, the episode started."""

    def hold(self) -> None:
        """The arm holds now (the arm controller's latched stop)."""

    def end(self, verdict: Verdict) -> None:
        """The operator's verdict to the policy node and the episode ended (its end marker)."""


@dataclass
class LiveStatus:
    """What the graph says about the running episode (fed by the adapter's subscriptions)."""

    steps: int = 0
    holds: int = 0
    clips: int = 0
    reasons: Counter = field(default_factory=Counter)
    latency_ms: float | None = None

    def on_action(self) -> None:
        self.steps += 1

    def on_safety(self, verdict: dict) -> None:
        status = verdict.get("status")
        if status in ("held", "stopped"):
            self.holds += 1
        elif status == "clipped":
            self.clips += 1
        if status != "ok":
            self.reasons.update(str(r) for r in verdict.get("reasons") or ())

    def on_latency(self, stages: dict) -> None:
        value = stages.get("observation_to_command")
        if isinstance(value, int | float):
            self.latency_ms = float(value)


class TrialSession:
    def __init__(self, plan: TrialPlan, progress: Progress, graph: TrialGraph, clock=time.monotonic) -> None:
        self.plan, self.progress, self.graph, self._clock = plan, progress, graph, clock
        self.status = LiveStatus()
        self.spec: EpisodeSpec | None = None
        self.verdict: str | None = None
        self._started_s: float | None = None
        self.message = ""
        self.phase = READY
        self.resume()

    # ------------------------------------------------------------------ transitions
    def resume(self) -> None:
        """Hold the arm, end an episode judged before a crash, and show the next one."""
        self._try(self.graph.hold)
        pending = self.progress.pending_end()
        if pending is not None:
            try:
                self.graph.end(Verdict(pending.verdict, NOTE_LOST))
                self.progress.end(NOTE_LOST)
                self.message = (
                    f"episode {pending.episode}: its {pending.verdict} verdict was recorded on resume"
                )
            except GraphError as error:
                self.progress.abandon()
                self.message = f"episode {pending.episode} will run again ({error})"
        self.phase = READY if self.progress.next_episode() is not None else DONE

    def confirm(self) -> None:
        """The scene is reset as shown: arm the policy for the next episode."""
        if self.phase != READY:
            return
        episode = self.progress.next_episode()
        self.spec = self.progress.begin(episode)
        try:
            self.graph.start(self.spec)
        except GraphError as error:
            self._try(self.graph.hold)
            if not error.marked:  # nothing reached the bag: no attempt to re-run later
                self.progress.withdraw()
            self.message = f"not started: {error}"
            return
        self.status, self._started_s = LiveStatus(), self._clock()
        self.phase = RUNNING
        rerun = f", a re-run of attempt {self.spec.rerun_of}" if self.spec.rerun_of else ""
        self.message = f"episode {episode.episode} running (attempt {self.spec.attempt}{rerun})"

    def judge(self, verdict: str) -> None:
        """success | failure | abort: the arm holds at once, the verdict is saved, a note is asked."""
        if self.phase != RUNNING:
            return
        hold_error = self._try(self.graph.hold)
        self.progress.judge(verdict)
        self.verdict, self.phase = verdict, NOTE
        self.message = f"{verdict}: type a note (optional) and press Enter" + (
            f"; HOLD FAILED: {hold_error}" if hold_error else ""
        )

    def submit_note(self, note: str) -> None:
        """End the episode with the verdict and note (its end marker), then on to the next."""
        if self.phase != NOTE:
            return
        note = " ".join(str(note).split())[:500]
        try:
            self.graph.end(Verdict(self.verdict, note))
        except GraphError as error:
            self.progress.abandon()
            self.message = f"episode not ended ({error}): it will run again"
        else:
            self.progress.end(note)
            self.message = f"episode {self.spec.episode}: {self.verdict} recorded"
        self.spec, self.verdict, self._started_s = None, None, None
        self.phase = READY if self.progress.next_episode() is not None else DONE

    def _try(self, call) -> str | None:
        try:
            call()
        except GraphError as error:
            return str(error)
        return None

    # ------------------------------------------------------------------ what the TUI shows
    def elapsed_s(self) -> float:
        return 0.0 if self._started_s is None else self._clock() - self._started_s

    def shown_episode(self) -> PlannedEpisode | None:
        if self.spec is not None:
            return self.plan.episodes[self.spec.episode]
        return self.progress.next_episode()

    def view(self) -> dict[str, str]:
        """Text blocks by name: progress, episode, status, keys, message."""
        done, total = self.progress.done_count, len(self.plan.episodes)
        episode = self.shown_episode()
        blocks = {"progress": f"trial {self.plan.plan_hash}: {done}/{total} episodes done"}
        if episode is None:
            blocks["episode"] = "all episodes done: close the console, then run `mtdagger report`"
        else:
            blocks["episode"] = (
                f"episode {episode.episode + 1}/{total}: {episode.task} on {episode.object} "
                f"({episode.object_split})\nreset: {episode.reset}"
            )
        s = self.status
        reasons = ", ".join(f"{r} x{n}" for r, n in s.reasons.most_common(3)) or "none"
        latency = "n/a" if s.latency_ms is None else f"{s.latency_ms:.1f} ms"
        counts = f"steps {s.steps}  holds {s.holds}  clips {s.clips}  latency {latency}\nreasons: {reasons}"
        if self.phase in (READY, DONE) and s.steps:  # kept until the next start: say whose they are
            counts = f"last episode: {counts}"
        blocks["status"] = f"{self.phase.upper()}  elapsed {self.elapsed_s():.1f} s  {counts}"
        blocks["keys"] = {
            READY: "[Enter] scene is ready: arm the policy   [q] quit",
            RUNNING: "[s] success   [f] failure   [a] ABORT (arm holds)",
            NOTE: "type a note, [Enter] to save it and move on",
            DONE: "[q] quit",
        }[self.phase]
        blocks["message"] = self.message
        return blocks
