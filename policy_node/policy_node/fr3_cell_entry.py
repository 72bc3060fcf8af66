"""`ros2 run policy_node fr3_cell`: the console script of the FR3 rehearsal cell node.

The node lives beside the FR3 backend, in `sim_bridge.ros.fr3_cell_node` (part of the pip-installed
core); an ament_python package can only install entry points of its own modules, so this shim
gives it one (as sim_bridge_entry.py does for the sim bridge).
"""

from __future__ import annotations


def main(args: list[str] | None = None) -> int:
    from sim_bridge.ros.fr3_cell_node import main as cell_main

    return cell_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
