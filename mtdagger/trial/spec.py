"""The console's requests to the policy node: which episode starts, and the operator's verdict.

There is no custom .srv type on PyPI (no rosidl), so a request travels as a JSON string in a
policy node parameter (`episode_spec`, then `~/start_episode`; `episode_verdict`, then
`~/end_episode`). Setting a parameter is a service call that answers before the next one is made,
so the start never races its spec (a latched topic could arrive after the Trigger). Both are
parsed here, strictly: an unknown or missing field, a wrong type or a bad value is refused with
one line naming the field, and the node answers the parameter call with that line.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from mtdagger.config_validation import ConfigError, build_dataclass

SPLITS = ("seen", "unseen")
VERDICTS = ("success", "failure", "abort")


@dataclass(frozen=True)
class EpisodeSpec:
    """One attempt at one episode of a plan. `attempt` counts from 1; `rerun_of` is the attempt it
    replaces (an attempt the console could not finish: crash, kill), so a bag never holds two
    finished attempts of one episode without saying which one counts."""

    episode: int
    task: str
    object: str
    object_split: str
    attempt: int = 1
    rerun_of: int | None = None
    plan: str = ""  # the plan's hash: which plan the episode belongs to

    def __post_init__(self) -> None:
        if self.episode < 0:
            raise ValueError(f"episode must be >= 0, got {self.episode}")
        if not self.task.strip() or not self.object.strip():
            raise ValueError("task and object must not be empty")
        if self.object_split not in SPLITS:
            raise ValueError(f"object_split must be one of {', '.join(SPLITS)}, got {self.object_split!r}")
        if self.attempt < 1:
            raise ValueError(f"attempt must be >= 1, got {self.attempt}")
        if self.rerun_of is not None and not 1 <= self.rerun_of < self.attempt:
            raise ValueError(
                f"rerun_of must name an earlier attempt (1..{self.attempt - 1}), got {self.rerun_of}"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def marker_fields(self) -> dict[str, Any]:
        """What the policy node adds to the episode's markers (the bag's labels)."""
        return {"trial_episode": self.episode, "attempt": self.attempt, "rerun_of": self.rerun_of,
                "plan": self.plan}  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """The operator's verdict on the running episode; `note` is optional free text."""

    verdict: str
    note: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {self.verdict!r}")
        if "\n" in self.note or len(self.note) > 500:
            raise ValueError("note must be one line of at most 500 characters")

    @property
    def success(self) -> bool:
        return self.verdict == "success"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _parse(cls: type, text: str, where: str) -> Any:
    try:
        data = json.loads(text)
    except (TypeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{where}: not a JSON object ({error})") from None
    return build_dataclass(cls, data, where)


def parse_episode_spec(text: str) -> EpisodeSpec:
    """The `episode_spec` parameter's JSON; ConfigError (one line, naming the field) if bad."""
    return _parse(EpisodeSpec, text, "episode_spec")


def parse_verdict(text: str) -> Verdict:
    """The `episode_verdict` parameter's JSON; ConfigError (one line, naming the field) if bad."""
    return _parse(Verdict, text, "episode_verdict")


class EpisodeRequests:
    """The policy node's side of the requests: each validated when its parameter is set, held
    until the `~/start_episode` / `~/end_episode` it belongs to, then consumed (a start without a
    new spec is a plain episode, never a silent repeat of the last trial episode)."""

    PARAMETERS = ("episode_spec", "episode_verdict")

    def __init__(self) -> None:
        self._spec: EpisodeSpec | None = None
        self._verdict: Verdict | None = None
        self.current: EpisodeSpec | None = None  # the running episode's spec

    def offer(self, name: str, text: str, tasks) -> str | None:
        """Validate and hold a request; the one-line reason when it is refused. '' clears it."""
        try:
            if name == "episode_spec":
                spec = parse_episode_spec(text) if text else None
                if spec is not None and spec.task not in tasks:
                    known = ", ".join(tasks)
                    return f"episode_spec.task: unknown task {spec.task!r}; this checkpoint knows: {known}"
                self._spec = spec
            else:
                self._verdict = parse_verdict(text) if text else None
        except ConfigError as error:
            return str(error)
        return None

    def start(self) -> EpisodeSpec | None:
        """The spec of the episode starting now (None: no trial request), consumed."""
        self.current, self._spec, self._verdict = self._spec, None, None
        return self.current

    def marker_fields(self) -> dict[str, Any]:
        return {} if self.current is None else self.current.marker_fields()

    def finish(self, success: bool) -> tuple[bool, str, dict[str, Any]]:
        """(success, notes, extra end-marker fields) of the episode ending now. With a verdict the
        operator's word decides, and it must agree with the end request's success flag."""
        verdict, fields = self._verdict, self.marker_fields()
        self._verdict, self.current = None, None
        if verdict is None:
            return success, "", fields
        if verdict.success != success:
            raise ValueError(
                f"episode_verdict {verdict.verdict!r} disagrees with the end request's success={success}"
            )
        return success, verdict.note, {**fields, "verdict": verdict.verdict}
