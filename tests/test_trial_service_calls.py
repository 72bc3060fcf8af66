"""The console's service calls survive a lost answer, and never repeat a non-idempotent request.

On a loaded machine Fast DDS can drop a service's first answer (the server has not yet matched the
client's response reader although `wait_for_service` succeeded): the rehearsed trial then stalled
120 s on `episode_spec`. Idempotent requests (parameters, arm reset/stop) are re-sent; the episode
start/end are sent once, since a repeated start would mark a second episode.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mtdagger.trial import ros_client
from mtdagger.trial.ros_client import RosTrialGraph
from mtdagger.trial.session import GraphError


class _Future:
    """rclpy's Future as far as the console uses it: a callback added to a done future runs now."""

    def __init__(self) -> None:
        self._result, self._callbacks = None, []

    def add_done_callback(self, callback) -> None:
        if self._result is not None:
            callback(self)
        else:
            self._callbacks.append(callback)

    def set_result(self, result) -> None:
        self._result = result
        for callback in self._callbacks:
            callback(self)

    def result(self):
        return self._result


class _LossyClient:
    """Answers only from the `answer_from`-th request on, like a server still matching."""

    srv_name = "/policy/set_parameters"

    def __init__(self, answer_from: int) -> None:
        self.answer_from, self.sent, self.removed = answer_from, 0, 0

    def wait_for_service(self, timeout_sec: float) -> bool:
        return True

    def call_async(self, request) -> _Future:
        self.sent += 1
        future = _Future()
        if self.sent >= self.answer_from:
            future.set_result(SimpleNamespace(success=True, request=request))
        return future

    def remove_pending_request(self, future) -> None:
        self.removed += 1


@pytest.fixture
def graph(monkeypatch):
    monkeypatch.setattr(ros_client, "RESEND_S", 0.05)
    return SimpleNamespace(timeout_s=1.0)


def test_an_idempotent_request_is_resent_until_answered(graph):
    client = _LossyClient(answer_from=3)
    response = RosTrialGraph._call(graph, client, "request", "policy parameter episode_spec", idempotent=True)
    assert response.success and client.sent == 3 and client.removed == 2


def test_a_non_idempotent_request_is_sent_once_then_fails_naming_the_call(graph):
    client = _LossyClient(answer_from=2)
    with pytest.raises(GraphError, match=r"policy ~/start_episode: no answer within 1 s"):
        RosTrialGraph._call(graph, client, "request", "policy ~/start_episode")
    assert client.sent == 1


def test_an_idempotent_request_never_answered_fails_at_the_timeout(graph):
    client = _LossyClient(answer_from=10**6)
    with pytest.raises(GraphError, match="no answer within 1 s"):
        RosTrialGraph._call(graph, client, "request", "arm_controller ~/reset", idempotent=True)
    # re-sent, and never faster than every 0.05 s: at most 1 s / 0.05 s + the first (no timing floor)
    assert 2 <= client.sent <= 21
