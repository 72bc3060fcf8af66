"""`mtdagger trial rehearse PLAN --bag DIR`: the graph a console-driven trial runs against, without
hardware: the rehearsal graph (mtdagger/rehearsal/graph.py: the real nodes in real.launch.py's
configuration over real rclpy, the FR3 cell playing the arm, a recorder writing the bag) with the
dead-man on, and the cell following the PLAN instead of its own schedule.

The cell (`PlanCell`) plays the plan's episodes in order, each on the plan's cabinet, and only
while the console has it running: it waits, scene reset, until the policy node's start marker of
that plan episode (sent when the operator confirms), and ends it as a real drawer would (success
at the first successful step, else after `max_episode_steps`). Its own verdict goes to
`topics.TRIAL_JUDGE_TOPIC`, not to the episode topic, so the bag's markers are the console's and
its verdicts the operator's; a scripted operator (tests/ros/test_ros_trial_rehearsal.py) reads the
judge to decide. Seams beyond the rehearsal's own: the cell's core and its episode publisher are
replaced after the node is built (FR3CellNode takes no schedule of objects).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from mtdagger.messages import topics
from mtdagger.trial.plan import TrialPlan
from sim_bridge.fr3.cell import FR3CellCore
from sim_bridge.fr3.config import OBJECT_SPLIT

SEED_BASE = 10_000  # plan episode i runs with seed SEED_BASE + i (placement, start pose)


class PlanCell(FR3CellCore):
    """FR3CellCore over the plan's episodes, each gated on the console's start (see module doc)."""

    def __init__(self, config, plan: TrialPlan, make_backend=None) -> None:
        ids = {o.name: o.fr3_id for o in plan.objects}
        missing = sorted(name for name, fr3_id in ids.items() if fr3_id is None)
        if missing:
            raise ValueError(f"objects: {missing} are not FR3 cabinets: only an FR3 plan can be rehearsed")
        super().__init__(replace(config, tasks=plan.tasks), make_backend)
        self.plan_episodes = plan.episodes
        self._ids = ids
        self._schedule = [(e.object_split, e.task, SEED_BASE + e.episode) for e in plan.episodes]
        self.started: set[int] = set()  # plan episodes the console started (possibly before the cell)
        self.current: int | None = None

    def console_started(self, episode: int) -> bool:
        """The policy node marked the start of plan `episode`: the cell runs it when it is (or
        becomes) the cell's current one; False for an episode the cell has already passed."""
        self.started.add(episode)
        return self.current is None or episode >= self.current

    def _start_episode(self, markers):
        """The parent's episode start, on the plan's cabinet, seed and task (FR3CellCore draws the
        cabinet from the split by seed; the backend takes an explicit one)."""
        from mtdagger.recording.layout import EpisodeInfo

        planned = self.plan_episodes[self._index]
        split, task, seed = self._schedule[self._index]
        if split != self._split:
            if self.backend is not None:
                self.backend.close()  # one renderer at a time
            self.backend, self._split = self._make_backend(split), split
            self.period_s = self.backend.action_convention.control_period_s
        observation = self.backend.reset(task, seed, object_id=self._ids[planned.object])
        if observation[OBJECT_SPLIT] != planned.object_split:
            raise ValueError(
                f"{planned.object} is {observation[OBJECT_SPLIT]} in the suite, "
                f"{planned.object_split} in the plan"
            )
        self._episode = EpisodeInfo(index=planned.episode, task=task, object=planned.object, seed=seed,
                                    object_split=planned.object_split)  # fmt: skip
        self._index += 1
        self._steps, self._success, self._holds = 0, False, 0  # as FR3CellCore._start_episode
        self.current = planned.episode
        return self._make_frame(markers=(*markers, self._episode.start_marker()))

    def ready_to_step(self, wall_now_s: float) -> bool:
        return self.current in self.started and super().ready_to_step(wall_now_s)


def _listen(probe, cell: PlanCell, ended: set[int], log) -> None:
    """The policy node's trial markers: a start opens the cell's gate, an end is counted."""
    from std_msgs.msg import String

    def on_marker(msg) -> None:
        try:
            marker = json.loads(msg.data)
        except (TypeError, ValueError):
            return
        if not isinstance(marker, dict) or "trial_episode" not in marker:
            return
        episode = int(marker["trial_episode"])
        if marker.get("event") == "start" and not cell.console_started(episode):
            log(f"console started plan episode {episode} but the cell is past it (at {cell.current})")
        elif marker.get("event") == "end":
            ended.add(episode)
            log(
                f"plan episode {episode}: operator verdict {marker.get('verdict')} "
                f"{marker.get('notes') or ''}"
            )

    probe.create_subscription(String, topics.EPISODE_TOPIC, on_marker, 10)


def _spin(executor, plan_cell: PlanCell, ended: set[int], deadline: float, log, stop) -> None:
    """Until the console has ended every plan episode (or `stop`, or `deadline`), logging the
    judge's verdicts; then one more second, for the last markers to reach the recorder."""
    import rclpy

    reported, everything = 0, {e.episode for e in plan_cell.plan_episodes}
    while time.monotonic() < deadline and rclpy.ok() and not (stop is not None and stop.is_set()):
        executor.spin_once(timeout_sec=0.01)
        for end in plan_cell.results[reported:]:
            outcome = "success" if end["success"] else "failure"
            log(f"judge: plan episode {end['episode']} {end['object']} ({end['object_split']}) "
                f"{end['task']}: {outcome} in {end['num_steps']} steps")  # fmt: skip
        reported = len(plan_cell.results)
        if ended >= everything:
            break
    drain = time.monotonic() + 1.0
    while time.monotonic() < drain:
        executor.spin_once(timeout_sec=0.01)


def _parameters(plan: TrialPlan, bag, params_dir: Path, deadman_timeout_s: float, max_episode_steps: int):
    """(rehearsal settings, node parameters) of the launch for this plan, the dead-man on; the
    parameter file written into `params_dir`."""
    from mtdagger.rehearsal.graph import RehearsalSettings, parameter_file, rehearsal_parameters

    settings = RehearsalSettings(
        checkpoint=plan.checkpoint, bag=str(bag), tasks=plan.tasks, max_episode_steps=max_episode_steps,
        overrides={"arm_controller": {"deadman_timeout_s": float(deadman_timeout_s)}},
    )  # fmt: skip
    params_dir.mkdir(parents=True, exist_ok=True)
    blocks = rehearsal_parameters(settings)
    (params_dir / "trial_rehearsal_parameters.yaml").write_text(parameter_file(blocks))
    return settings, blocks


def run_trial_rehearsal(plan: TrialPlan, bag: str | Path, params_dir: Path, *, deadman_timeout_s: float = 0.5,
                        max_episode_steps: int = 120, timeout_s: float = 3600.0, log=print,
                        stop: threading.Event | None = None) -> dict[str, Any]:  # fmt: skip
    """Run the graph until the console has ended every plan episode (or `stop`, or the timeout);
    returns {"judge": the cell's end markers, "ended": plan episodes the console ended}."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import String

    from calibration.extrinsics import load_extrinsics
    from mtdagger.rehearsal.bag_recorder import BagRecorder
    from mtdagger.rehearsal.graph import (
        CELL,
        RECORDER,
        _real_nodes,
        ensure_policy_node_importable,
    )  # fmt: skip

    ensure_policy_node_importable()
    from sim_bridge.ros.fr3_cell_node import FR3CellNode

    settings, blocks = _parameters(plan, bag, params_dir, deadman_timeout_s, max_episode_steps)
    extrinsics = load_extrinsics(settings.calibration_file)
    rclpy.init(args=["--ros-args", "--params-file", str(params_dir / "trial_rehearsal_parameters.yaml")])
    nodes: list[Any] = []
    cell = recorder = executor = None
    ended: set[int] = set()
    try:
        cell = FR3CellNode(rclpy.create_node)
        plan_cell = PlanCell(cell.core.config, plan)
        cell.core = cell._loop.core = plan_cell  # the seam: the plan's schedule, gated on the console
        cell._episode_pub = cell.node.create_publisher(String, topics.TRIAL_JUDGE_TOPIC, 10)
        probe = rclpy.create_node(RECORDER)
        recorder = BagRecorder(probe, settings.bag)
        recorder.write_static_transform(
            extrinsics.T_base_camera, extrinsics.base_frame, extrinsics.camera_frame
        )
        _listen(probe, plan_cell, ended, log)
        nodes = [probe, *_real_nodes(with_ee_state=not blocks[CELL].get("publish_ee_state")), cell.node]
        executor = SingleThreadedExecutor()
        for node in nodes:
            executor.add_node(node)
        log(
            f"trial rehearsal of plan {plan.plan_hash}: {len(plan.episodes)} episodes; "
            "waiting for the console"
        )
        _spin(executor, plan_cell, ended, time.monotonic() + timeout_s, log, stop)
        return {"judge": list(plan_cell.results), "ended": sorted(ended)}
    finally:
        if recorder is not None:
            recorder.close()
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)  # before its nodes and context go
        for node in nodes:
            node.destroy_node()
        if cell is not None:
            cell.close()
        rclpy.try_shutdown()
