"""ament_python package `policy_node`: thin rclpy nodes around the mtdagger core.

The core (mtdagger, sim_bridge, calibration) is a separate pip distribution installed into the
same Python (see ros2_ws/README.md); this package only carries the nodes, launch and config files.
"""

import os
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

PACKAGE = "policy_node"
# Where the mtdagger core of this checkout is: the repository root above this package.
CORE_ROOT = Path(__file__).resolve().parent.parent
CORE_ROOT_FILE = "mtdagger_root"  # policy_node/launch_support.py reads it


class BuildPyRecordingTheCore(build_py):
    """build_py that also writes the checkout's root into the built package (`mtdagger_root`):
    `colcon build` (with current setuptools, --symlink-install included) installs a COPY of
    policy_node, from which launch_support cannot find the source tree by its own path, so a
    `ros2 launch` run by a Python without the core installed finds it through this file."""

    def run(self) -> None:
        super().run()
        package_dir = os.path.join(self.build_lib, PACKAGE)
        # An editable build copies nothing (the source tree is found by its own path).
        if getattr(self, "editable_mode", False) or self.dry_run or not os.path.isdir(package_dir):
            return
        if (CORE_ROOT / "mtdagger" / "__init__.py").is_file():
            Path(package_dir, CORE_ROOT_FILE).write_text(str(CORE_ROOT) + "\n", encoding="utf-8")


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    cmdclass={"build_py": BuildPyRecordingTheCore},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", sorted(glob("launch/*.launch.py"))),
        (f"share/{PACKAGE}/config", sorted(glob("config/*.yaml"))),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="mtdagger maintainers",
    maintainer_email="mtdagger@example.com",
    description="ROS 2 nodes and launch files deploying mtdagger point-cloud policies",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "depth_camera = policy_node.depth_camera:main",
            "pointcloud_preprocess = policy_node.pointcloud_preprocess:main",
            "policy = policy_node.policy:main",
            "arm_controller = policy_node.arm_controller:main",
            "ee_state = policy_node.ee_state:main",
            "sim_bridge = policy_node.sim_bridge_entry:main",
            "fr3_cell = policy_node.fr3_cell_entry:main",
            "calibration_capture = policy_node.calibration_capture:main",
        ],
    },
)
