"""Start-up and stepping shared by the lockstep simulator nodes (the sim bridge, the FR3 cell).

Both nodes wait until the graph is up (every input they need has a publisher and someone listens
to the camera), let it settle, publish the first frame, and from then on publish a frame whenever
their core may step (or re-publish the last one while a command is late). One copy of that cycle
keeps the two nodes' start-up and shutdown behaviour the same. No ROS import at module level:
the node hands in its `rclpy` node, and rclpy is only touched to shut down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sim_bridge.lockstep import StartupTimeoutError


class LockstepLoop:
    """The graph-ready / tick / finish cycle. `core` has `config.startup_timeout_s`, `begin()`,
    `ready_to_step(now)`, `frame_to_republish(now)` and `step()`, whose frames have `finished`;
    `missing_inputs()` names what the graph still lacks (empty when it is up)."""

    def __init__(
        self,
        node: Any,
        core: Any,
        *,
        settle_s: float,
        exit_when_done: bool,
        missing_inputs: Callable[[], list[str]],
        publish: Callable[[Any], None],
    ) -> None:
        self.node, self.core = node, core
        self.settle_s, self.exit_when_done = settle_s, exit_when_done
        self._missing_inputs, self._publish = missing_inputs, publish
        self.exit_code = 0
        self.done = False
        self._started = False
        self._ready_since: float | None = None
        self._created = time.monotonic()

    def graph_ready(self, now: float) -> bool:
        missing = self._missing_inputs()
        if missing:
            self._ready_since = None
            if now - self._created > self.core.config.startup_timeout_s:
                raise StartupTimeoutError(f"the graph never came up: still waiting for {', '.join(missing)}")
            self.node.get_logger().info(f"waiting for {', '.join(missing)}", throttle_duration_sec=5.0)
            return False
        if self._ready_since is None:
            self._ready_since = now
        return now - self._ready_since >= self.settle_s

    def tick(self) -> None:
        now = time.monotonic()
        try:
            if not self._started:
                if self.graph_ready(now):
                    self._started = True
                    self._publish(self.core.begin())
                return
            if not self.core.ready_to_step(now):
                again = self.core.frame_to_republish(now)
                if again is not None:
                    self._publish(again)
                return
            frame = self.core.step()
        except StartupTimeoutError as error:
            self.node.get_logger().error(str(error))
            self.finish(1)
            return
        self._publish(frame)
        if frame.finished:
            self.node.get_logger().info("all episodes done")
            self.finish(0)

    def finish(self, code: int) -> None:
        import rclpy

        self.exit_code = code
        self.done = True
        if self.exit_when_done or code != 0:
            rclpy.try_shutdown(context=self.node.context)


def run_lockstep_node(build: Callable[[Callable[..., Any]], Any], name: str, args: list[str] | None) -> int:
    """`main()` of a lockstep simulator node: init rclpy, build the node object with
    `rclpy.create_node` (a one-line fatal log and exit code 1 when its settings are refused), spin
    until it finishes or is interrupted, return its `exit_code`, and always close it and shut down.
    A SIGINT at any point, cleanup included, ends it quietly (mtdagger.messages.node_process)."""
    import rclpy

    from mtdagger.messages.node_process import run_node_process

    def close(simulator: Any) -> None:
        try:
            simulator.close()
        finally:
            simulator.node.destroy_node()

    return run_node_process(
        lambda: build(rclpy.create_node), name=name, args=args,
        spin=lambda simulator: rclpy.spin(simulator.node), close=close,
        refusals=(OSError, ValueError, RuntimeError),
    )  # fmt: skip
