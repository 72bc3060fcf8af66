"""What the report checks before it pools bags, and what it says about each failure.

- `check_distinct`: the same recording given twice (`report bag bag`, a folder and a bag inside
  it, or a copy of a bag) would count every episode twice; refused, naming both paths.
- `pooling_warnings`: bags of different checkpoints, calibrations, robots or run conditions
  (noise, camera randomisation, calibration error, ...) pooled into one success rate; allowed (a
  comparison report is legitimate) but said, with what differs between which bags.
- `failure_reason`: one line per failed episode for the notes column: the recorder's own note
  (e.g. "timeout: ..."), the steps run, the holds and their reasons, the last distance to the goal.
- `unmeasured_latency`: latency series that are exactly 0 ms at every step, i.e. recorded on a
  simulated clock that stands still while the graph computes (the lockstep rehearsal): left out
  of the plot and explained, instead of an empty plot.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtdagger.recording.bag_reader import EpisodeSummary, EvaluationBag

# The metadata that says what a trial was run with; a pooled report should not mix them silently.
_IDENTITY_FIELDS = ("checkpoint_id", "calibration_id", "robot", "control_period_s")
# Config keys that are run conditions (not the task list, which a report splits by anyway).
_CONDITION_KEYS = (
    "sim", "noise", "randomize", "calibration_error", "camera_config", "robot_config",
    "point_cloud_contract", "safety_limits",
)  # fmt: skip


class DuplicateBagError(ValueError):
    """One recording given twice; the message names both paths."""


def _recording_key(bag: EvaluationBag) -> str:
    """What identifies a recording wherever its folder is: the bytes of its .mcap files (a copy
    has the same; two recordings never do: their stamps and metadata differ)."""
    digest = hashlib.sha256()
    for mcap in sorted(Path(bag.path).glob("*.mcap")):
        with mcap.open("rb") as handle:
            for block in iter(lambda handle=handle: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def check_distinct(bags: Sequence[EvaluationBag]) -> None:
    """DuplicateBagError if two of `bags` are the same recording (same path, or a copy)."""
    seen: dict[str, EvaluationBag] = {}
    for bag in bags:
        key = _recording_key(bag)
        first = seen.get(key)
        if first is not None:
            how = "given twice" if first.path.resolve() == bag.path.resolve() else "a copy of"
            raise DuplicateBagError(
                f"bag {str(bag.path)!r} is {how} {str(first.path)!r}: its episodes would be counted "
                "twice; give each bag once"
            )
        seen[key] = bag


def pooling_warnings(bags: Sequence[EvaluationBag]) -> list[str]:
    """One line per metadata field or run condition that differs between the pooled bags."""
    described = [bag for bag in bags if bag.metadata is not None]
    if len(described) < 2:
        return []
    warnings = []
    for name in _IDENTITY_FIELDS:
        warnings += _differs(name, {bag.path.name: getattr(bag.metadata, name) for bag in described})
    for key in _CONDITION_KEYS:
        values = {bag.path.name: bag.metadata.config.get(key) for bag in described}
        warnings += _differs(f"condition {key}", values)
    return warnings


def _differs(what: str, by_bag: dict[str, Any]) -> list[str]:
    groups: dict[str, list[str]] = {}
    for name, value in by_bag.items():
        groups.setdefault(json.dumps(value, sort_keys=True, default=str), []).append(name)
    if len(groups) < 2:
        return []
    parts = [f"{value} ({', '.join(names)})" for value, names in groups.items()]
    return [f"pooled bags differ in {what}: {'; '.join(parts)}; the success rates mix them"]


def failure_reason(episode: EpisodeSummary) -> str:
    """Why a failed episode failed, as far as the bag says; '' for other episodes."""
    if episode.success is not False:
        return episode.notes
    parts = [episode.notes] if episode.notes else []
    if "timeout" not in episode.notes:
        parts.append(f"no success in {episode.num_steps} steps")
    held = episode.safety_status.get("held", 0) + episode.safety_status.get("stopped", 0)
    if held:
        codes: Counter[str] = Counter()
        for status in ("held", "stopped"):
            for reason, count in episode.safety_reasons_by_status.get(status, {}).items():
                codes[reason.split(":", 1)[0]] += count
        why = ", ".join(f"{code} {count}" for code, count in codes.most_common(3))
        parts.append(f"held {held} step(s)" + (f" ({why})" if why else ""))
    if episode.goal_position is not None and len(episode.ee_positions):
        distance = float(np.linalg.norm(episode.ee_positions[-1] - np.asarray(episode.goal_position)))
        parts.append(f"last distance to goal {distance:.3f} m")
    return "; ".join(parts)


def unmeasured_latency(episodes: Sequence[EpisodeSummary]) -> list[str]:
    """Stages whose every recorded latency is exactly 0 ms (a stopped, simulated clock)."""
    values: dict[str, list[np.ndarray]] = {}
    for episode in episodes:
        for stage, series in episode.latencies_ms.items():
            values.setdefault(stage, []).append(np.asarray(series, dtype=np.float64))
    stopped = []
    for stage, chunks in values.items():
        finite = np.concatenate(chunks)
        finite = finite[np.isfinite(finite)]
        if finite.size and not np.any(finite):
            stopped.append(stage)
    return stopped
