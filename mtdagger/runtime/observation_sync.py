"""Which proprioception goes with a point cloud: the samples of the cloud's moment, not whatever
arrived last.

The policy node gets the cloud (camera -> preprocessing -> policy) and the proprioception (the EE
pose from the simulator or the `ee_state` node, the gripper joint from /joint_states) on separate
topics, from separate processes on a robot or under `ros2 launch`: their arrival order is not
their time order. Taking the latest sample at the cloud's arrival made the action depend on which
process the scheduler ran first (issue 21: under rehearse.launch.py the policy acted on the EE pose
of an earlier step, which the in-process rehearsal never did). The rule here makes it depend on
the stamps only:

- a cloud is acted on once every input has a sample stamped at or after the cloud's stamp, or has
  delivered a sample after the cloud arrived, whatever its stamp (a robot whose joint-state clock
  lags the camera's must not stall the policy: it waits at most one sample period of each input);
- until then the cloud waits; a newer cloud replaces a waiting one (act on the newest observation);
- an input never received at all: the cloud waits (`missing()` names it, for the node's warning).
In lockstep simulation every sample of a step carries the step's stamp, so each cloud is paired
with exactly its step's pose and gripper, whichever topic came first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Input:
    value: Any = None
    stamp_ns: int | None = None
    arrivals: int = 0  # samples received so far


@dataclass(frozen=True)
class SyncedObservation:
    cloud: Any
    stamp_ns: int
    values: dict[str, Any]  # input name -> the sample paired with the cloud


@dataclass
class _Waiting:
    cloud: Any
    stamp_ns: int
    arrivals: dict[str, int] = field(default_factory=dict)  # each input's count when it arrived


class ObservationSync:
    def __init__(self, inputs: tuple[str, ...]) -> None:
        if not inputs:
            raise ValueError("at least one proprioception input is needed")
        self._inputs = {name: _Input() for name in inputs}
        self._waiting: _Waiting | None = None

    def missing(self) -> list[str]:
        """Inputs never received (a waiting cloud cannot be acted on before they are)."""
        return [name for name, sample in self._inputs.items() if sample.arrivals == 0]

    @property
    def waiting(self) -> bool:
        return self._waiting is not None

    def on_sample(self, name: str, value: Any, stamp_ns: int) -> SyncedObservation | None:
        """A proprioception sample; returns the waiting cloud's observation if it is now complete."""
        sample = self._inputs[name]
        sample.value, sample.stamp_ns = value, int(stamp_ns)
        sample.arrivals += 1
        return self._release()

    def on_cloud(self, cloud: Any, stamp_ns: int) -> SyncedObservation | None:
        """A cloud; returns its observation at once if its proprioception is already here."""
        arrivals = {name: sample.arrivals for name, sample in self._inputs.items()}
        self._waiting = _Waiting(cloud, int(stamp_ns), arrivals)
        return self._release()

    def _release(self) -> SyncedObservation | None:
        waiting = self._waiting
        if waiting is None:
            return None
        for name, sample in self._inputs.items():
            if sample.arrivals == 0:
                return None
            current = sample.stamp_ns >= waiting.stamp_ns
            if not current and sample.arrivals <= waiting.arrivals[name]:
                return None
        self._waiting = None
        values = {name: sample.value for name, sample in self._inputs.items()}
        return SyncedObservation(waiting.cloud, waiting.stamp_ns, values)
