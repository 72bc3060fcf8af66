"""A GripperCommand goal the server rejects, or that does not succeed, is sent again.

control_msgs (GripperCommand) is not on PyPI, so the action client cannot be built here; these
tests drive the arm controller's goal callbacks with the futures rclpy would hand them, and check
that a failed goal makes the core forget it (the next command then sends the goal again).
"""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import pytest


class _Future:
    def __init__(self, result=None, error=None):
        self._result, self._error = result, error

    def exception(self):
        return self._error

    def result(self):
        return self._result


@pytest.fixture
def controller():
    from policy_node.gripper_client import GripperClient

    fake = SimpleNamespace(_core=mock.Mock(), _node=SimpleNamespace(get_logger=lambda: mock.Mock()),
                           _in_flight=True, _closing=False)  # fmt: skip
    fake._on_result = lambda future: GripperClient._on_result(fake, future)
    return GripperClient, fake


@pytest.mark.parametrize("future", [
    _Future(SimpleNamespace(accepted=False)),  # rejected by the server
    _Future(error=RuntimeError("server gone")),  # the request failed
], ids=["rejected", "failed"])  # fmt: skip
def test_a_goal_that_was_not_accepted_is_forgotten_so_the_next_command_sends_it(controller, future):
    node_class, fake = controller
    node_class._on_goal_response(fake, future)
    fake._core.forget_gripper_goal.assert_called_once()


def test_an_accepted_goal_that_fails_is_forgotten_and_one_that_succeeds_is_kept(controller):
    from action_msgs.msg import GoalStatus

    node_class, fake = controller
    results = []
    handle = SimpleNamespace(accepted=True, get_result_async=lambda: SimpleNamespace(
        add_done_callback=lambda callback: results.append(callback)))  # fmt: skip
    node_class._on_goal_response(fake, _Future(handle))
    assert len(results) == 1 and not fake._core.forget_gripper_goal.called
    results[0](_Future(SimpleNamespace(status=GoalStatus.STATUS_SUCCEEDED)))
    assert not fake._core.forget_gripper_goal.called
    results[0](_Future(SimpleNamespace(status=GoalStatus.STATUS_ABORTED)))
    fake._core.forget_gripper_goal.assert_called_once()
