#!/usr/bin/env bash
# Source ROS 2, the optional franka_ros2 overlay and the mtdagger workspace, then activate the
# robot venv last (its bin/ first on PATH: its `ros2` runs /opt/ros's with the venv's Python).
set -e
source "/opt/ros/${ROS_DISTRO}/setup.bash"
if [ -f /opt/franka_ws/install/setup.bash ]; then source /opt/franka_ws/install/setup.bash; fi
source /opt/mtdagger/ros2_ws/install/setup.bash
source "${VENV:-/opt/mtdagger-venv}/bin/activate"
exec "$@"
