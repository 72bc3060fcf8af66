# syntax=docker/dockerfile:1
# ROS 2 robot PC: the mtdagger deployment graph (policy_node), the official RealSense driver,
# ros2_control + controllers, rosbag2 MCAP, and (optionally) franka_ros2 for the Franka FR3.
# NOT built by CI (no Docker engine there); see docker/README.md.
#
#   docker build -f docker/Dockerfile.robot -t mtdagger-robot .
#   docker run --rm -it --net=host --privileged -v /dev:/dev mtdagger-robot \
#     ros2 launch policy_node real.launch.py task:=drawer-open checkpoint:=/ckpt/best ...
ARG ROS_DISTRO=jazzy
FROM ros:${ROS_DISTRO}-ros-base
ARG ROS_DISTRO
# Franka's ROS 2 stack is not released as apt packages: it is built from source at a tag.
ARG WITH_FRANKA=1
ARG FRANKA_ROS2_REF=v3.4.0
# CPU wheel by default; pass e.g. TORCH_INDEX=https://download.pytorch.org/whl/cu128 for a GPU PC.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    MUJOCO_GL=egl

# The last line: system libraries of open3d / pyrealsense2 (libusb) and headless MuJoCo (EGL, Mesa).
RUN apt-get update && apt-get install -y --no-install-recommends \
      python3-pip python3-venv python3-colcon-common-extensions python3-vcstool python3-rosdep git \
      ros-${ROS_DISTRO}-realsense2-camera \
      ros-${ROS_DISTRO}-ros2-control ros-${ROS_DISTRO}-ros2-controllers \
      ros-${ROS_DISTRO}-control-msgs ros-${ROS_DISTRO}-trajectory-msgs \
      ros-${ROS_DISTRO}-tf2-ros ros-${ROS_DISTRO}-message-filters \
      ros-${ROS_DISTRO}-robot-state-publisher ros-${ROS_DISTRO}-xacro \
      ros-${ROS_DISTRO}-rosbag2 ros-${ROS_DISTRO}-rosbag2-storage-mcap \
      ros-${ROS_DISTRO}-launch-testing-ros \
      libusb-1.0-0 libegl1 libgl1 libegl-mesa0 libgles2 libgomp1 \
    && rm -rf /var/lib/apt/lists/*

# franka_ros2 (hardware interface, fr3 controllers, franka_gripper). libfranka needs a real-time
# kernel on the HOST; Docker Desktop can cause UDP timeouts (franka_ros2 README).
WORKDIR /opt/franka_ws
RUN if [ "${WITH_FRANKA}" = "1" ]; then \
      git clone --depth 1 -b "${FRANKA_ROS2_REF}" https://github.com/frankarobotics/franka_ros2.git src/franka_ros2 \
      && vcs import src --recursive --skip-existing < src/franka_ros2/franka.repos \
      && apt-get update && (rosdep init || true) && rosdep update --rosdistro "${ROS_DISTRO}" \
      && rosdep install --from-paths src --ignore-src --rosdistro "${ROS_DISTRO}" -y \
      && source "/opt/ros/${ROS_DISTRO}/setup.bash" \
      && colcon build --cmake-args -DCMAKE_BUILD_TYPE=Release \
      && rm -rf build log /var/lib/apt/lists/*; \
    fi

# The ROS-free core goes into a venv over the system Python that sees its packages (rclpy,
# launch and the messages from /opt/ros, ROS's Python dependencies from apt), exactly as
# ros2_ws/README.md's robot-PC steps do: `pip install -e .` only (no ros-jazzy-* PyPI wheels), no
# "numpy<2" (the pinned OpenCV needs NumPy 2; Jazzy's message code does not use NumPy's C API).
ENV VENV=/opt/mtdagger-venv
WORKDIR /opt/mtdagger
COPY . /opt/mtdagger
RUN python3 -m venv --system-site-packages "${VENV}" \
    && "${VENV}/bin/pip" install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}" \
    && "${VENV}/bin/pip" install -e . \
    && printf '#!/bin/sh\nexec "%s/bin/python" "/opt/ros/%s/bin/ros2" "$@"\n' "${VENV}" "${ROS_DISTRO}" \
       > "${VENV}/bin/ros2" \
    && chmod +x "${VENV}/bin/ros2"

# The colcon workspace (ros2_ws/src holds relative links to the repo's ROS packages), built by the
# venv's Python so the nodes' scripts start with it. A plain (copying) build: build/ is removed
# below, and a --symlink-install made with `setup.py develop` would point into it.
WORKDIR /opt/mtdagger/ros2_ws
RUN source "/opt/ros/${ROS_DISTRO}/setup.bash" \
    && if [ -f /opt/franka_ws/install/setup.bash ]; then source /opt/franka_ws/install/setup.bash; fi \
    && "${VENV}/bin/python" "$(command -v colcon)" build \
    && rm -rf build log

COPY docker/robot_entrypoint.sh /robot_entrypoint.sh
ENTRYPOINT ["/robot_entrypoint.sh"]
CMD ["bash"]
