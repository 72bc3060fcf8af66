"""The Franka Hand as franka_gripper serves it, for the FR3 cell and backend (issue 20, item 6).

What franka_ros2's `franka_gripper_node` does with a `control_msgs/GripperCommand` goal on
`gripper_action` (franka_gripper/src/gripper_action_server.cpp, read for this module):
- target width = 2 x `command.position` (the position is per finger);
- a target at or above the current width is `gripper->move(width, default_speed)`: the fingers
  travel to the width at `default_speed` (0.1 m/s of width in franka_gripper_node.yaml);
- a target below it is `gripper->grasp(width, default_speed, command.max_effort, epsilon 0.005,
  0.005)`: the fingers close at the same speed and squeeze with `max_effort` newtons; the goal
  succeeds only when the final width is within epsilon of the target (holding an object wider
  than that ends ABORTED, with the object still held);
- every goal is accepted and executed in its own thread: nothing preempts a running motion, so a
  client must not send the next goal before the previous one has finished (the arm controller
  waits; here a goal arriving during a motion waits for it, as that client's would).

Emulated on the MuJoCo finger position servos: the setpoint moves at half the width speed per
finger, and a grasp caps the servo force at `max_effort` (a move at the hand's 70 N continuous
force, the model's limit). Not verified against a real Franka Hand: the closing profile (libfranka
accelerates and detects contact itself) and the force build-up are approximations.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SPEED_M_S = 0.1  # franka_gripper_node.yaml default_speed: of the width, both fingers
HAND_FORCE_N = 70.0  # the Franka Hand's continuous grasping force (the finger servos' range)
_DONE_M = 1e-9


@dataclass
class FrankaHand:
    max_effort_n: float
    max_opening_m: float  # per finger
    speed_m_s: float = DEFAULT_SPEED_M_S
    setpoint_m: float = 0.0  # per finger, what the servos are driven to now
    goal_m: float = 0.0
    force_n: float = HAND_FORCE_N
    pending_m: float | None = None  # a goal sent during a motion: starts when it ends

    def reset(self, opening_m: float) -> None:
        self.setpoint_m = self.goal_m = float(opening_m)
        self.force_n, self.pending_m = HAND_FORCE_N, None

    @property
    def busy(self) -> bool:
        return abs(self.setpoint_m - self.goal_m) > _DONE_M

    def command(self, position_m: float, opening_m: float) -> None:
        """A GripperCommand goal (per-finger position, m) with the fingers now at `opening_m`."""
        position = min(max(float(position_m), 0.0), self.max_opening_m)
        if abs(position - self.goal_m) <= _DONE_M:
            self.pending_m = None  # the goal in force again (a topic repeats it): nothing new
            return
        if self.busy:
            self.pending_m = position  # not preempted: the latest goal waits for this motion
            return
        self._start(position, opening_m)

    def advance(self, dt_s: float, opening_m: float) -> float:
        """The finger servo setpoint after `dt_s` (m per finger); starts a waiting goal."""
        step = self.speed_m_s / 2.0 * float(dt_s)
        self.setpoint_m += min(max(self.goal_m - self.setpoint_m, -step), step)
        if not self.busy and self.pending_m is not None:
            pending, self.pending_m = self.pending_m, None
            self._start(pending, opening_m)
        return self.setpoint_m

    def _start(self, position: float, opening_m: float) -> None:
        # move when opening (or staying), grasp when closing: franka_gripper's choice by width.
        closing = position < float(opening_m) - _DONE_M
        self.force_n = min(self.max_effort_n, HAND_FORCE_N) if closing else HAND_FORCE_N
        self.setpoint_m = min(max(float(opening_m), 0.0), self.max_opening_m)
        self.goal_m = position
