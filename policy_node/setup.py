"""ament_python package `policy_node`: thin rclpy nodes around the mtdagger core.

The core (mtdagger, sim_bridge, calibration) is a separate pip distribution installed into the
same Python (see ros2_ws/README.md); this package only carries the nodes, launch and config files.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "policy_node"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
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
