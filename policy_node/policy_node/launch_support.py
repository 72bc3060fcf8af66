"""What a launch file needs before it can reach the mtdagger core: finding the core.

Everything a launch decides (arguments, node parameters, calibration, bags) is in the ROS-free
core, `mtdagger.deployment` (the argument table and `deployment_plan`), and launch_ros actions are
made in `policy_node.launch_actions`. What is left here is the one step that must come before any
core import: making `import mtdagger` work under `ros2 launch`. Nothing here imports rclpy or
launch, so tests run it without ROS.
"""

from __future__ import annotations

from pathlib import Path

CORE_ROOT_FILE = "mtdagger_root"  # written beside this module by setup.py's build_py


def core_root_candidates() -> list[str]:
    """Where a checkout holding `mtdagger/` may be, in the order they are tried: `$MTDAGGER_ROOT`;
    the checkout this file resolves into (run from the source tree, or a symlink into it); the
    checkout recorded at build time (`mtdagger_root` beside this file: colcon installs a copy)."""
    import os

    here = Path(__file__).resolve()
    candidates = [os.environ.get("MTDAGGER_ROOT", ""), str(here.parents[2])]
    recorded = here.with_name(CORE_ROOT_FILE)
    if recorded.is_file():
        candidates.append(recorded.read_text(encoding="utf-8").strip())
    return [c for c in candidates if c]


def ensure_core_importable() -> None:
    """Make `import mtdagger` work inside `ros2 launch` before a launch file needs it.

    `ros2 launch` runs launch files in the Python of the `ros2` script. Run by the robot venv's
    Python (ros2_ws/README.md), the core is simply installed there. Run by /opt/ros's `ros2` (the
    system Python), the core is looked for in a checkout (`core_root_candidates`) and appended to
    sys.path, never prepended, so an installed core always wins; its dependencies must then be
    importable by that Python too, which is why the README runs `ros2` with the venv's Python.
    """
    import importlib
    import sys

    try:
        importlib.import_module("mtdagger")
        return
    except ImportError:
        pass
    for root in core_root_candidates():
        if (Path(root) / "mtdagger" / "__init__.py").is_file():
            sys.path.append(root)
            importlib.import_module("mtdagger")
            return
    raise RuntimeError(
        f"the launch file cannot import the mtdagger core from {sys.executable}: run ros2 with the "
        "robot venv's Python (ros2_ws/README.md: `ros2` from that venv's bin/) or set MTDAGGER_ROOT "
        "to the repository"
    )
