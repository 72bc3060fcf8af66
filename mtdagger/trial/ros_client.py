"""The console's rclpy adapter: `TrialGraph` over the services and topics of the real graph.

To the policy node: `episode_spec` / `episode_verdict` (its parameters, through the standard
`rcl_interfaces/SetParameters` service, so a refused request comes back with the node's one-line
reason) and `~/start_episode` (Trigger) / `~/end_episode` (SetBool). To the arm controller:
`~/reset` (arm: clear its stop) and `~/stop` (hold at once). Heard: the policy's actions (steps),
the safety verdicts (holds, clips, reasons) and the latency, for the live status. Sent: the
dead-man's heartbeat, by `beat()`, which the console calls from its UI loop, so a console whose
loop hangs stops the arm as surely as one that dies.

rclpy is imported when the adapter is built: the console's logic and the plan stay ROS-free.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from mtdagger.messages import topics
from mtdagger.trial.session import GraphError, LiveStatus
from mtdagger.trial.spec import EpisodeSpec, Verdict

RESEND_S = 5.0  # an idempotent request unanswered this long is sent again


class RosTrialGraph:
    def __init__(
        self,
        *,
        policy: str = "/policy",
        arm: str = "/arm_controller",
        service_timeout_s: float = 5.0,
        status: Callable[[], LiveStatus] | None = None,
    ) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self._rclpy = rclpy
        self._context = rclpy.Context()
        rclpy.init(context=self._context)
        self.node = rclpy.create_node(f"trial_console_{os.getpid()}", context=self._context)
        self.timeout_s = service_timeout_s
        self.status = status or LiveStatus
        self._seq = itertools.count()
        self._make_clients(policy, arm)
        self._make_topics()
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name="trial_console_ros", daemon=True)
        self._thread.start()

    def _make_clients(self, policy: str, arm: str) -> None:
        from rcl_interfaces.srv import SetParameters
        from std_srvs.srv import SetBool, Trigger

        node = self.node
        self._set_parameters = node.create_client(SetParameters, f"{policy}/set_parameters")
        self._start = node.create_client(Trigger, f"{policy}/start_episode")
        self._end = node.create_client(SetBool, f"{policy}/end_episode")
        self._arm_reset = node.create_client(Trigger, f"{arm}/reset")
        self._arm_stop = node.create_client(Trigger, f"{arm}/stop")

    def _make_topics(self) -> None:
        from geometry_msgs.msg import TwistStamped
        from std_msgs.msg import String

        node = self.node
        self._heartbeat = node.create_publisher(String, topics.TRIAL_HEARTBEAT_TOPIC, 1)
        node.create_subscription(TwistStamped, topics.ACTION_TOPIC, lambda _m: self.status().on_action(), 10)
        node.create_subscription(
            String, topics.SAFETY_TOPIC, lambda m: self._json(m, self.status().on_safety), 10
        )
        node.create_subscription(
            String, topics.LATENCY_TOPIC, lambda m: self._json(m, self.status().on_latency), 10
        )

    @staticmethod
    def _json(msg: Any, sink: Callable[[dict], None]) -> None:
        try:
            data = json.loads(msg.data)
        except (TypeError, ValueError):
            return
        if isinstance(data, dict):
            sink(data)

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception:  # the context was shut down under it: the console is closing
            pass

    # ------------------------------------------------------------------ TrialGraph
    def beat(self) -> None:
        from std_msgs.msg import String

        self._heartbeat.publish(String(data=json.dumps({"console": os.getpid(), "seq": next(self._seq)})))

    def start(self, spec: EpisodeSpec) -> None:
        try:
            self._set_parameter("episode_spec", spec.to_json())
            self._trigger(self._arm_reset, "arm_controller ~/reset", idempotent=True)
        except GraphError as error:  # before the start request: nothing was marked
            raise GraphError(str(error), marked=False) from None
        self._trigger(self._start, "policy ~/start_episode")

    def hold(self) -> None:
        self._trigger(self._arm_stop, "arm_controller ~/stop", idempotent=True)

    def end(self, verdict: Verdict) -> None:
        from std_srvs.srv import SetBool

        self._set_parameter("episode_verdict", verdict.to_json())
        self._answer(self._end, SetBool.Request(data=verdict.success), "policy ~/end_episode")

    # ------------------------------------------------------------------ service calls
    def _trigger(self, client, what: str, *, idempotent: bool = False) -> None:
        from std_srvs.srv import Trigger

        self._answer(client, Trigger.Request(), what, idempotent=idempotent)

    def _answer(self, client, request, what: str, *, idempotent: bool = False) -> None:
        response = self._call(client, request, what, idempotent=idempotent)
        if not response.success:
            raise GraphError(f"{what} refused: {response.message}")

    def _set_parameter(self, name: str, value: str) -> None:
        from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
        from rcl_interfaces.srv import SetParameters

        request = SetParameters.Request()
        request.parameters = [
            Parameter(
                name=name, value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
            )
        ]
        what = f"policy parameter {name}"
        (result,) = self._call(self._set_parameters, request, what, idempotent=True).results
        if not result.successful:
            raise GraphError(f"policy refused {name}: {result.reason}")

    def _call(self, client, request, what: str, *, idempotent: bool = False):
        """One service call. An idempotent request is re-sent every few seconds until the timeout:
        `wait_for_service` sees the server's request reader, but on a loaded machine the server
        may not yet have matched this client's response reader, and Fast DDS then drops the
        answer (seen as a 120 s stall on a loaded 2-core machine). A non-idempotent one (start/end)
        is sent once."""
        if not client.wait_for_service(timeout_sec=self.timeout_s):
            raise GraphError(f"{what}: service {client.srv_name} not available within {self.timeout_s:g} s")
        deadline = time.monotonic() + self.timeout_s
        while True:
            remaining = deadline - time.monotonic()
            attempt_s = min(remaining, RESEND_S) if idempotent else remaining
            done = threading.Event()
            future = client.call_async(request)
            future.add_done_callback(lambda _f, answered=done: answered.set())
            if done.wait(max(attempt_s, 0.0)) and future.result() is not None:
                return future.result()
            client.remove_pending_request(future)
            if time.monotonic() >= deadline:
                raise GraphError(f"{what}: no answer within {self.timeout_s:g} s")

    def close(self) -> None:
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self._rclpy.try_shutdown(context=self._context)
        self._thread.join(timeout=2.0)
