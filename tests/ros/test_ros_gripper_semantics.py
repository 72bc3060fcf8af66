"""The arm controller's GripperCommand client as franka_gripper needs it (issue 20, item 6): no
goal while one is running (franka_gripper never preempts; the latest goal follows once it ends),
and a closing goal that ends ABORTED (a grasp outside franka_gripper's epsilon: an object is
held) is not sent again, while an opening one that fails is.

control_msgs is not on PyPI: the client is a stand-in, the callbacks are the node's own."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import pytest


@pytest.fixture
def node(monkeypatch):
    import policy_node.gripper_client as module

    monkeypatch.setattr(module, "gripper_command_msg", lambda _factory, position, effort: (position, effort))
    sent = []
    client = module.GripperClient.__new__(module.GripperClient)
    client._client = SimpleNamespace(
        server_is_ready=lambda: True,
        send_goal_async=lambda goal: sent.append(goal) or SimpleNamespace(add_done_callback=lambda cb: None),
    )
    client._node = SimpleNamespace(get_logger=lambda: mock.Mock())
    client._action = SimpleNamespace(GripperCommand=SimpleNamespace(Goal=SimpleNamespace))
    client._core, client._factory = mock.Mock(), None
    client._gripper = SimpleNamespace(open_position_m=0.04, closed_position_m=0.0, max_effort_n=20.0)
    client._in_flight, client._closing, client._last_goal_m = False, False, None
    client.sent = sent
    return client


class _Future:
    def __init__(self, result):
        self._result = result

    def exception(self):
        return None

    def result(self):
        return self._result


def _finish(node, status) -> None:
    node._on_result(_Future(SimpleNamespace(status=status)))


def test_no_goal_is_sent_while_one_runs_and_the_latest_follows(node):
    from action_msgs.msg import GoalStatus

    node.send(0.04)
    node.send(0.0)  # during the open: not sent, forgotten so the next command sends it
    assert len(node.sent) == 1 and node._core.forget_gripper_goal.call_count == 1
    _finish(node, GoalStatus.STATUS_SUCCEEDED)
    node.send(0.0)
    assert [goal.command for goal in node.sent] == [(0.04, 20.0), (0.0, 20.0)]


def test_an_aborted_grasp_holds_an_object_and_is_not_resent(node):
    from action_msgs.msg import GoalStatus

    node.send(0.04)
    _finish(node, GoalStatus.STATUS_SUCCEEDED)
    node.send(0.0)  # closing: a grasp on franka_gripper
    _finish(node, GoalStatus.STATUS_ABORTED)
    assert node._core.forget_gripper_goal.call_count == 0
    node.send(0.04)  # opening: a move; failing means the hand did not open
    _finish(node, GoalStatus.STATUS_ABORTED)
    assert node._core.forget_gripper_goal.call_count == 1
