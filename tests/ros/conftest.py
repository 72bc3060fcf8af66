"""The real-rclpy tier: real node classes, real rclpy, real DDS (Fast DDS over loopback).

Isolation: each test process gets its own ROS_DOMAIN_ID (from its pid) and discovery limited to
this host, so parallel runs (CI jobs, pytest-xdist, a second checkout) never see each other's
topics. rclpy comes from the PyPI ROS 2 Jazzy wheels (`pip install -e ".[test]"`, the `ros` extra).

Never skipped on CI: where the `CI` environment variable is set, a missing rclpy FAILS every test
of this tier (a skipped tier would read as a green one); elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Before rclpy is imported anywhere in this process.
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
for path in (REPO / "policy_node" / "test", REPO / "policy_node", REPO / "tests" / "ros"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

try:
    import rclpy  # noqa: F401

    RCLPY_ERROR = None
except ImportError as error:  # pragma: no cover - depends on the machine
    RCLPY_ERROR = f"rclpy is not importable ({error}); install the `ros` extra: pip install -e '.[test]'"


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.ros)


@pytest.fixture(autouse=True)
def _require_rclpy():
    if RCLPY_ERROR is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the real-rclpy tier: {RCLPY_ERROR}")
        pytest.skip(RCLPY_ERROR)
