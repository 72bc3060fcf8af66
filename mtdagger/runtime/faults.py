"""Fault injection for the camera stage: what a real RealSense does on a bad day.

Used by tests and by `deploy` experiments to show the loop holds instead of crashing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from mtdagger.perception.frames import DepthFrame


@dataclass(frozen=True)
class CameraFaults:
    nan_frame_prob: float = 0.0  # whole frame NaN (USB hiccup, corrupt buffer)
    drop_frame_prob: float = 0.0  # no frame at all this step
    stall_after_steps: int | None = None  # from this step on, keep returning the same stale frame
    seed: int = 0


class FaultyCamera:
    def __init__(self, source, faults: CameraFaults) -> None:
        self.source = source
        self.faults = faults
        self.rng = np.random.default_rng(faults.seed)
        self.steps = 0
        self._stalled: DepthFrame | None = None

    def read(self) -> DepthFrame | None:
        self.steps += 1
        stall = self.faults.stall_after_steps
        if stall is not None and self.steps > stall:
            if self._stalled is None:
                self._stalled = self.source.read()
            return self._stalled  # the stamp no longer advances: the watchdog must notice
        frame = self.source.read()
        if frame is not None and self.rng.random() < self.faults.drop_frame_prob:
            return None
        if frame is not None and self.rng.random() < self.faults.nan_frame_prob:
            return dataclasses.replace(frame, depth_m=np.full_like(frame.depth_m, np.nan))
        return frame
