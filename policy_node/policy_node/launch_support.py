"""What a launch file needs before it can reach the mtdagger core: finding the core.

Everything a launch decides (arguments, node parameters, calibration, bags) is in the ROS-free
core, `mtdagger.deployment` (the argument table and `deployment_plan`), and launch_ros actions are
made in `policy_node.launch_actions`. What is left here is the one step that must come before any
core import: making `import mtdagger` work under `ros2 launch`. Nothing here imports rclpy or
launch, so tests run it without ROS.
"""

from __future__ import annotations

from pathlib import Path


def ensure_core_importable() -> None:
    """Make `import mtdagger` work inside `ros2 launch` before a launch file needs it.

    `ros2 launch` runs launch files in the Python of the `ros2` script. Run by the venv's Python
    (ros2_ws/README.md), the core is simply installed there. Run by /opt/ros's `ros2` (the system
    Python), the core is found where a `colcon build --symlink-install` of this checkout points:
    this file resolves into the source tree, whose root holds `mtdagger/` (or `$MTDAGGER_ROOT`).
    It is appended, never prepended, so an installed core always wins.
    """
    import importlib
    import os
    import sys

    try:
        importlib.import_module("mtdagger")
        return
    except ImportError:
        pass
    for root in (os.environ.get("MTDAGGER_ROOT"), str(Path(__file__).resolve().parents[2])):
        if root and (Path(root) / "mtdagger" / "__init__.py").is_file():
            sys.path.append(root)
            importlib.import_module("mtdagger")
            return
    raise RuntimeError(
        f"the launch file cannot import the mtdagger core from {sys.executable}: run ros2 with the "
        "venv's Python (`$VENV/bin/python $(command -v ros2) launch ...`, ros2_ws/README.md) or set "
        "MTDAGGER_ROOT to the repository"
    )
