"""Evaluation bags -> `report.md` + PNGs: the document a trial is judged by.

Numbers first, pictures second: per-task success with 95% Wilson intervals (split seen/unseen
when the episode markers carry `object_split`), control-loop latency percentiles per stage,
safety events, end-effector trajectories, and the metadata that says which checkpoint and
calibration produced the trial. Episodes without an end marker (killed run) have no success label:
they are listed and counted apart, never scored as failures.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mtdagger.files import atomic_write_text
from mtdagger.recording.bag_reader import EpisodeSummary, EvaluationBag
from mtdagger.recording.report_checks import (
    DuplicateBagError,
    check_distinct,
    failure_reason,
    pooling_warnings,
    unmeasured_latency,
)
from mtdagger.recording.report_plots import (
    control_period_ms,
    plot_latency,
    plot_success,
    plot_trajectories,
    workspace_box,
)
from mtdagger.recording.report_trial import (
    SimEval,
    SimEvalError,
    TrialSummary,
    check_sim_checkpoint,
    trial_section,
    trial_summary,
)
from mtdagger.stats import wilson_interval

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class TaskSuccess:
    task: str
    split: str | None  # None: all objects together
    successes: int
    episodes: int  # episodes with a success label (complete)
    incomplete: int  # episodes without one; not in the rate
    ci_low: float
    ci_high: float

    @property
    def rate(self) -> float:
        return self.successes / self.episodes if self.episodes else float("nan")


@dataclass(frozen=True)
class StageLatency:
    stage: str
    count: int
    p50: float
    p90: float
    p99: float
    mean: float
    max: float


@dataclass(frozen=True)
class Report:
    out_dir: Path
    report_path: Path
    images: list[Path]
    success: list[TaskSuccess]
    success_by_split: list[TaskSuccess]
    latency: list[StageLatency]
    safety_status: dict[str, int]
    safety_reasons: dict[tuple[str, str], int]  # (status, reason) -> steps
    num_episodes: int
    num_incomplete: int
    warnings: list[str] = field(default_factory=list)
    trial: TrialSummary | None = None  # operator verdicts of a trial's bags (report_trial)


# --------------------------------------------------------------------------- numbers


def success_by_task(episodes: Iterable[EpisodeSummary], *, by_split: bool = False) -> list[TaskSuccess]:
    """One row per task (per task and object split with `by_split`), tasks in first-seen order.

    With `by_split`, episodes without an `object_split` label are left out.
    """
    groups: dict[tuple[str, str | None], list[EpisodeSummary]] = defaultdict(list)
    for episode in episodes:
        if by_split and episode.object_split is None:
            continue
        groups[(episode.task, episode.object_split if by_split else None)].append(episode)
    rows = []
    for (task, split), members in groups.items():
        labelled = [e for e in members if e.success is not None]
        successes = sum(bool(e.success) for e in labelled)
        low, high = wilson_interval(successes, len(labelled))
        rows.append(
            TaskSuccess(task, split, successes, len(labelled), len(members) - len(labelled), low, high)
        )
    return rows


def latency_percentiles(episodes: Iterable[EpisodeSummary]) -> list[StageLatency]:
    """p50/p90/p99 per stage over every recorded step (non-finite values, e.g. a stage that did
    not run, are left out)."""
    samples: dict[str, list[np.ndarray]] = defaultdict(list)
    for episode in episodes:
        for stage, values in episode.latencies_ms.items():
            samples[stage].append(np.asarray(values, dtype=np.float64))
    rows = []
    for stage, chunks in samples.items():
        values = np.concatenate(chunks)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        p50, p90, p99 = np.percentile(values, PERCENTILES)
        rows.append(
            StageLatency(stage, int(values.size), p50, p90, p99, float(values.mean()), float(values.max()))
        )
    return rows


def safety_counts(episodes: Iterable[EpisodeSummary]) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """(steps per safety status, steps per (status, reason)), most frequent first.

    Keyed by status and reason so the report says which reasons held the arm and which clipped it.
    """
    status: Counter[str] = Counter()
    reasons: Counter[tuple[str, str]] = Counter()
    for episode in episodes:
        status.update(episode.safety_status)
        for state, counts in episode.safety_reasons_by_status.items():
            reasons.update({(state, reason): n for reason, n in counts.items()})
    return dict(status.most_common()), dict(reasons.most_common())


# --------------------------------------------------------------------------- the report


class ReportError(ValueError):
    """The report cannot be written where asked (the message names --out); nothing was written."""


def write_report(
    bags: Sequence[EvaluationBag], out_dir: str | Path, sim_eval: SimEval | None = None
) -> Report:
    """Write `report.md` and its PNGs into `out_dir` (created) and return what they say; with
    trial markers, the operator verdicts' section (and `sim_eval`'s sim-versus-real table)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {out}: is a file, not a directory; nothing was written")
    try:
        check_distinct(bags)  # one recording twice would count its episodes twice
    except DuplicateBagError as error:
        raise ReportError(f"{error}; nothing was written") from None
    trial = _trial(bags, sim_eval)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"--out {out}: cannot create the report directory ({error.strerror})") from None
    episodes = [episode for bag in bags for episode in bag.episodes]
    success = success_by_task(episodes)
    by_split = success_by_task(episodes, by_split=True)
    stopped_clock = unmeasured_latency(episodes)
    latency = [row for row in latency_percentiles(episodes) if row.stage not in stopped_clock]
    status, reasons = safety_counts(episodes)
    warnings = [w for bag in bags for w in bag.warnings] + pooling_warnings(bags)
    warnings += [
        f"latency stage {stage!r} is 0 ms at every step: recorded on a simulated clock that stands "
        "still while the graph computes (lockstep), so it measures nothing; left out of the table and plot"
        for stage in stopped_clock
    ]

    images: list[Path] = []
    if episodes:
        images.append(plot_success(success, by_split, out / "success.png"))
        images.append(plot_trajectories(episodes, out / "trajectories.png", workspace_box(bags)))
        if latency:
            images.append(plot_latency(latency, out / "latency.png", control_period_ms(bags)))

    report = Report(
        out_dir=out,
        report_path=out / "report.md",
        images=images,
        success=success,
        success_by_split=by_split,
        latency=latency,
        safety_status=status,
        safety_reasons=reasons,
        num_episodes=len(episodes),
        num_incomplete=sum(not e.complete for e in episodes),
        warnings=warnings + (trial.warnings if trial else []),
        trial=trial,
    )
    # Atomic, as the PNGs: a kill leaves the previous report.md whole.
    atomic_write_text(report.report_path, _markdown(bags, episodes, report))
    return report


def _trial(bags: Sequence[EvaluationBag], sim_eval: SimEval | None) -> TrialSummary | None:
    """The trial's operator verdicts (None: no trial markers); refused before anything is written
    when `sim_eval` is of another checkpoint or there is no trial to compare it with."""
    try:
        if sim_eval is not None:
            check_sim_checkpoint(bags, sim_eval, "file")
    except SimEvalError as error:
        raise ReportError(f"{error}; nothing was written") from None
    trial = trial_summary(bags, sim_eval)
    if sim_eval is not None and trial is None:
        raise ReportError("--sim-eval: these bags hold no trial (mtdagger trial run); nothing was written")
    return trial


def _markdown(bags: Sequence[EvaluationBag], episodes: list[EpisodeSummary], report: Report) -> str:
    lines = ["# Evaluation report", ""]
    lines += [
        f"{len(bags)} bag(s), {report.num_episodes} episode(s), {report.num_incomplete} incomplete.",
        "",
    ]
    lines += _metadata_section(bags)
    if not episodes:
        lines += ["## Results", "", "No episodes were recorded in these bags.", ""]
        lines += _warnings_section(report.warnings)
        return "\n".join(lines)
    lines += _success_section(report)
    if report.trial is not None:
        lines += trial_section(report.trial, _cell)
    lines += _latency_section(report)
    lines += _safety_section(report)
    lines += ["## End-effector trajectories", "", "Green: success, red: failure, grey: incomplete.", ""]
    lines += ["![end-effector trajectories](trajectories.png)", ""]
    lines += _episodes_section(bags)
    lines += _warnings_section(report.warnings)
    return "\n".join(lines)


def _success_section(report: Report) -> list[str]:
    """Success per task (and per object split when the markers carry one), how it is scored."""
    lines = ["## Success per task", ""]
    lines += [
        "Success is the end marker's label; 95% Wilson score intervals. Incomplete episodes (no end "
        "marker: the recording stopped mid-episode) are not scored.",
        "",
    ]
    lines += _success_table(report.success, with_split=False)
    if report.success_by_split:
        lines += ["", "### By object split", ""]
        lines += _success_table(report.success_by_split, with_split=True)
    lines += ["", "![success per task](success.png)", ""]
    return lines


def _latency_section(report: Report) -> list[str]:
    """Control-loop latency percentiles per stage (or a note that none were recorded)."""
    lines = ["## Control-loop latency (ms per step)", ""]
    if not report.latency:
        return [*lines, "No latencies were measured (see the reading notes).", ""]
    lines += ["| stage | steps | p50 | p90 | p99 | mean | max |", "|---|---:|---:|---:|---:|---:|---:|"]
    for row in report.latency:
        lines.append(
            f"| {_cell(row.stage)} | {row.count} | {row.p50:.2f} | {row.p90:.2f} | {row.p99:.2f} "
            f"| {row.mean:.2f} | {row.max:.2f} |"
        )
    lines += ["", "![latency](latency.png)", ""]
    return lines


def _safety_section(report: Report) -> list[str]:
    """Steps per safety status, then per (status, reason): which reasons made holds and clips."""
    lines = ["## Safety events", "", "| status | steps |", "|---|---:|"]
    lines += [f"| {_cell(s)} | {n} |" for s, n in report.safety_status.items()]
    lines += ["", "| status | reason | steps |", "|---|---|---:|"]
    reason_rows = [f"| {_cell(s)} | {_cell(r)} | {n} |" for (s, r), n in report.safety_reasons.items()]
    lines += reason_rows or ["| | (none) | 0 |"]
    lines += [""]
    return lines


def _episodes_section(bags: Sequence[EvaluationBag]) -> list[str]:
    """One row per episode of every bag, in bag order: the audit trail behind the rates."""
    lines = [
        "## Episodes",
        "",
        "| bag | # | task | object | split | seed | steps | result | holds | notes |",
    ]
    lines += ["|---|---:|---|---|---|---:|---:|---|---:|---|"]
    for bag in bags:
        for e in bag.episodes:
            result = {True: "success", False: "failure", None: "incomplete"}[e.success]
            lines.append(
                f"| {_cell(bag.path.name)} | {e.index} | {_cell(e.task)} | {_cell(e.object)} "
                f"| {_cell(e.object_split or '')} | {'' if e.seed is None else e.seed} | {e.num_steps} "
                f"| {result} | {e.safety_status.get('held', 0)} | {_cell(failure_reason(e))} |"
            )
    lines += [""]
    return lines


def _success_table(rows: list[TaskSuccess], *, with_split: bool) -> list[str]:
    head = (
        "| task | split | success | rate | 95% CI | incomplete |"
        if with_split
        else ("| task | success | rate | 95% CI | incomplete |")
    )
    align = "|---|---|---:|---:|---|---:|" if with_split else "|---|---:|---:|---|---:|"
    lines = [head, align]
    for row in rows:
        split = f" {_cell(row.split or '')} |" if with_split else ""
        rate = "n/a" if row.episodes == 0 else f"{row.rate:.0%}"
        lines.append(
            f"| {_cell(row.task)} |{split} {row.successes}/{row.episodes} | {rate} "
            f"| [{row.ci_low:.2f}, {row.ci_high:.2f}] | {row.incomplete} |"
        )
    if not with_split and len(rows) > 1:
        successes, trials = sum(r.successes for r in rows), sum(r.episodes for r in rows)
        low, high = wilson_interval(successes, trials)
        rate = "n/a" if trials == 0 else f"{successes / trials:.0%}"
        lines.append(
            f"| **all** | {successes}/{trials} | {rate} | [{low:.2f}, {high:.2f}] "
            f"| {sum(r.incomplete for r in rows)} |"
        )
    return lines


def _metadata_section(bags: Sequence[EvaluationBag]) -> list[str]:
    lines = ["## Bags", ""]
    lines += [
        "| bag | checkpoint | calibration | robot | git commit | created | period (s) | episodes | closed |"
    ]
    lines += ["|---|---|---|---|---|---|---:|---:|---|"]
    for bag in bags:
        m = bag.metadata
        if m is None:
            cells = ["(no metadata)"] + [""] * 5
        else:
            cells = [
                m.checkpoint_id,
                m.calibration_id,
                m.robot,
                m.git_commit[:12],
                m.created_at,
                f"{m.control_period_s:g}",
            ]
        closed = "yes" if bag.complete else "no (recovered)"
        lines.append(
            f"| {_cell(str(bag.path))} | "
            + " | ".join(_cell(c) for c in cells)
            + f" | {len(bag.episodes)} | {closed} |"
        )
    lines.append("")
    for bag in bags:
        if bag.metadata is not None and bag.metadata.config:
            config = json.dumps(bag.metadata.config, indent=2, sort_keys=True, default=str)
            lines += [
                f"<details><summary>config of {bag.path.name}</summary>",
                "",
                "```json",
                config,
                "```",
                "</details>",
                "",
            ]
    return lines


def _warnings_section(warnings: list[str]) -> list[str]:
    if not warnings:
        return []
    return ["## Reading notes", "", *[f"- {w}" for w in warnings], ""]


def _cell(text: str) -> str:
    """A markdown table cell: pipes escaped, newlines flattened."""
    return str(text).replace("|", "\\|").replace("\n", " ")
