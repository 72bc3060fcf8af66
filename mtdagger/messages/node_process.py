"""How a node process starts, runs and ends: the one `main()` of every node (policy_node's nodes,
the sim bridge, the FR3 cell), so they all shut down the same way.

`ros2 launch` ends a node with SIGINT, and a Ctrl-C in its terminal sends another one to the whole
process group; launch_testing's shutdown does the same. A node must then exit 0 without a
traceback, however far it got: still building (torch, MuJoCo), spinning, or cleaning up. Python
turns a SIGINT into KeyboardInterrupt wherever the main thread happens to be, and rclpy restores
that behaviour as soon as it is shut down (`rclpy.try_shutdown` uninstalls its handler), so a
second SIGINT during cleanup used to escape as a traceback and exit code -2 (issue 21). Here:
- a KeyboardInterrupt before or during spinning ends the process with the node's exit code (0
  unless the node itself asked for another one);
- cleanup (the node's `close`, `destroy_node`, rclpy's shutdown) runs with SIGINT ignored, and it
  stays ignored until the process exits: nothing can interrupt the cleanup or the return;
- rclpy is shut down once (`try_shutdown`: a no-op when the signal handler or the node already did).
No ROS import at module level: rclpy is imported when a node process runs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any


def ignore_sigint() -> None:
    """From now on SIGINT does nothing in this process (main thread only: elsewhere a no-op)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_node_process(
    build: Callable[[], Any],
    *,
    name: str,
    args: list[str] | None,
    spin: Callable[[Any], None],
    close: Callable[[Any], None],
    refusals: tuple[type[BaseException], ...],
) -> int:
    """`rclpy.init(args)`, `built = build()`, `spin(built)` until shutdown, then `close(built)` and
    rclpy's shutdown; returns the exit code: 1 when `build` raised one of `refusals` (logged as one
    fatal line), else `built.exit_code` (0 if it has none), a SIGINT included."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.logging import get_logger

    built = None
    code = 0
    try:
        rclpy.init(args=args)
        try:
            built = build()
        except refusals as error:
            get_logger(name).fatal(f"cannot start: {error}")
            code = 1
        else:
            try:
                spin(built)
            except ExternalShutdownException:
                pass  # rclpy's own SIGINT/SIGTERM handler, or the node asked for shutdown
    except KeyboardInterrupt:
        pass  # SIGINT while building or spinning: a normal end
    finally:
        # The loops: a SIGINT can land after rclpy restored Python's handler and before ours
        # replaced it (the terminal's second SIGINT, 5 ms after launch's, on a loaded machine);
        # its KeyboardInterrupt is raised on entering ignore_sigint, so it is caught HERE, in
        # this frame, and the replacement retried.
        while True:
            try:
                ignore_sigint()
                break
            except KeyboardInterrupt:
                continue
        try:
            if built is not None:
                close(built)
        finally:
            rclpy.try_shutdown()
            while True:  # shutting rclpy down restored Python's KeyboardInterrupt handler
                try:
                    ignore_sigint()
                    break
                except KeyboardInterrupt:
                    continue
    return int(getattr(built, "exit_code", 0)) if built is not None else code
