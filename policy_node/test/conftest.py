"""Make `policy_node` (this package's nodes) importable from a source checkout, like colcon does."""

import importlib.util
import os
import sys
from pathlib import Path

# On CI the rclpy tests here must run (the PyPI wheels are installed by the test extra): a missing
# rclpy stops the run instead of quietly skipping them. launch_testing may be absent (not on PyPI).
if os.environ.get("CI") and importlib.util.find_spec("rclpy") is None:
    raise ImportError("CI must run the rclpy tests, but rclpy is not installed: pip install -e '.[test]'")

# Each test process on its own DDS domain, discovery on this host only (before rclpy loads).
os.environ.setdefault("ROS_DOMAIN_ID", str(101 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
for path in (PACKAGE_ROOT, PACKAGE_ROOT / "test"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
