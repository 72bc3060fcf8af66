"""What the launch files compute, without ROS: camera parameters, the calibration transform, bags.

Launch files run arbitrary Python; keeping their decisions here (not inside OpaqueFunctions) lets
`tests/test_ros_package_static.py` exercise them on machines without ROS, and keeps every launch
file a flat list of declared arguments and nodes. Nothing here imports rclpy or launch.

The camera has ONE source of settings, a `configs/cameras/*.yaml` file
(`RealSenseCameraConfig`): it becomes the parameters of our `depth_camera` node, or the equivalent
realsense-ros parameters when the official driver is chosen (`camera_driver:=realsense2_camera`),
so switching drivers cannot change the depth the policy sees.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# 'none': the camera topics come from elsewhere (the FR3 rehearsal cell renders them: rehearse.launch.py)
CAMERA_DRIVERS = ("mtdagger", "realsense2_camera", "none")
COMMAND_INTERFACES = ("joint_trajectory", "cartesian_pose", "twist")
# Topics a sim rollout adds to the evaluation layout: the task's per-step success flag.
SUCCESS_TOPIC = "/mtdagger/success"
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def ensure_core_importable() -> None:
    """Make `import mtdagger` work inside `ros2 launch` before a launch file needs it.

    `ros2 launch` runs launch files in the Python of the `ros2` script. Run by the venv's Python
    (ros2_ws/README.md), the core is simply installed there. Run by /opt/ros's `ros2` (the system
    Python), the core is found where a `colcon build --symlink-install` of this checkout points:
    this file resolves into the source tree, whose root holds `mtdagger/` (or `$MTDAGGER_ROOT`).
    It is appended, never prepended, so an installed core always wins.
    """
    import importlib
    import os
    import sys

    try:
        importlib.import_module("mtdagger")
        return
    except ImportError:
        pass
    for root in (os.environ.get("MTDAGGER_ROOT"), str(Path(__file__).resolve().parents[2])):
        if root and (Path(root) / "mtdagger" / "__init__.py").is_file():
            sys.path.append(root)
            importlib.import_module("mtdagger")
            return
    raise RuntimeError(
        f"the launch file cannot import the mtdagger core from {sys.executable}: run ros2 with the "
        "venv's Python (`$VENV/bin/python $(command -v ros2) launch ...`, ros2_ws/README.md) or set "
        "MTDAGGER_ROOT to the repository"
    )


def parse_bool(text: str, name: str) -> bool:
    """Launch arguments are strings; accept the usual spellings and refuse anything else."""
    value = str(text).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"launch argument {name}:={text!r} is not a boolean (use true or false)")


def choice(text: str, name: str, valid: Sequence[str]) -> str:
    value = str(text).strip()
    if value not in valid:
        raise ValueError(f"launch argument {name}:={text!r} is not one of {', '.join(valid)}")
    return value


def resolve_path(path: str) -> str:
    """A config path as given, else relative to the source checkout (`configs/...` from anywhere)."""
    from sim_bridge.sim_camera import resolve_config_path

    return str(resolve_config_path(path))


def node_config_path(share_dir: str, robot: str, override: str = "") -> str:
    """The node parameter YAML: `node_config:=` if given, else <share>/config/<robot>.yaml."""
    path = Path(override).expanduser() if override else Path(share_dir) / "config" / f"{robot}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in (Path(share_dir) / "config").glob("*.yaml"))
        raise FileNotFoundError(
            f"node parameter file {path} not found (robots with shipped configs: {shipped}); "
            "pass node_config:=<yaml>"
        )
    return str(path)


def _camera_config(camera_config: str, serial_no: str, recording_file: str):
    from mtdagger.runtime.realsense_config import load_camera_config

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
    for key in (
        "spatial.smooth_alpha",
        "spatial.smooth_delta",
        "temporal.smooth_alpha",
        "temporal.smooth_delta",
    ):
        flat[key] = float(flat[key])
    return flat


def realsense_driver_parameters(
    camera_config: str, *, serial_no: str = "", camera_name: str = "camera", camera_namespace: str = "camera"
) -> dict[str, Any]:
    """realsense2_camera parameters equivalent to the camera YAML.

    `publish_tf` is off: the calibration gives the optical frame its parent (the robot base); the
    driver's own camera_link -> optical-frame transforms would give it a second one, which breaks
    TF lookups (moveit/moveit_calibration#115).
    """
    from mtdagger.runtime.realsense_config import realsense_ros_parameters

    config = _camera_config(camera_config, serial_no, "")
    params = realsense_ros_parameters(config)
    params.update(camera_name=camera_name, camera_namespace=camera_namespace, publish_tf=False)
    return params


def camera_topics(camera_namespace: str, camera_name: str) -> tuple[str, str]:
    """(aligned depth image, its camera_info) under realsense-ros names."""
    prefix = "/" + "/".join(part.strip("/") for part in (camera_namespace, camera_name) if part.strip("/"))
    return f"{prefix}/aligned_depth_to_color/image_raw", f"{prefix}/aligned_depth_to_color/camera_info"


def camera_optical_frame(camera_name: str, aligned_to_color: bool = True) -> str:
    """realsense-ros frame id of the depth image: aligned depth lives in the colour optical frame."""
    return f"{camera_name}_{'color' if aligned_to_color else 'depth'}_optical_frame"


@dataclasses.dataclass(frozen=True)
class CalibrationTransform:
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


def recorded_topics(include_success: bool = False) -> list[str]:
    """The evaluation-bag topics (mtdagger.recording.layout), so `mtdagger report` reads ROS bags too."""
    from mtdagger.recording import layout

    topics = [spec.name for spec in layout.TOPICS]
    if include_success:
        topics.append(SUCCESS_TOPIC)
    return topics


def bag_output_path(bag_dir: str, *, robot: str, task: str, now: dt.datetime | None = None) -> str:
    """A new bag directory under `bag_dir`: `ros2 bag record -o` refuses an existing one."""
    now = now or dt.datetime.now()
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{robot}_{task}")
    base = Path(bag_dir).expanduser() / f"{label}_{now:%Y%m%d_%H%M%S}"
    candidate, suffix = base, 1
    while candidate.exists():
        candidate = base.with_name(f"{base.name}_{suffix}")
        suffix += 1
    return str(candidate)


def record_command(output: str, topics: Sequence[str]) -> list[str]:
    """`ros2 bag record` in MCAP (the Jazzy default; Humble needs rosbag2_storage_mcap installed)."""
    if not topics:
        raise ValueError("nothing to record: the topic list is empty")
    return ["ros2", "bag", "record", "-s", "mcap", "-o", output, *topics]
