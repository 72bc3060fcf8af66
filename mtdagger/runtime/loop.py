"""`DeploymentLoop`: the deployment stages wired in one process at a fixed control rate.

This is how a checkpoint is run "as on the robot" on a machine without ROS 2: the same stage
classes the ROS nodes wrap, the same safety filter, the same evaluation bag. Time is the
simulator's clock (control step k happens at k·period), so the watchdog sees exactly the
observation ages a real graph running at that rate would see; `realtime=True` additionally
sleeps to the period, for a human watching.

Per-stage latencies are measured with perf_counter around each stage call; the control-step
latency (depth in -> command out) is preprocess + policy + safety.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from mtdagger import keys
from mtdagger.control.safety import SafetyFilter
from mtdagger.runtime.stages import CameraSource, PointCloudStage, PolicyStage, SimClock
from sim_bridge.backend import SimBackend

STAGES = ("camera", "preprocess", "policy", "safety", "robot")
CONTROL_STAGES = ("preprocess", "policy", "safety")


@dataclass
class EpisodeOutcome:
    task: str
    seed: int
    success: bool
    steps: int
    status_counts: Counter = field(default_factory=Counter)
    reason_counts: Counter = field(default_factory=Counter)
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    ee_positions: list[np.ndarray] = field(default_factory=list)

    @property
    def control_latency_ms(self) -> np.ndarray:
        parts = [np.asarray(self.latencies_ms[s]) for s in CONTROL_STAGES if self.latencies_ms[s]]
        return np.sum(parts, axis=0) if parts else np.zeros(0)


class DeploymentLoop:
    def __init__(
        self,
        backend: SimBackend,
        camera: CameraSource,
        preprocess: PointCloudStage,
        policy: PolicyStage,
        safety: SafetyFilter,
        *,
        clock: SimClock,
        recorder=None,
        realtime: bool = False,
    ) -> None:
        self.backend = backend
        self.camera = camera
        self.preprocess = preprocess
        self.policy = policy
        self.safety = safety
        self.recorder = recorder
        self.realtime = realtime
        self.clock = clock
        self._episode_start_s = 0.0
        self.period_s = backend.action_convention.control_period_s
        # A backend that runs the arm controller's core itself (the FR3 cell: safety filter, IK,
        # joint limits) gets the policy's action unfiltered; its verdict is the step's record.
        self.backend_filters = bool(getattr(backend, "runs_safety_filter", False))
        self._last_gripper = -1.0

    def run_episode(
        self, task: str, seed: int, *, max_steps: int, episode_index: int = 0, object_label: str | None = None
    ) -> EpisodeOutcome:
        self.policy.set_task(task)
        observation = self.backend.reset(task, seed)
        state = np.asarray(observation[keys.STATE], dtype=np.float32)
        self.safety.reset(state[:3])
        self._last_gripper = -1.0  # every episode starts with the gripper open
        outcome = EpisodeOutcome(task=task, seed=seed, success=False, steps=0)
        self.clock.now_s = self._episode_start_s
        if self.recorder is not None:
            self._record_start(task, seed, observation, episode_index, object_label)
        for step in range(max_steps):
            wall_start = time.perf_counter()
            now_s = self.clock.now_s = self._episode_start_s + (step + 1) * self.period_s
            latencies = {}

            t = time.perf_counter()
            frame = self.camera.read()
            latencies["camera"] = _ms(t)
            t = time.perf_counter()
            cloud = self.preprocess.process(frame)
            latencies["preprocess"] = _ms(t)
            t = time.perf_counter()
            proposal = self.policy.act(cloud.value, state)
            latencies["policy"] = _ms(t)

            # A missing observation or action is handed to the safety filter as stale / non-finite
            # input, so that every hold goes through the one place that decides holds.
            action = proposal.value if proposal.value is not None else np.full(4, np.nan, dtype=np.float32)
            observation_stamp = frame.stamp_s if frame is not None else -np.inf
            result, applied = self._safe_step(action, state, now_s, observation_stamp, latencies)
            reasons = tuple(applied.reasons) + tuple(r for r in (cloud.reason, proposal.reason) if r)

            if self.recorder is not None:
                self._record_step(frame, cloud.value, state, action, applied, reasons, latencies)
            _tally(outcome, applied.status, reasons, latencies, state, bool(result.success))
            outcome.steps = step + 1
            state = np.asarray(result.observation[keys.STATE], dtype=np.float32)
            if self.realtime:
                time.sleep(max(0.0, self.period_s - (time.perf_counter() - wall_start)))
            if result.done:
                break
        limit = "the simulator's time limit" if outcome.steps < max_steps else f"max_steps={max_steps}"
        # Every unsuccessful episode ends on a time limit; the report adds holds and the distance.
        self._finish_episode(outcome.success, "" if outcome.success else f"timeout: {limit}")
        return outcome

    def _safe_step(self, action, state, now_s: float, observation_stamp: float, latencies: dict):
        """One safety pass, then the robot: the loop's filter, or the backend's own (timed as
        'robot') when it filters itself. Returns (step result, the verdict to record)."""
        if self.backend_filters:
            t = time.perf_counter()
            result, applied = self._step_filtering_backend(action)
            latencies["safety"], latencies["robot"] = 0.0, _ms(t)
            return result, applied
        t = time.perf_counter()
        applied = self.safety.filter(
            action,
            ee_position=state[:3],
            now_s=now_s,
            observation_stamp_s=observation_stamp,
            action_stamp_s=now_s,
        )
        latencies["safety"] = _ms(t)
        t = time.perf_counter()
        result = self.backend.step(applied.action)
        latencies["robot"] = _ms(t)
        return result, applied

    def _step_filtering_backend(self, action: np.ndarray):
        """Step a backend that filters itself, and return (result, its verdict). A missing or
        non-finite action becomes a hold (zero displacement, gripper unchanged) before it, recorded
        as held with the reason; every reason of the backend's own pass is kept."""
        from mtdagger.control.safety import STATUS_HELD, AppliedCommand

        action = np.asarray(action, dtype=np.float32).reshape(-1)
        own: tuple[str, ...] = ()
        if action.shape != (4,) or not np.all(np.isfinite(action)):
            own = ("non_finite_action",)
            action = np.array([0.0, 0.0, 0.0, self._last_gripper], dtype=np.float32)
        result = self.backend.step(action)
        info = result.info or {}
        applied_action = info.get("safety_applied")
        applied_action = action if applied_action is None else np.asarray(applied_action, dtype=np.float32)
        self._last_gripper = float(applied_action[3])
        status = STATUS_HELD if own else (info.get("safety_status") or STATUS_HELD)
        reasons = own + tuple(info.get("safety_reasons") or ())
        target = np.asarray(result.observation[keys.STATE][:3], dtype=np.float64)
        return result, AppliedCommand(applied_action, target, status, reasons)

    def _record_start(
        self, task: str, seed: int, observation: dict, episode_index: int, object_label: str | None
    ) -> None:
        """The bag's start marker, with the goal and object positions when the simulator knows
        them (the report draws them on the trajectory plot)."""
        marker = {"episode": episode_index, "task": task, "seed": seed, "object": object_label or task}
        for name, key in (("goal_position", keys.GOAL_POSITION), ("object_position", keys.OBJECT_POSITION)):
            if key in observation:
                marker[name] = [float(v) for v in observation[key]]
        self.recorder.start_episode(self._stamp_ns(), marker)

    def _record_step(self, frame, points, state, action, applied, reasons, latencies) -> None:
        """One step into the bag: what the camera saw, what was proposed and what was applied.
        Called after the robot stage, so its latency is in the record but the write is not timed."""
        self.recorder.write_step(
            self._stamp_ns(),
            depth_m=None if frame is None else frame.depth_m,
            camera=None if frame is None else frame.camera,
            points=points,
            ee_position=state[:3],
            gripper=float(state[3]),
            action=action,
            applied=applied.action,
            safety_status=applied.status,
            safety_reasons=reasons,
            latencies_ms=latencies,
        )

    def _finish_episode(self, success: bool, notes: str = "") -> None:
        """The end marker, one period after the last step; the next episode starts a period later
        on the same clock, so bag stamps stay monotonic across episodes."""
        self.clock.now_s += self.period_s
        if self.recorder is not None:
            self.recorder.end_episode(self._stamp_ns(), success=success, notes=notes)
        self._episode_start_s = self.clock.now_s + self.period_s

    def _stamp_ns(self) -> int:
        return round(self.clock.now_s * 1e9)


def _tally(
    outcome: EpisodeOutcome, status: str, reasons: tuple[str, ...], latencies: dict[str, float],
    state: np.ndarray, success: bool,
) -> None:
    """Add one step to the episode's counts, latencies and trajectory (what the bag would also say)."""
    outcome.status_counts[status] += 1
    # Count reason codes; the bag keeps the full text ("empty_point_cloud: 0 of 19200 ...").
    outcome.reason_counts.update(r.split(":", 1)[0] for r in reasons)
    for stage, value in latencies.items():
        outcome.latencies_ms[stage].append(value)
    outcome.ee_positions.append(state[:3].copy())
    outcome.success |= success


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1e3
