"""`depth_camera`: a RealSense (or a librealsense recording) -> aligned depth Image + CameraInfo.

Publishes under realsense-ros names and frame ids (`/<camera_namespace>/<camera_name>/
aligned_depth_to_color/image_raw` and `.../camera_info`, frame `<camera_name>_color_optical_frame`,
16UC1 millimetres), so the official `realsense2_camera` driver is a drop-in alternative
(`camera_driver:=realsense2_camera` in real.launch.py). All camera work (device selection, filters,
alignment, units, intrinsics) is `mtdagger.camera.realsense.RealSenseCamera`; this node
only turns its `DepthFrame`s into messages. No TF is published: the calibration gives the optical
frame its parent.

Frames are read on a background thread (librealsense blocks until the next frameset) and
published from it; rclpy publishers are thread-safe. The node exits non-zero when no camera
matches (the message names the serial or file looked for), and with 0 at the end of a recording.
"""

from __future__ import annotations

import threading

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from mtdagger.camera.config import (
    HoleFillingFilterConfig,
    RealSenseCameraConfig,
    SpatialFilterConfig,
    TemporalFilterConfig,
)
from mtdagger.camera.realsense import RealSenseCamera
from mtdagger.messages.convert import camera_info_msg, depth_image_msg
from mtdagger.messages.factory import RclpyFactory
from policy_node.ros_support import (
    SENSOR_QOS,
    StartupError,
    now_ns,
    request_shutdown,
    run_node,
    text_parameter,
)

_DEFAULT = RealSenseCameraConfig()
_SPATIAL = SpatialFilterConfig()
_TEMPORAL = TemporalFilterConfig()
_HOLES = HoleFillingFilterConfig()


class DepthCameraNode(Node):
    def __init__(self, **node_options) -> None:
        # node_options (rclpy Node kwargs: parameter_overrides, context, ...): for tests and
        # composition; `ros2 run` / launch pass parameters through the command line as usual.
        super().__init__("depth_camera", **node_options)
        self.exit_code = 0
        self._declare_parameters()
        config = self._camera_config()
        name = text_parameter(self, "camera_name") or "camera"
        namespace = (text_parameter(self, "camera_namespace") or "").strip("/")
        prefix = "/" + "/".join(part for part in (namespace, name.strip("/")) if part)
        self._frame_id = f"{name}_color_optical_frame"
        self._timeout_ms = int(self.get_parameter("read_timeout_ms").value)
        self._source = (
            config.recording_file or f"RealSense serial {config.serial_no or '(the only one connected)'}"
        )
        self._camera = RealSenseCamera(config)
        try:
            self._camera.start()
        except (OSError, RuntimeError, ValueError) as error:
            raise StartupError(f"no depth from {self._source}: {error}") from error
        if not self._camera.aligned_to_color:
            self._frame_id = f"{name}_depth_optical_frame"
            self.get_logger().warn(f"no colour stream: depth stays in {self._frame_id}")
        self._factory = RclpyFactory()
        self._image_pub = self.create_publisher(
            Image, f"{prefix}/aligned_depth_to_color/image_raw", SENSOR_QOS
        )
        self._info_pub = self.create_publisher(
            CameraInfo, f"{prefix}/aligned_depth_to_color/camera_info", SENSOR_QOS
        )
        self._running = True
        self._thread = threading.Thread(target=self._stream, name="depth_camera", daemon=True)
        self._thread.start()
        self.get_logger().info(f"streaming depth from {self._source} as {prefix} ({self._frame_id})")

    def _declare_parameters(self) -> None:
        """Every parameter of the node. The camera's defaults are RealSenseCameraConfig's, so the
        node and the in-process runtime agree."""
        self.declare_parameter("serial_no", "")
        self.declare_parameter("recording_file", "")
        self.declare_parameter("width", _DEFAULT.width)
        self.declare_parameter("height", _DEFAULT.height)
        self.declare_parameter("fps", _DEFAULT.fps)
        self.declare_parameter("align_to_color", _DEFAULT.align_to_color)
        self.declare_parameter("decimation", _DEFAULT.decimation)
        self.declare_parameter("disparity_domain", _DEFAULT.disparity_domain)
        self.declare_parameter("spatial.enable", _SPATIAL.enable)
        self.declare_parameter("spatial.magnitude", _SPATIAL.magnitude)
        self.declare_parameter("spatial.smooth_alpha", float(_SPATIAL.smooth_alpha))
        self.declare_parameter("spatial.smooth_delta", float(_SPATIAL.smooth_delta))
        self.declare_parameter("spatial.holes_fill", _SPATIAL.holes_fill)
        self.declare_parameter("temporal.enable", _TEMPORAL.enable)
        self.declare_parameter("temporal.smooth_alpha", float(_TEMPORAL.smooth_alpha))
        self.declare_parameter("temporal.smooth_delta", float(_TEMPORAL.smooth_delta))
        self.declare_parameter("temporal.persistence_control", _TEMPORAL.persistence_control)
        self.declare_parameter("hole_filling.enable", _HOLES.enable)
        self.declare_parameter("hole_filling.mode", _HOLES.mode)
        self.declare_parameter("clip_distance_m", 0.0)  # 0 = off
        self.declare_parameter("playback_real_time", _DEFAULT.playback_real_time)
        self.declare_parameter("camera_name", "camera")
        self.declare_parameter("camera_namespace", "camera")
        self.declare_parameter("read_timeout_ms", 1000)
        # A recording starts once the image has a subscriber (+ settle): played into an empty
        # graph, its first frames would be lost (best effort, nobody discovered yet).
        self.declare_parameter("recording_wait_for_subscriber_s", 30.0)
        self.declare_parameter("recording_settle_s", 0.5)

    def _camera_config(self) -> RealSenseCameraConfig:
        def p(name: str):
            return self.get_parameter(name).value

        clip = float(p("clip_distance_m"))
        try:
            return RealSenseCameraConfig(
                serial_no=text_parameter(self, "serial_no"),
                recording_file=text_parameter(self, "recording_file"),
                width=int(p("width")),
                height=int(p("height")),
                fps=int(p("fps")),
                align_to_color=bool(p("align_to_color")),
                decimation=int(p("decimation")),
                disparity_domain=bool(p("disparity_domain")),
                spatial=SpatialFilterConfig(
                    enable=bool(p("spatial.enable")),
                    magnitude=int(p("spatial.magnitude")),
                    smooth_alpha=float(p("spatial.smooth_alpha")),
                    smooth_delta=float(p("spatial.smooth_delta")),
                    holes_fill=int(p("spatial.holes_fill")),
                ),
                temporal=TemporalFilterConfig(
                    enable=bool(p("temporal.enable")),
                    smooth_alpha=float(p("temporal.smooth_alpha")),
                    smooth_delta=float(p("temporal.smooth_delta")),
                    persistence_control=int(p("temporal.persistence_control")),
                ),
                hole_filling=HoleFillingFilterConfig(
                    enable=bool(p("hole_filling.enable")), mode=str(p("hole_filling.mode"))
                ),
                clip_distance_m=clip if clip > 0 else None,
                playback_real_time=bool(p("playback_real_time")),
            )
        except (TypeError, ValueError) as error:
            raise StartupError(f"invalid camera parameters: {error}") from error

    def _wait_for_subscriber(self) -> None:
        import time

        limit = float(self.get_parameter("recording_wait_for_subscriber_s").value)
        deadline = time.monotonic() + limit
        while self._running and self._image_pub.get_subscription_count() == 0:
            if time.monotonic() > deadline:
                self.get_logger().warn(f"nobody subscribed to the depth image in {limit} s: playing anyway")
                return
            time.sleep(0.01)
        time.sleep(float(self.get_parameter("recording_settle_s").value))

    def _stream(self) -> None:
        if self._camera.config.recording_file:
            self._wait_for_subscriber()
        while self._running:
            try:
                frame = self._camera.read(self._timeout_ms)
            except RuntimeError as error:
                self.get_logger().error(f"camera read failed: {error}")
                request_shutdown(self, 1)
                return
            if frame is None:
                if self._camera.config.recording_file:
                    self.get_logger().info(f"end of recording {self._source}")
                    request_shutdown(self, 0)
                    return
                self.get_logger().warn(
                    f"no frame from {self._source} in {self._timeout_ms} ms", throttle_duration_sec=5.0
                )
                continue
            stamp = now_ns(self)
            # CameraInfo first: the preprocessing pairs each image with the latest info it has.
            self._info_pub.publish(camera_info_msg(self._factory, frame.camera, stamp, self._frame_id))
            self._image_pub.publish(depth_image_msg(self._factory, frame.depth_m, stamp, self._frame_id))

    def close(self) -> None:
        self._running = False
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._camera.stop()


def main(args: list[str] | None = None) -> int:
    return run_node(DepthCameraNode, args, "depth_camera")


if __name__ == "__main__":
    raise SystemExit(main())
