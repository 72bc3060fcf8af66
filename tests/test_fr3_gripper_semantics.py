"""The Franka Hand as franka_gripper serves GripperCommand goals, in the FR3 cell and backend
(issue 20, item 6): a move when opening, a grasp capped at max_effort when closing, at the
default speed, a goal during a motion waiting for it (never preempting)."""

from __future__ import annotations

import numpy as np
import pytest

from mtdagger import keys
from sim_bridge.fr3.gripper import DEFAULT_SPEED_M_S, HAND_FORCE_N, FrankaHand


def test_closing_is_a_grasp_at_max_effort_and_opening_a_move_at_the_hand_force():
    hand = FrankaHand(max_effort_n=20.0, max_opening_m=0.04)
    hand.reset(0.04)
    hand.command(0.0, opening_m=0.04)
    assert hand.force_n == 20.0 and hand.busy
    hand.advance(10.0, opening_m=0.0)
    hand.command(0.04, opening_m=0.0)
    assert hand.force_n == HAND_FORCE_N


def test_fingers_travel_at_the_default_speed_and_a_goal_during_a_motion_waits():
    hand = FrankaHand(max_effort_n=20.0, max_opening_m=0.04)
    hand.reset(0.04)
    hand.command(0.0, opening_m=0.04)
    per_finger = DEFAULT_SPEED_M_S / 2
    assert hand.advance(0.1, opening_m=0.04) == pytest.approx(0.04 - per_finger * 0.1)
    hand.command(0.03, opening_m=0.035)  # not preempted: queued
    assert hand.goal_m == 0.0 and hand.pending_m == 0.03
    for _ in range(200):
        hand.advance(0.01, opening_m=hand.setpoint_m)
    assert hand.goal_m == 0.03 and hand.pending_m is None and hand.force_n == HAND_FORCE_N
    hand.command(0.03, opening_m=0.03)  # the goal in force repeated (a topic): nothing new
    assert not hand.busy


def test_the_fr3_backend_executes_gripper_goals_as_franka_gripper():
    from sim_bridge.registry import make_backend

    backend = make_backend("fr3", render_depth=False)
    try:
        backend.reset("drawer-open", 0)
        result = backend.step(np.array([0.0, 0.0, 0.0, 1.0]))  # close: a grasp at max_effort
        model, _data = backend.physics
        effort = backend.robot.gripper.max_effort_n
        assert model.actuator("fr3_finger_joint1").forcerange[1] == pytest.approx(effort)
        opening = result.observation[keys.STATE][3] * 0.04
        # 0.05 s at 0.05 m/s per finger: 2.5 mm closed, not the whole 40 mm at once.
        assert 0.036 < opening < 0.0395, opening
    finally:
        backend.close()
