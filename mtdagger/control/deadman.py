"""The dead-man: the arm holds unless a person's console is alive and says so, often enough.

While a trial runs, the operator console publishes a heartbeat; the arm controller feeds each
arrival to `DeadMan.on_heartbeat(now)` and asks `DeadMan.reason(now)` at every command and on a
timer. A heartbeat older than `timeout_s`, or none yet, is a reason to hold (the reason names
which), so a console that crashes, is killed, loses its terminal or its network, or was never
started stops the arm within `timeout_s` plus one check period. Time is a steady clock (wall
seconds, never the simulated /clock): the heartbeat says a process and a person are there, which
is a wall-time fact, and a paused simulation must not keep a dead console alive.

Pure function of the times it is given: no ROS, no clock of its own (the node passes them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

REASON_NEVER = "deadman: no operator console heartbeat yet"
REASON_PREFIX = "deadman: operator console heartbeat missing"


@dataclass(frozen=True)
class DeadManSettings:
    enabled: bool = False
    timeout_s: float = 0.5

    def __post_init__(self) -> None:
        if not (
            isinstance(self.timeout_s, int | float) and math.isfinite(self.timeout_s) and self.timeout_s > 0
        ):
            raise ValueError(
                f"deadman_timeout_s must be a positive number of seconds, got {self.timeout_s!r}"
            )


class DeadMan:
    """Is the console alive? `reason(now)` is None when it is (or the dead-man is off)."""

    def __init__(self, settings: DeadManSettings) -> None:
        self.settings = settings
        self._last_s: float | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def on_heartbeat(self, now_s: float) -> None:
        """A heartbeat arrived at `now_s` (the receiver's steady clock, not the sender's stamp:
        two machines' clocks need not agree, and a stamp could be replayed)."""
        if math.isfinite(now_s) and (self._last_s is None or now_s >= self._last_s):
            self._last_s = float(now_s)

    def reason(self, now_s: float) -> str | None:
        if not self.settings.enabled:
            return None
        if self._last_s is None:
            return REASON_NEVER
        age = now_s - self._last_s
        if not age <= self.settings.timeout_s:  # NaN-safe: a bad clock holds too
            return f"{REASON_PREFIX} for {age:.3f} s (> {self.settings.timeout_s:g} s)"
        return None


class DeadManGuard:
    """The arm controller's side: heartbeats in (any message: its arrival is the signal), a
    latched stop with the dead-man's reason out. `timeout_s` 0 turns it off (simulation)."""

    def __init__(self, timeout_s: float, clock=None) -> None:
        import time

        if not (isinstance(timeout_s, int | float) and math.isfinite(timeout_s) and timeout_s >= 0):
            raise ValueError(f"parameter deadman_timeout_s={timeout_s!r}: seconds >= 0 (0: off)")
        self.deadman = DeadMan(DeadManSettings(enabled=timeout_s > 0, timeout_s=timeout_s or 1.0))
        self._clock = clock or time.monotonic

    @property
    def enabled(self) -> bool:
        return self.deadman.enabled

    def on_message(self, _msg=None) -> None:
        self.deadman.on_heartbeat(self._clock())

    def check(self, core, now_ns: int, send) -> None:
        """Latch `core`'s stop with the dead-man's reason when the heartbeat is missing and the core
        is not already stopped, and `send(hold, now_ns)` its hold command (the node's output).
        A `~/reset` while the console is still missing is undone at the next check."""
        reason = self.deadman.reason(self._clock())
        if reason is None or core.safety.stopped:
            return
        command = core.stop(now_ns / 1e9, reason)
        if command is not None:
            send(command, now_ns)
