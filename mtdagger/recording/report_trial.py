"""The trial part of a report: operator verdicts per object and task, seen vs unseen, sim vs real.

A trial's bags carry, in their episode markers, what the console sent the policy node
(mtdagger.trial.spec): the plan, the plan's episode number, the attempt and the attempt it
re-runs, and on the end marker the operator's verdict (success | failure | abort) and note. Each
plan episode counts once: its last attempt with a verdict (an attempt without one, stopped
mid-episode and re-run by the console, is listed, not scored). An abort is not a success.

`--sim-eval FILE`: the same checkpoint's simulation results on the same objects, as YAML:

    checkpoint_sha256: 2dcc5daa...   # optional: checked against the bags' checkpoint id
    source: "mtdagger eval --sim fr3 --checkpoint ... --objects both --episodes 20"   # optional
    results:                          # one row per split and task, or per object and task
      - {task: drawer-open, split: seen, successes: 20, episodes: 20}
      - {task: drawer-open, object: cabinet-021, successes: 4, episodes: 5}

(`mtdagger eval` prints its tables; the numbers go into this file by hand or by script.) Each
real (object, task) is compared with the object's own sim row, else its split's; it is flagged
when the two disagree both ways: the real rate outside the simulated 95% Wilson interval and
the simulated rate outside the real one (a single success against a simulated 85 % is not a
gap; a failure against a simulated 100 % is).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtdagger.config_validation import ConfigError, build_dataclass
from mtdagger.files import load_yaml
from mtdagger.messages import topics
from mtdagger.recording.bag_files import iter_anyreader, iter_mcap_stream, locate_bag
from mtdagger.recording.bag_reader import EvaluationBag
from mtdagger.stats import wilson_interval


class SimEvalError(ValueError):
    """A --sim-eval file that cannot be used; one line naming the field."""


@dataclass(frozen=True)
class TrialEpisode:
    plan: str
    episode: int
    attempt: int
    rerun_of: int | None
    task: str
    object: str
    split: str
    verdict: str | None  # None: no end marker (not scored)
    note: str
    bag: str


@dataclass(frozen=True)
class Rate:
    successes: int
    episodes: int

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.episodes)

    def text(self) -> str:
        if not self.episodes:
            return "0/0"
        low, high = self.interval
        return (
            f"{self.successes}/{self.episodes} ({self.successes / self.episodes:.0%}) [{low:.2f}, {high:.2f}]"
        )


@dataclass(frozen=True)
class SimRow:
    task: str
    successes: int
    episodes: int
    split: str | None = None
    object: str | None = None

    def __post_init__(self) -> None:
        if (self.split is None) == (self.object is None):
            raise ValueError("give exactly one of split and object")
        if not 0 <= self.successes <= self.episodes or self.episodes < 1:
            raise ValueError(
                f"successes {self.successes} of episodes {self.episodes}: "
                "need 0 <= successes <= episodes and episodes >= 1"
            )


@dataclass(frozen=True)
class SimEval:
    results: tuple[SimRow, ...]
    checkpoint_sha256: str = ""
    source: str = ""


@dataclass
class TrialSummary:
    counted: list[TrialEpisode]
    not_counted: list[TrialEpisode]
    sim: SimEval | None = None
    warnings: list[str] = field(default_factory=list)


def load_sim_eval(path: str | Path) -> SimEval:
    where = f"--sim-eval {path}"
    try:
        data = load_yaml(Path(path).read_text(encoding="utf-8"), where)
    except OSError as error:
        raise SimEvalError(f"{where}: cannot read it ({error.strerror})") from None
    except ValueError as error:
        raise SimEvalError(str(error)) from None
    try:
        if not isinstance(data, dict) or not isinstance(data.get("results"), list) or not data["results"]:
            raise ConfigError(f"{where}: results: a non-empty list of rows is needed")
        rows = tuple(
            build_dataclass(SimRow, r, f"{where}: results[{i}]") for i, r in enumerate(data["results"])
        )
        return build_dataclass(SimEval, {**data, "results": rows}, where)
    except ConfigError as error:
        raise SimEvalError(str(error)) from None


def _markers(bag: EvaluationBag) -> list[dict[str, Any]]:
    """The bag's episode markers in order (a killed bag: as far as it was written)."""
    if bag.complete:
        messages = iter_anyreader(bag.path)
    else:
        messages = iter_mcap_stream(locate_bag(bag.path)[1], [])
    markers = []
    for topic, _stamp, decode in messages:
        if topic == topics.EPISODE_TOPIC:
            try:
                marker = json.loads(decode().data)
            except (TypeError, ValueError):
                continue
            if isinstance(marker, dict) and "trial_episode" in marker:
                markers.append(marker)
    return markers


def check_sim_checkpoint(bags: Sequence[EvaluationBag], sim: SimEval, where: str) -> None:
    """The simulation must be of the bags' checkpoint (its id is a prefix of the weights' sha256)."""
    if not sim.checkpoint_sha256:
        return
    for bag in bags:
        checkpoint = bag.metadata.checkpoint_id if bag.metadata is not None else ""
        if checkpoint and not sim.checkpoint_sha256.startswith(checkpoint):
            raise SimEvalError(
                f"--sim-eval {where}: checkpoint_sha256 {sim.checkpoint_sha256[:12]}... is not the "
                f"checkpoint "
                f"{checkpoint} of bag {bag.path.name}"
            )


def trial_summary(bags: Sequence[EvaluationBag], sim: SimEval | None = None) -> TrialSummary | None:
    """The counted attempt of every plan episode in `bags` (None: no trial markers at all)."""
    attempts: dict[tuple[str, int, int], TrialEpisode] = {}
    for bag in bags:
        for m in _markers(bag):
            key = (str(m.get("plan", "")), int(m["trial_episode"]), int(m.get("attempt") or 1))
            # Only the operator's verdict scores: an end without one (a start superseding an
            # attempt the console lost) leaves the attempt unscored, as if the recording had stopped.
            verdict = m.get("verdict") if m.get("event") == "end" else None
            if key in attempts and attempts[key].verdict is not None and verdict is None:
                continue
            attempts[key] = TrialEpisode(key[0], key[1], key[2], m.get("rerun_of"), str(m.get("task", "")),
                                         str(m.get("object", "")), str(m.get("object_split") or ""),
                                         verdict, str(m.get("notes") or ""), bag.path.name)  # fmt: skip
    if not attempts:
        return None
    by_episode: dict[tuple[str, int], list[TrialEpisode]] = defaultdict(list)
    for attempt in sorted(attempts.values(), key=lambda a: (a.plan, a.episode, a.attempt)):
        by_episode[(attempt.plan, attempt.episode)].append(attempt)
    summary = TrialSummary([], [], sim)
    for (plan, episode), tries in by_episode.items():
        ended = [a for a in tries if a.verdict is not None]
        if len(ended) > 1:
            summary.warnings.append(
                f"plan {plan} episode {episode} has {len(ended)} ended attempts; the last (attempt "
                f"{ended[-1].attempt}) counts"
            )
        if ended:
            summary.counted.append(ended[-1])
        summary.not_counted += [a for a in tries if not ended or a is not ended[-1]]
    return summary


def _rates(episodes: Sequence[TrialEpisode], key) -> dict[Any, Rate]:
    groups: dict[Any, list[TrialEpisode]] = defaultdict(list)
    for e in episodes:
        groups[key(e)].append(e)
    return {k: Rate(sum(e.verdict == "success" for e in v), len(v)) for k, v in groups.items()}


def _sim_rate(sim: SimEval, obj: str, split: str, task: str) -> tuple[Rate | None, str]:
    for rows, basis in (([r for r in sim.results if r.object == obj], "object"),
                        ([r for r in sim.results if r.split == split], split)):  # fmt: skip
        match = [r for r in rows if r.task == task]
        if match:
            return Rate(sum(r.successes for r in match), sum(r.episodes for r in match)), basis
    return None, ""


def sim_vs_real(summary: TrialSummary) -> list[tuple[str, str, str, Rate, Rate | None, str, bool]]:
    """(object, split, task, real, sim, sim basis, outside) per real (object, task)."""
    rows = []
    real = _rates(summary.counted, lambda e: (e.object, e.split, e.task))
    for (obj, split, task), rate in sorted(real.items()):
        sim, basis = _sim_rate(summary.sim, obj, split, task) if summary.sim else (None, "")
        outside = False
        if sim is not None:  # disagreement both ways: one lucky success against 85 % is no gap
            (low, high), (real_low, real_high) = sim.interval, rate.interval
            sim_rate = sim.successes / sim.episodes
            real_outside = not low <= rate.successes / rate.episodes <= high
            outside = real_outside and not real_low <= sim_rate <= real_high
        rows.append((obj, split, task, rate, sim, basis, outside))
    return rows


def trial_section(summary: TrialSummary, cell) -> list[str]:
    """The report's markdown for the trial (`cell` escapes table cells)."""
    counted = summary.counted
    aborts = sum(e.verdict == "abort" for e in counted)
    reruns = sum(e.rerun_of is not None for e in counted)
    lines = ["## Trial: operator verdicts", ""]
    lines += [f"{len(counted)} plan episode(s) scored (plan {', '.join(sorted({e.plan for e in counted}))}), "
              f"{aborts} aborted (scored as not successful), {reruns} scored from a re-run; "
              "95% Wilson intervals.", ""]  # fmt: skip
    lines += ["### Per object and task", "", "| object | split | task | success |", "|---|---|---|---|"]
    for (obj, split, task), rate in sorted(_rates(counted, lambda e: (e.object, e.split, e.task)).items()):
        lines.append(f"| {cell(obj)} | {split} | {cell(task)} | {rate.text()} |")
    lines += ["", "### Seen vs unseen", "", "| split | task | success |", "|---|---|---|"]
    for (split, task), rate in sorted(_rates(counted, lambda e: (e.split, e.task)).items()):
        lines.append(f"| {split} | {cell(task)} | {rate.text()} |")
    for split, rate in sorted(_rates(counted, lambda e: e.split).items()):
        lines.append(f"| {split} | **all tasks** | {rate.text()} |")
    lines += [""]
    if summary.sim is not None:
        lines += _sim_lines(summary, cell)
    if summary.not_counted:
        lines += [
            "### Attempts not scored",
            "",
            "| plan episode | attempt | object | task | why |",
            "|---:|---:|---|---|---|",
        ]
        for a in summary.not_counted:
            why = (
                "no operator verdict (stopped mid-episode; re-run)"
                if a.verdict is None
                else "a later attempt counts"
            )
            lines.append(f"| {a.episode} | {a.attempt} | {cell(a.object)} | {cell(a.task)} | {why} |")
        lines += [""]
    return lines


def _sim_lines(summary: TrialSummary, cell) -> list[str]:
    sim = summary.sim
    lines = ["### Sim vs real", ""]
    if sim.source:
        lines += [f"Simulation: `{cell(sim.source)}`.", ""]
    lines += ["| object | split | task | real | sim (basis) | |", "|---|---|---|---|---|---|"]
    for obj, split, task, real, simrate, basis, outside in sim_vs_real(summary):
        sim_text = "no simulated result" if simrate is None else f"{simrate.text()} ({basis})"
        flag = "**sim and real disagree**" if outside else ""
        lines.append(f"| {cell(obj)} | {split} | {cell(task)} | {real.text()} | {sim_text} | {flag} |")
    return [*lines, ""]
