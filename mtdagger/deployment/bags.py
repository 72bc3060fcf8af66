"""The evaluation bag a launch records: which topics, where, and the `ros2 bag record` command.

The topics are the evaluation layout (`mtdagger.recording.layout`), so `mtdagger report` reads a
bag recorded by `ros2 bag record` exactly like one written by the in-process runtime.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path

# The per-step success flag a simulator bridge publishes (sim rollouts record it too).
SUCCESS_TOPIC = "/mtdagger/success"


def recorded_topics(include_success: bool = False) -> list[str]:
    """The evaluation-bag topics (mtdagger.recording.layout), so `mtdagger report` reads ROS bags too."""
    from mtdagger.recording import layout

    topics = [spec.name for spec in layout.TOPICS]
    if include_success:
        topics.append(SUCCESS_TOPIC)
    return topics


def bag_output_path(bag_dir: str, *, robot: str, task: str, now: dt.datetime | None = None) -> str:
    """A new bag directory under `bag_dir`: `ros2 bag record -o` refuses an existing one."""
    now = now or dt.datetime.now()
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{robot}_{task}")
    base = Path(bag_dir).expanduser() / f"{label}_{now:%Y%m%d_%H%M%S}"
    candidate, suffix = base, 1
    while candidate.exists():
        candidate = base.with_name(f"{base.name}_{suffix}")
        suffix += 1
    return str(candidate)


def record_command(output: str, topics: Sequence[str], *, use_sim_time: bool = False) -> list[str]:
    """`ros2 bag record` in MCAP (the Jazzy default; Humble needs rosbag2_storage_mcap installed).
    `use_sim_time`: receive times from /clock (`--use-sim-time`, Humble and Jazzy), so a bag of a
    simulated run has receive times that agree with its header stamps and replays by `ros2 bag
    play` into real.launch.py without stale-observation holds (issue 21)."""
    if not topics:
        raise ValueError("nothing to record: the topic list is empty")
    sim_time = ["--use-sim-time"] if use_sim_time else []
    return ["ros2", "bag", "record", "-s", "mcap", "-o", output, *sim_time, *topics]
