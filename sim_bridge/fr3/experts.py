"""Scripted experts of the FR3 drawer suite, from privileged state, speaking the action convention.

Stateless (like MetaWorld's scripted policies): each call reads where the TCP is relative to the
drawer's hook point and picks the phase from that alone, so an expert can take over any state a
student left (DAgger relabels states the expert never produced).

drawer-open: go above the hook point, lower the fingertips into the gap behind the handle (closed
fingers form a hook; a knob is straddled with the fingers half open), pull along the drawer's
outward direction. drawer-close: come down in front of the handle and push it in.

Neither stops when the drawer is done: it keeps pulling (pushing) against the end stop, each step a
bounded displacement from the measured pose. A "done: stand still" label was a third of the data
and hinged on one number (the opening) crossing a threshold; the student learned to stand still
short of the goal (DAgger labels of the first FR3 state run, see the README).
"""

from __future__ import annotations

import numpy as np

PRIVILEGED_DIM = 16
# Privileged layout (fr3_link0 frame): TCP xyz, gripper opening 0..1, hook xyz, drawer opening,
# travel, handle type one-hot (bar, knob, lip), outward direction xyz, hooking gripper command.
# HOOK is public: `expert_check` reports where the handle starts.
_TCP, HOOK, _OPEN, _TRAVEL, _OUT, _GRIP = slice(0, 3), slice(4, 7), 7, 8, slice(12, 15), 15
_ABOVE = 0.08  # approach height above the hook / push point
_ALIGNED = 0.003  # horizontal error (m) at which the funnel reaches the hook / push point
_FUNNEL_WIDTH = 0.025  # the funnel opens to full height this far beyond _ALIGNED
_PUSH_STOP = 0.01  # closest the push brings the TCP to the hook point (m, along the outward direction)
_GAIN = 0.6  # fraction of the remaining error commanded per step (then clipped)


class DrawerExpert:
    def __init__(self, task: str, max_step_m: float) -> None:
        if task not in ("drawer-open", "drawer-close"):
            raise ValueError(f"no expert for task {task!r}")
        self.task = task
        self.max_step_m = float(max_step_m)

    def act(self, privileged: np.ndarray) -> np.ndarray:
        s = np.asarray(privileged, dtype=np.float64)
        if s.shape != (PRIVILEGED_DIM,):
            raise ValueError(f"privileged state must have {PRIVILEGED_DIM} values, got {s.shape}")
        tcp, hook, out = s[_TCP], s[HOOK], s[_OUT]
        if self.task == "drawer-open":
            delta, gripper = self._open(tcp, hook, out), s[_GRIP]
        else:
            delta, gripper = self._close(tcp, hook, out), 1.0
        return np.array([*delta, gripper], dtype=np.float32)

    def _move(self, tcp: np.ndarray, target: np.ndarray) -> np.ndarray:
        return np.clip(_GAIN * (target - tcp), -self.max_step_m, self.max_step_m)

    def _open(self, tcp, hook, out) -> np.ndarray:
        along, lateral, height = _relative(tcp, hook, out)
        if lateral < 0.008 and -0.008 < along < 0.02 and height < 0.012:
            # Hooked: pull outwards, keep the fingertips at the hook's height and in line.
            target = tcp + out * 0.03
            target[2] = hook[2]
            target = target - _lateral_vector(tcp, hook, out)
            return self._move(tcp, target)
        above = hook + np.array([0.0, 0.0, _ABOVE])
        if tcp[2] < hook[2] + _ABOVE - 0.02 and (lateral > 0.02 or abs(along) > 0.02):
            return self._move(tcp, np.array([tcp[0], tcp[1], above[2]]))  # clear the cabinet first
        return self._move(tcp, _funnel(hook, float(np.hypot(along, lateral))))

    def _close(self, tcp, hook, out) -> np.ndarray:
        push_start = hook + out * 0.065
        along, lateral, height = _relative(tcp, hook, out)
        if lateral < 0.01 and 0.0 < along < 0.08 and abs(height) < 0.015:
            # Pushing: into the cabinet, in line with the handle, never out again and never past
            # _PUSH_STOP in front of the hook point. Once the drawer is shut the hand can ride over
            # a knob; pulling back out would then hook it and open the drawer again.
            target = tcp - out * float(np.clip(along - _PUSH_STOP, 0.0, 0.03))
            target[2] = hook[2]
            target = target - _lateral_vector(tcp, hook, out)
            return self._move(tcp, target)
        along_s, lateral_s, _ = _relative(tcp, push_start, out)
        if tcp[2] < hook[2] + _ABOVE - 0.02 and along < 0.03:
            return self._move(tcp, tcp + out * 0.05 + np.array([0.0, 0.0, 0.03]))  # back off and up
        return self._move(tcp, _funnel(push_start, float(np.hypot(along_s, lateral_s))))


def _funnel(point: np.ndarray, horizontal_error: float) -> np.ndarray:
    """Where to head for `point` from a horizontal distance away: straight above it when far, lower
    as the hand lines up, on it when aligned. One continuous target (no approach / descend switch)
    so that the expert's action is a smooth function of the state a student can fit."""
    s = np.clip((horizontal_error - _ALIGNED) / _FUNNEL_WIDTH, 0.0, 1.0)
    return point + np.array([0.0, 0.0, _ABOVE * s * s * (3.0 - 2.0 * s)])


def _relative(tcp: np.ndarray, point: np.ndarray, out: np.ndarray) -> tuple[float, float, float]:
    """(along the outward direction, horizontal distance across it, height) of tcp - point."""
    r = tcp - point
    along = float(r[:2] @ out[:2])
    lateral = float(np.linalg.norm(r[:2] - along * out[:2]))
    return along, lateral, float(r[2])


def _lateral_vector(tcp: np.ndarray, point: np.ndarray, out: np.ndarray) -> np.ndarray:
    r = tcp - point
    across = r.copy()
    across[2] = 0.0
    return across - float(r[:2] @ out[:2]) * np.array([out[0], out[1], 0.0])
