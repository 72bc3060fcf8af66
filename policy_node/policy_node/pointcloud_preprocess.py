"""`pointcloud_preprocess`: depth Image + CameraInfo + T_base_camera -> the policy's PointCloud2.

The cloud is made by `mtdagger.runtime.stages.PointCloudStage` (i.e. `depth_to_point_cloud` with
the point-cloud contract, DESIGN.md §3): the same function and numbers as in simulation and
training. This node only gathers its inputs: the latest CameraInfo (intrinsics do not change
between frames, so a cache is enough; no synchroniser needed), and `T_base_camera`:

- from TF (default, `calibration_file` empty): launch publishes the hand-eye calibration as a
  static transform (the sim bridge publishes its simulated camera's pose the same way). The
  lookup asks the buffer for the latest transform without waiting: the listener's subscriptions
  are served by this node's own executor, so a blocking wait inside a callback could only time
  out. Needs tf2_ros (a full ROS 2 install; not on PyPI).
- from `calibration_file` (the calibration YAML, calibration/extrinsics.py): a static camera
  read once at start-up, no TF needed (its camera_frame must be the images' frame_id). This is
  how the node runs under the PyPI rclpy wheels, and a fixed camera needs nothing more.

Nothing it receives can crash it: no CameraInfo yet, no transform yet, a malformed image or an
empty cloud (everything cropped away) all log a throttled warning and publish nothing, and the
policy/arm controller watchdogs then hold the arm.
"""

from __future__ import annotations

import numpy as np
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from mtdagger.messages import topics
from mtdagger.messages.convert import (
    NANOSECONDS,
    camera_model_from_camera_info,
    depth_m_from_image_msg,
    point_cloud2_msg,
    stamp_ns_from_header,
    transform_from_msg,
)
from mtdagger.messages.factory import RclpyFactory
from mtdagger.perception.frames import DepthFrame
from mtdagger.runtime.stages import PointCloudStage
from policy_node.ros_support import (
    RELIABLE_QOS,
    SENSOR_QOS,
    StartupError,
    contract_from_parameters,
    declare_contract_parameters,
    load_robot,
    require_ros_package,
    run_node,
    text_parameter,
)

_WARN_PERIOD_S = 2.0


class PointCloudPreprocessNode(Node):
    def __init__(self, **node_options) -> None:
        # node_options (rclpy Node kwargs: parameter_overrides, context, ...): for tests and
        # composition; `ros2 run` / launch pass parameters through the command line as usual.
        super().__init__("pointcloud_preprocess", **node_options)
        self.declare_parameter("depth_topic", topics.ALIGNED_DEPTH_TOPIC)
        self.declare_parameter("camera_info_topic", topics.ALIGNED_DEPTH_INFO_TOPIC)
        self.declare_parameter("cloud_topic", topics.POINT_CLOUD_TOPIC)
        self.declare_parameter("robot_config", "")
        self.declare_parameter("checkpoint", "")
        self.declare_parameter("calibration_file", "")  # '' = T_base_camera from TF
        declare_contract_parameters(self)

        robot = load_robot(self)
        self._base_frame = robot.base_frame
        self._stage = PointCloudStage(contract_from_parameters(self, text_parameter(self, "checkpoint")))
        self._static_pose: tuple[str, np.ndarray] | None = None  # (camera frame, T_base_camera)
        calibration = text_parameter(self, "calibration_file")
        if calibration is not None:
            self._static_pose = self._load_calibration(calibration)
        else:
            tf2_ros = require_ros_package("tf2_ros", "T_base_camera from TF (calibration_file empty)")
            self._tf_error = tf2_ros.TransformException
            self._tf_buffer = tf2_ros.Buffer()
            self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)
        self._factory = RclpyFactory()
        self._info: CameraInfo | None = None

        self._cloud_pub = self.create_publisher(
            PointCloud2, str(self.get_parameter("cloud_topic").value), RELIABLE_QOS
        )
        self.create_subscription(
            CameraInfo, str(self.get_parameter("camera_info_topic").value), self._on_info, SENSOR_QOS
        )
        self.create_subscription(
            Image, str(self.get_parameter("depth_topic").value), self._on_depth, SENSOR_QOS
        )
        contract = self._stage.contract
        self.get_logger().info(
            f"clouds of {contract.num_points} points in {self._base_frame}, workspace "
            f"{contract.workspace_min}..{contract.workspace_max}"
        )

    def _load_calibration(self, path: str) -> tuple[str, np.ndarray]:
        from calibration.extrinsics import ExtrinsicsError, load_extrinsics

        try:
            extrinsics = load_extrinsics(path)
        except (OSError, ExtrinsicsError) as error:
            raise StartupError(f"calibration_file: {error}") from error
        if extrinsics.base_frame != self._base_frame:
            raise StartupError(
                f"calibration_file {path} has base_frame {extrinsics.base_frame!r} but the robot's "
                f"base frame is {self._base_frame!r}"
            )
        return extrinsics.camera_frame, np.asarray(extrinsics.T_base_camera, dtype=np.float64)

    def _camera_pose(self, frame_id: str) -> np.ndarray | None:
        if self._static_pose is not None:
            camera_frame, T_base_camera = self._static_pose
            if frame_id != camera_frame:
                self._warn(f"image frame {frame_id!r} is not the calibration's camera_frame {camera_frame!r}")
                return None
            return T_base_camera
        try:
            # Latest transform, no waiting (see the module docstring).
            transform = self._tf_buffer.lookup_transform(self._base_frame, frame_id, Time())
        except self._tf_error as error:
            self._warn(
                f"no transform {self._base_frame} <- {frame_id!r} (is the calibration published?): {error}"
            )
            return None
        return transform_from_msg(transform).T

    def _on_info(self, msg: CameraInfo) -> None:
        self._info = msg

    def _warn(self, text: str) -> None:
        self.get_logger().warn(text, throttle_duration_sec=_WARN_PERIOD_S)

    def _on_depth(self, msg: Image) -> None:
        info = self._info
        if info is None:
            self._warn("depth image without CameraInfo yet: no cloud")
            return
        T_base_camera = self._camera_pose(msg.header.frame_id)
        if T_base_camera is None:
            return
        try:
            camera = camera_model_from_camera_info(info, T_base_camera)
            depth = depth_m_from_image_msg(msg)
        except ValueError as error:
            self._warn(f"unusable depth image or camera info: {error}")
            return
        stamp_ns = stamp_ns_from_header(msg.header)
        output = self._stage.process(DepthFrame(depth, camera, stamp_ns / NANOSECONDS))
        if output.value is None:
            self._warn(f"no cloud: {output.reason}")
            return
        points = np.asarray(output.value, dtype=np.float32)
        self._cloud_pub.publish(point_cloud2_msg(self._factory, points, stamp_ns, self._base_frame))


def main(args: list[str] | None = None) -> int:
    return run_node(PointCloudPreprocessNode, args, "pointcloud_preprocess")


if __name__ == "__main__":
    raise SystemExit(main())
