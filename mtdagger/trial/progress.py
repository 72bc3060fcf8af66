"""The trial's progress on disk: every attempt at every episode, saved atomically at each change.

The file (`PLAN.progress.yaml` beside the plan) is rewritten whole through the atomic writer
(temp file, fsync, rename) when an attempt starts, when the operator gives a verdict, and when the
policy node acknowledges the episode's end (its end marker is then in the bag). A console killed
at any moment leaves the previous version or the next, never half of one, so `mtdagger trial run
PLAN` again resumes exactly:

- an episode whose attempt was acknowledged as ended is finished: never run again;
- an attempt that was started but not ended (crash mid-episode) is left as it was, and the
  episode runs again as a new attempt with `rerun_of` naming it: the bag says which one counts;
- an attempt that was judged but whose end was not acknowledged (crash while typing the note)
  is ended on resume with its verdict, if the policy node still has it running; else rerun.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import yaml

from mtdagger.config_validation import ConfigError, build_dataclass
from mtdagger.files import atomic_write_text, load_yaml
from mtdagger.trial.plan import PlanError, PlannedEpisode, TrialPlan
from mtdagger.trial.spec import VERDICTS, EpisodeSpec

STATES = ("started", "judged", "ended")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Attempt:
    episode: int
    attempt: int
    state: str = "started"
    rerun_of: int | None = None
    verdict: str | None = None
    note: str = ""
    started_at: str = ""
    ended_at: str = ""

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, got {self.state!r}")
        if (self.verdict is None) != (self.state == "started") or (self.verdict not in (None, *VERDICTS)):
            raise ValueError(f"verdict {self.verdict!r} does not fit state {self.state!r}")


def progress_path(plan_path: str | Path) -> Path:
    plan_path = Path(plan_path)
    return plan_path.with_name(plan_path.stem + ".progress.yaml")


class Progress:
    """The attempts so far, and the one file that keeps them."""

    def __init__(self, plan: TrialPlan, path: str | Path, attempts: list[Attempt] | None = None) -> None:
        self.plan, self.path = plan, Path(path)
        self.attempts: list[Attempt] = list(attempts or [])

    @classmethod
    def load(cls, plan: TrialPlan, path: str | Path) -> Progress:
        """The saved progress (or none yet); PlanError naming the field if it is not this plan's."""
        path = Path(path)
        if not path.exists():
            return cls(plan, path)
        data = load_yaml(path.read_text(encoding="utf-8"), str(path))
        if not isinstance(data, dict) or set(data) != {"plan", "attempts"}:
            raise PlanError(f"{path}: a progress file has exactly the fields plan and attempts")
        if data["plan"] != plan.plan_hash:
            raise PlanError(
                f"{path}: plan: progress of plan {data['plan']}, not of this plan ({plan.plan_hash})"
            )
        try:
            attempts = [
                build_dataclass(Attempt, a, f"{path}: attempts[{i}]")
                for i, a in enumerate(data["attempts"] or [])
            ]
        except ConfigError as error:
            raise PlanError(str(error)) from None
        for a in attempts:
            if not 0 <= a.episode < len(plan.episodes):
                raise PlanError(f"{path}: attempts: episode {a.episode} is not in the plan")
        return cls(plan, path, attempts)

    def save(self) -> None:
        text = yaml.safe_dump({"plan": self.plan.plan_hash, "attempts": [asdict(a) for a in self.attempts]},
                              sort_keys=False)  # fmt: skip
        atomic_write_text(self.path, text)

    # ------------------------------------------------------------------ questions
    def of(self, episode: int) -> list[Attempt]:
        return [a for a in self.attempts if a.episode == episode]

    def finished(self, episode: int) -> Attempt | None:
        """The attempt that counts (the last ended one), if any."""
        ended = [a for a in self.of(episode) if a.state == "ended"]
        return ended[-1] if ended else None

    @property
    def done_count(self) -> int:
        return sum(self.finished(e.episode) is not None for e in self.plan.episodes)

    def next_episode(self) -> PlannedEpisode | None:
        for episode in self.plan.episodes:
            if self.finished(episode.episode) is None:
                return episode
        return None

    def pending_end(self) -> Attempt | None:
        """A judged attempt whose end the policy node never acknowledged (see the module doc)."""
        last = self.attempts[-1] if self.attempts else None
        return last if last is not None and last.state == "judged" else None

    # ------------------------------------------------------------------ changes (each saved)
    def begin(self, episode: PlannedEpisode) -> EpisodeSpec:
        """A new attempt at `episode`; a rerun of its last unfinished attempt, if it has one."""
        if self.finished(episode.episode) is not None:
            raise ValueError(f"episode {episode.episode} is finished: it is never run twice")
        earlier = self.of(episode.episode)
        rerun_of = earlier[-1].attempt if earlier else None
        attempt = Attempt(episode.episode, len(earlier) + 1, rerun_of=rerun_of, started_at=_now())
        self.attempts.append(attempt)
        self.save()
        return EpisodeSpec(episode.episode, episode.task, episode.object, episode.object_split,
                           attempt.attempt, rerun_of, self.plan.plan_hash)  # fmt: skip

    def judge(self, verdict: str) -> Attempt:
        return self._update("started", state="judged", verdict=verdict)

    def end(self, note: str) -> Attempt:
        return self._update("judged", state="ended", note=note, ended_at=_now())

    def abandon(self) -> None:
        """The open attempt could not be ended: it stays unfinished (the episode runs again)."""
        if self.attempts and self.attempts[-1].state == "judged":
            self.attempts[-1] = replace(self.attempts[-1], state="started", verdict=None)
            self.save()

    def withdraw(self) -> None:
        """The attempt just begun never started (its start request failed before the marker)."""
        if self.attempts and self.attempts[-1].state == "started":
            self.attempts.pop()
            self.save()

    def _update(self, expected: str, **changes) -> Attempt:
        if not self.attempts or self.attempts[-1].state != expected:
            raise ValueError(f"no {expected} attempt to update")
        self.attempts[-1] = replace(self.attempts[-1], **changes)
        self.save()
        return self.attempts[-1]
