"""The camera side of a deployment plan: camera node parameters, realsense-ros topics and frames,
and the calibration that places the camera in the robot base.

The camera has ONE source of settings, a `configs/cameras/*.yaml` file (`RealSenseCameraConfig`):
it becomes the parameters of our `depth_camera` node, or the equivalent realsense-ros parameters
when the official driver is chosen (`camera_driver:=realsense2_camera`), so switching drivers
cannot change the depth the policy sees. Nothing here imports ROS.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def resolve_path(path: str) -> str:
    """A config path as given, else relative to the source checkout (`configs/...` from anywhere)."""
    from sim_bridge.camera.sim_camera import resolve_config_path

    return str(resolve_config_path(path))


def _camera_config(camera_config: str, serial_no: str, recording_file: str):
    from mtdagger.camera.config import load_camera_config

    config = load_camera_config(resolve_path(camera_config))
    changes: dict[str, Any] = {}
    if serial_no:
        changes["serial_no"] = serial_no
    if recording_file:
        changes["recording_file"] = str(Path(recording_file).expanduser())
    return dataclasses.replace(config, **changes) if changes else config


def camera_node_parameters(
    camera_config: str, *, serial_no: str = "", recording_file: str = ""
) -> dict[str, Any]:
    """`depth_camera` node parameters from a camera YAML (launch arguments override the serial/file).

    Nested filter settings become dotted parameter names (`spatial.enable`); `None` becomes the
    parameter's "unset" value ('' for text, 0.0 for clip_distance_m), because ROS parameters have
    no null.
    """
    config = _camera_config(camera_config, serial_no, recording_file)
    flat: dict[str, Any] = {}
    for key, value in config.to_dict().items():
        if isinstance(value, Mapping):
            flat.update({f"{key}.{sub}": sub_value for sub, sub_value in value.items()})
        else:
            flat[key] = value
    flat["serial_no"] = flat["serial_no"] or ""
    flat["recording_file"] = flat["recording_file"] or ""
    flat["clip_distance_m"] = float(flat["clip_distance_m"] or 0.0)
    for filter_name in ("spatial", "temporal"):
        for option in ("smooth_alpha", "smooth_delta"):
            flat[f"{filter_name}.{option}"] = float(flat[f"{filter_name}.{option}"])
    return flat


def realsense_driver_parameters(
    camera_config: str, *, serial_no: str = "", camera_name: str = "camera", camera_namespace: str = "camera"
) -> dict[str, Any]:
    """realsense2_camera parameters equivalent to the camera YAML.

    `publish_tf` is off: the calibration gives the optical frame its parent (the robot base); the
    driver's own camera_link -> optical-frame transforms would give it a second one, which breaks
    TF lookups (moveit/moveit_calibration#115).
    """
    from mtdagger.camera.config import realsense_ros_parameters

    config = _camera_config(camera_config, serial_no, "")
    params = realsense_ros_parameters(config)
    params.update(camera_name=camera_name, camera_namespace=camera_namespace, publish_tf=False)
    return params


def camera_topics(camera_namespace: str, camera_name: str) -> tuple[str, str]:
    """(aligned depth image, its camera_info) under realsense-ros names.

    With the default names these are `mtdagger.messages.topics.ALIGNED_DEPTH_TOPIC` / `_INFO_TOPIC`
    (tests/test_launch_plan.py checks it); other names move them the way realsense-ros does."""
    prefix = "/" + "/".join(part.strip("/") for part in (camera_namespace, camera_name) if part.strip("/"))
    return f"{prefix}/aligned_depth_to_color/image_raw", f"{prefix}/aligned_depth_to_color/camera_info"


def camera_optical_frame(camera_name: str, aligned_to_color: bool = True) -> str:
    """realsense-ros frame id of the depth image: aligned depth lives in the colour optical frame."""
    return f"{camera_name}_{'color' if aligned_to_color else 'depth'}_optical_frame"


@dataclasses.dataclass(frozen=True)
class CalibrationTransform:
    """What a launch needs of a calibration file: the static transform publisher's command-line
    pose, the id recorded in the bag's metadata, and the two frames it was checked against."""

    static_transform_arguments: list[str]
    calibration_id: str
    base_frame: str
    camera_frame: str


def calibration_transform(
    calibration_file: str, *, robot_base_frame: str, camera_frame: str
) -> CalibrationTransform:
    """The `static_transform_publisher` arguments for the calibration YAML, after checking that it
    calibrates the frames this graph uses: a calibration of another base or camera frame would
    silently put the cloud somewhere else."""
    from calibration.extrinsics import load_extrinsics, static_transform_args

    if not calibration_file:
        raise ValueError("launch argument calibration_file:= is required (the camera pose in the robot base)")
    # A `mtdagger calibrate solve` YAML names camera_link as its child and carries the link -> optical
    # transform: this graph publishes the optical frame's pose directly (the driver's TF is off).
    extrinsics = load_extrinsics(Path(calibration_file).expanduser()).as_optical()
    if extrinsics.base_frame != robot_base_frame:
        raise ValueError(
            f"calibration {calibration_file} has base_frame {extrinsics.base_frame!r}, but the robot "
            f"config's base frame is {robot_base_frame!r}"
        )
    if extrinsics.camera_frame != camera_frame:
        raise ValueError(
            f"calibration {calibration_file} has camera_frame {extrinsics.camera_frame!r}, but the depth "
            f"images arrive in {camera_frame!r}"
        )
    return CalibrationTransform(
        static_transform_args(extrinsics),
        extrinsics.calibration_id,
        extrinsics.base_frame,
        extrinsics.camera_frame,
    )
