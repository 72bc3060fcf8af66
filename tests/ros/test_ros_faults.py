"""Faults over real rclpy: the arm controller holds within two control periods when its inputs
stop or turn bad, sends nothing after the hold, and resumes when they come back.

The cell runs on a simulated clock stepped by the test (cell_driver.py), with watchdog ages of
1.5 control periods (robot config copy): a missing action or observation is late at the second
tick after the last good step, so "a hold within two control periods" is exact, not a timing race.
"""

from __future__ import annotations

import numpy as np
import pytest
from cell_driver import PERIOD_NS, PERIOD_S, CellDriver
from graph_harness import stamp_ns

TASKS = ("reach-v3", "drawer-close-v3")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from tiny_checkpoint import save_tiny_checkpoint

    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", tasks=TASKS, num_points=64)


@pytest.fixture
def cell(tmp_path, checkpoint):
    driver = CellDriver(tmp_path, checkpoint, TASKS, max_age_s=1.5 * PERIOD_S)
    yield driver
    driver.close()


def _commands_after(cell, stamp: int):
    """(twist stamp, safety verdict) of every command sent for times after `stamp`."""
    pairs = list(zip(cell.twists(), cell.verdicts()))
    return [(stamp_ns(t), v) for t, v in pairs if stamp_ns(t) > stamp]


def _run_fault(cell, fault_steps: int, fault=None, **step_options) -> tuple[int, list]:
    for _ in range(3):
        last_good = cell.step()
    assert all(v["status"] in ("ok", "clipped") for v in cell.verdicts()), cell.verdicts()
    if fault is not None:
        fault()
    for _ in range(fault_steps):
        cell.step(expect_answer=False, **step_options)
    return last_good, _commands_after(cell, last_good)


def _assert_one_hold_within_two_periods(last_good: int, after: list) -> None:
    assert len(after) == 1, f"expected exactly one hold after the fault, got {after}"
    stamp, verdict = after[0]
    assert verdict["status"] == "held", verdict
    assert any(r.startswith("stale") for r in verdict["reasons"]), verdict
    assert stamp - last_good <= 2 * PERIOD_NS, f"hold {(stamp - last_good) / PERIOD_NS} periods late"


def test_policy_stop_holds_within_two_periods_then_nothing_and_a_restart_resumes(cell):
    last_good, after = _run_fault(cell, fault_steps=8, fault=cell.stop_policy)
    _assert_one_hold_within_two_periods(last_good, after)
    held_twist = next(t for t in cell.twists() if stamp_ns(t) == after[0][0])
    assert (held_twist.twist.linear.x, held_twist.twist.linear.y, held_twist.twist.linear.z) == (0, 0, 0)
    cell.start_policy()
    resumed = cell.step()
    assert _commands_after(cell, resumed - 1)[0][1]["status"] in ("ok", "clipped")


def test_camera_stop_holds_and_the_camera_coming_back_resumes(cell):
    last_good, after = _run_fault(cell, fault_steps=8, camera="off")
    _assert_one_hold_within_two_periods(last_good, after)
    resumed = cell.step()
    assert _commands_after(cell, resumed - 1)[0][1]["status"] in ("ok", "clipped")


def test_an_empty_cloud_holds(cell):
    """All depth invalid: the preprocessing makes no cloud, the policy no action: a hold."""
    last_good, after = _run_fault(cell, fault_steps=8, camera="empty")
    _assert_one_hold_within_two_periods(last_good, after)


def test_a_nan_cloud_never_becomes_a_command_and_holds(cell):
    for _ in range(3):
        last_good = cell.step()
    actions_before = len(cell.recorder.messages["/mtdagger/action/command"])
    for _ in range(8):
        cell.step(camera="off", expect_answer=False)
        cell.publish_cloud(np.full((64, 3), np.nan, dtype=np.float32))
        cell.settle(0.05)
    assert len(cell.recorder.messages["/mtdagger/action/command"]) == actions_before
    _assert_one_hold_within_two_periods(last_good, _commands_after(cell, last_good))


def test_an_unknown_task_is_rejected_through_the_parameter_service_with_the_valid_list(cell):
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    client = AsyncParameterClient(cell.probe, "policy")
    assert cell.spin(lambda: client.services_are_ready())
    future = client.set_parameters([Parameter("task", value="push-v3")])
    assert cell.spin(future.done)
    result = future.result().results[0]
    assert not result.successful
    assert "unknown task 'push-v3'" in result.reason and "reach-v3, drawer-close-v3" in result.reason
    future = client.set_parameters([Parameter("task", value="drawer-close-v3")])
    assert cell.spin(future.done) and future.result().results[0].successful
    assert cell.policy._stage.task == "drawer-close-v3"
