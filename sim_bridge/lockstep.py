"""What the lockstep simulated cells share (the sim bridge's core, the FR3 cell's core, their nodes):
where simulated time starts and the error for a graph that never came up. ROS-free."""

from __future__ import annotations

# Simulated time starts here, not at 0: a zero stamp means "unset" to ROS tools.
CLOCK_START_S = 1.0


class StartupTimeoutError(RuntimeError):
    """The graph never came up (or the first command never arrived) within the start-up timeout."""
