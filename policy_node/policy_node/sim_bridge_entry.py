"""`ros2 run policy_node sim_bridge`: the console script of the sim bridge node.

The node lives beside the simulator backends, in `sim_bridge.ros.bridge_node` (part of the
pip-installed core); an ament_python package can only install entry points of its own modules,
so this shim gives it one.
"""

from __future__ import annotations


def main(args: list[str] | None = None) -> int:
    from sim_bridge.ros.bridge_node import main as bridge_main

    return bridge_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
