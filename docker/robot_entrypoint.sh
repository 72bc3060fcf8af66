#!/usr/bin/env bash
# Source ROS 2, the optional franka_ros2 overlay and the mtdagger workspace, then run the command.
set -e
source "/opt/ros/${ROS_DISTRO}/setup.bash"
if [ -f /opt/franka_ws/install/setup.bash ]; then source /opt/franka_ws/install/setup.bash; fi
source /opt/mtdagger/ros2_ws/install/setup.bash
exec "$@"
