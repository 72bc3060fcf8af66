"""Hand-eye capture node: on `~/capture` (std_srvs/Trigger) record one (image, camera_info,
base -> gripper pose) sample into a capture folder that `mtdagger calibrate solve` reads.

    ros2 run policy_node calibration_capture --ros-args -p capture_dir:=cal/2024-05-01 \\
        -p board_file:=board/board.yaml -p base_frame:=fr3_link0 -p gripper_frame:=fr3_hand_tcp
    ros2 service call /calibration_capture/capture std_srvs/srv/Trigger   # at each arm pose

The gripper pose comes from `gripper_pose_source`:
- `tf` (a robot PC): tf2 lookup base_frame <- gripper_frame at the image's stamp; the camera
  link -> optical transform the driver publishes is recorded too. tf2_ros is not on PyPI;
- `pose_topic`: a geometry_msgs/PoseStamped of the gripper in base_frame (a controller's
  measured pose), for rclpy from PyPI;
- `joint_states`: sensor_msgs/JointState + forward kinematics of the `robot_description` URDF
  (base_frame -> gripper_frame chain, `mtdagger.control.kinematics`), for rclpy from PyPI.
All logic (stamp checks, files) lives in `calibration.capture`; this node converts messages.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import Trigger

from calibration.board import load_board
from calibration.capture import CaptureError, CaptureSettings, CaptureWriter, image_from_fields, pose_to_dict
from calibration.solve import SETUPS
from mtdagger.messages.convert import pose_from_msg, stamp_ns_from_header, transform_from_msg
from policy_node.ros_support import SENSOR_QOS, StartupError, run_node, text_parameter

POSE_SOURCES = ("tf", "pose_topic", "joint_states")


def _pose_matrix(position: np.ndarray, quaternion_xyzw: np.ndarray) -> np.ndarray:
    from calibration.extrinsics import quaternion_xyzw_to_matrix

    T = np.eye(4)
    T[:3, :3] = quaternion_xyzw_to_matrix(quaternion_xyzw / np.linalg.norm(quaternion_xyzw))
    T[:3, 3] = position
    return T


class CalibrationCaptureNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("calibration_capture", **kwargs)
        self._declare_parameters()
        capture_dir = text_parameter(self, "capture_dir")
        board_file = text_parameter(self, "board_file")
        if capture_dir is None or board_file is None:
            raise StartupError("parameters capture_dir:= and board_file:= (a board.yaml) are required")
        try:
            self._board = load_board(board_file)
        except (FileNotFoundError, ValueError) as error:
            raise StartupError(str(error)) from None
        self._capture_dir = capture_dir
        self._source = str(self.get_parameter("gripper_pose_source").value)
        if self._source not in POSE_SOURCES:
            raise StartupError(f"gripper_pose_source must be one of {POSE_SOURCES}, got {self._source!r}")
        if str(self.get_parameter("setup").value) not in SETUPS:
            raise StartupError(f"setup must be one of {SETUPS}, got {self.get_parameter('setup').value!r}")
        self._base = str(self.get_parameter("base_frame").value)
        self._gripper = str(self.get_parameter("gripper_frame").value)
        self._writer: CaptureWriter | None = None
        self._image: Image | None = None
        self._info: CameraInfo | None = None
        self._pose: PoseStamped | None = None
        self._joints: JointState | None = None
        self._kinematics = None
        self._tf_buffer = None
        self._make_pose_source()
        self.create_subscription(
            Image, str(self.get_parameter("image_topic").value), self._on_image, SENSOR_QOS
        )
        self.create_subscription(
            CameraInfo, str(self.get_parameter("camera_info_topic").value), self._on_info, SENSOR_QOS
        )
        self.create_service(Trigger, "~/capture", self._on_capture)
        self.get_logger().info(f"capturing into {capture_dir}; call ~/capture at each arm pose")

    def _declare_parameters(self) -> None:
        """Every parameter of the node with its default; capture_dir and board_file are required."""
        self.declare_parameter("capture_dir", Parameter.Type.STRING)  # required: the output folder
        self.declare_parameter("board_file", Parameter.Type.STRING)  # required: board.yaml
        self.declare_parameter("image_topic", "/camera/camera/color/image_raw")
        self.declare_parameter("camera_info_topic", "/camera/camera/color/camera_info")
        self.declare_parameter("base_frame", "base_link")
        self.declare_parameter("gripper_frame", "tool0")
        self.declare_parameter("camera_frame", "camera_link")
        self.declare_parameter("setup", "eye_to_hand")
        self.declare_parameter("camera_serial", "")
        self.declare_parameter("gripper_pose_source", "tf")
        self.declare_parameter("gripper_pose_topic", "/gripper_pose")
        self.declare_parameter("joint_states_topic", "/joint_states")
        self.declare_parameter("robot_description", "")  # URDF XML, for gripper_pose_source:=joint_states
        self.declare_parameter("max_stamp_skew_s", 0.05)
        self.declare_parameter("tf_timeout_s", 0.5)

    def _make_pose_source(self) -> None:
        """Wire the chosen `gripper_pose_source` (module doc): a tf2 listener, joint states + the
        URDF's forward kinematics, or a PoseStamped topic. What each needs is refused at startup
        (StartupError) rather than at the first capture."""
        if self._source == "tf":
            try:
                from tf2_ros import Buffer, TransformListener
            except ImportError:
                raise StartupError(
                    "gripper_pose_source:=tf needs tf2_ros, which is not on PyPI: run this node on a "
                    "ROS 2 install (ros-<distro>-tf2-ros), or use gripper_pose_source:=pose_topic with a "
                    "geometry_msgs/PoseStamped of the gripper in base_frame"
                ) from None
            self._tf_buffer = Buffer()
            self._tf_listener = TransformListener(self._tf_buffer, self)
        elif self._source == "joint_states":
            from mtdagger.control.kinematics import ArmKinematics, KinematicsError

            description = text_parameter(self, "robot_description")
            if description is None:
                raise StartupError(
                    "gripper_pose_source:=joint_states needs robot_description:= (the URDF XML)"
                )
            try:
                self._kinematics = ArmKinematics(description, self._base, self._gripper)
            except KinematicsError as error:
                raise StartupError(f"robot_description: {error}") from None
            topic = str(self.get_parameter("joint_states_topic").value)
            self.create_subscription(JointState, topic, self._on_joints, 10)
        else:
            topic = str(self.get_parameter("gripper_pose_topic").value)
            self.create_subscription(PoseStamped, topic, self._on_pose, 10)

    def _on_image(self, msg: Image) -> None:
        self._image = msg

    def _on_info(self, msg: CameraInfo) -> None:
        self._info = msg

    def _on_pose(self, msg: PoseStamped) -> None:
        self._pose = msg

    def _on_joints(self, msg: JointState) -> None:
        self._joints = msg

    def _on_capture(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            response.message = self._capture()
            response.success = True
        except (CaptureError, ValueError, RuntimeError) as error:
            response.success, response.message = False, str(error)
            self.get_logger().warn(f"capture refused: {error}")
        return response

    def _capture(self) -> str:
        image, info = self._image, self._info
        if image is None or info is None:
            raise CaptureError("no image and camera_info received yet (check the image topics)")
        image_stamp = stamp_ns_from_header(image.header) / 1e9
        T_base_gripper, pose_stamp = self._gripper_pose(image)
        writer = self._writer or self._open_writer(image.header.frame_id)
        pixels = image_from_fields(image.encoding, image.height, image.width, image.step, image.data)
        K = np.asarray(info.k, dtype=float).reshape(3, 3)
        name = writer.add(pixels, K, np.asarray(info.d, dtype=float), image_stamp, T_base_gripper, pose_stamp)
        self.get_logger().info(f"sample {name} saved ({writer.count} in {self._capture_dir})")
        return f"sample {name} saved"

    def _gripper_pose(self, image: Image) -> tuple[np.ndarray, float]:
        if self._kinematics is not None:
            joints = self._joints
            if joints is None:
                raise CaptureError("no joint state received yet on joint_states_topic")
            q = self._kinematics.joints_from_state(list(joints.name), list(joints.position))
            return self._kinematics.forward(q), stamp_ns_from_header(joints.header) / 1e9
        if self._tf_buffer is None:
            pose = self._pose
            if pose is None:
                raise CaptureError("no gripper pose received yet on gripper_pose_topic")
            if pose.header.frame_id != self._base:
                raise CaptureError(
                    f"gripper pose is in frame {pose.header.frame_id!r}, expected base_frame {self._base!r}"
                )
            return _pose_matrix(*pose_from_msg(pose)), stamp_ns_from_header(pose.header) / 1e9
        from rclpy.duration import Duration
        from rclpy.time import Time

        stamp = Time.from_msg(image.header.stamp)
        timeout = Duration(seconds=float(self.get_parameter("tf_timeout_s").value))
        try:
            reading = transform_from_msg(
                self._tf_buffer.lookup_transform(self._base, self._gripper, stamp, timeout=timeout)
            )
        except Exception as error:  # tf2 raises its own exception types: report them all the same way
            raise CaptureError(
                f"no transform {self._base} <- {self._gripper} at the image stamp: {error}"
            ) from None
        return reading.T, reading.stamp_ns / 1e9

    def _open_writer(self, optical_frame: str) -> CaptureWriter:
        camera_frame = str(self.get_parameter("camera_frame").value)
        camera_to_optical = None
        if self._tf_buffer is not None:  # the driver's camera_link -> optical transform, if published
            try:
                from rclpy.time import Time

                msg = self._tf_buffer.lookup_transform(camera_frame, optical_frame, Time())
                camera_to_optical = pose_to_dict(transform_from_msg(msg).T)
            except Exception as error:
                self.get_logger().warn(
                    f"no {camera_frame} -> {optical_frame} transform ({error}); using REP 103"
                )
        settings = CaptureSettings(
            base_frame=self._base,
            gripper_frame=self._gripper,
            camera_frame=camera_frame,
            optical_frame=optical_frame or "camera_color_optical_frame",
            setup=str(self.get_parameter("setup").value),
            camera_serial=str(self.get_parameter("camera_serial").value),
            max_stamp_skew_s=float(self.get_parameter("max_stamp_skew_s").value),
            camera_to_optical=camera_to_optical,
        )
        self._writer = CaptureWriter(self._capture_dir, settings, self._board)
        return self._writer


def main(args: list[str] | None = None) -> int:
    return run_node(CalibrationCaptureNode, args, "calibration_capture")


if __name__ == "__main__":
    raise SystemExit(main())
