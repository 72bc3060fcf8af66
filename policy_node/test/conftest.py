"""Make `policy_node` (this package's nodes) importable from a source checkout, like colcon does."""

import os
import sys
from pathlib import Path

# Each test process on its own DDS domain, discovery on this host only (before rclpy loads).
os.environ.setdefault("ROS_DOMAIN_ID", str(101 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
for path in (PACKAGE_ROOT, PACKAGE_ROOT / "test"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
