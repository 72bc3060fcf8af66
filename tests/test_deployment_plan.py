"""The pieces of a deployment plan, without ROS: argument parsing, node parameter files, the camera
and its calibration, the evaluation bag (mtdagger/deployment). What the launch files make of them
is tests/test_launch_plan.py's business."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from node_declarations import declared_by_node

from mtdagger.deployment import bags, camera
from mtdagger.deployment.launch_args import ARGUMENTS_BY_NAME, LaunchArgument, parse_arguments
from mtdagger.deployment.node_config import load_node_config, node_config_path
from mtdagger.deployment.plan import SOURCE_SHARE, deployment_plan

D435 = "configs/cameras/realsense_d435.yaml"
CAL = "configs/calibration/fr3_cell.yaml"

# ------------------------------------------------------------------------------- argument table


@pytest.mark.parametrize(("text", "value"), [("true", True), ("False", False), ("1", True), (" off ", False)])
def test_boolean_launch_arguments(text, value):
    assert ARGUMENTS_BY_NAME["record"].parse(text) is value


def test_bad_launch_argument_values_are_named():
    with pytest.raises(ValueError, match="record:='yes please'"):
        ARGUMENTS_BY_NAME["record"].parse("yes please")
    with pytest.raises(ValueError, match="camera_driver:='librealsense'"):
        ARGUMENTS_BY_NAME["camera_driver"].parse("librealsense")
    with pytest.raises(ValueError, match="seed:='ten' is not an integer"):
        ARGUMENTS_BY_NAME["seed"].parse("ten")


def test_unknown_and_missing_arguments_are_refused_before_anything_starts():
    with pytest.raises(ValueError, match=r"unknown launch arguments \['tasks'\]"):
        parse_arguments("real", {"task": "t", "tasks": "t", "checkpoint": "c", "calibration_file": CAL})
    with pytest.raises(ValueError, match="task:=, calibration_file:= are required"):
        parse_arguments("real", {"checkpoint": "c"})
    values = parse_arguments("sim", {"tasks": "mt10", "checkpoint": "c", "seed": "3"})
    assert values["seed"] == 3 and values["record"] is False and values["robot"] == "metaworld_sawyer"


def test_a_malformed_table_row_is_refused():
    with pytest.raises(ValueError, match="malformed"):
        LaunchArgument("x", "d", {"nowhere": ""})
    with pytest.raises(ValueError, match="malformed"):
        LaunchArgument("x", "d", {"real": ""}, kind="choice")  # a choice without choices


# ---------------------------------------------------------------------------- node config files


def test_node_config_is_the_robot_yaml_or_a_clear_error(tmp_path):
    assert node_config_path(SOURCE_SHARE, "franka_fr3") == str(SOURCE_SHARE / "config" / "franka_fr3.yaml")
    custom = tmp_path / "cell.yaml"
    custom.write_text("/**: {ros__parameters: {}}\n")
    assert node_config_path(SOURCE_SHARE, "franka_fr3", str(custom)) == str(custom)
    with pytest.raises(FileNotFoundError, match=r"ur5e\.yaml.*franka_fr3.*node_config:="):
        node_config_path(SOURCE_SHARE, "ur5e")


def test_shared_parameters_go_only_to_the_nodes_that_take_them(tmp_path):
    config = load_node_config(SOURCE_SHARE / "config" / "franka_fr3.yaml")
    assert config.for_node("policy")["contract.num_points"] == 1024
    assert config.for_node("policy")["gripper_joint"] == "fr3_finger_joint1"
    assert not any(k.startswith("contract") for k in config.for_node("arm_controller"))
    assert config.for_node("ee_state") == {"robot_config": "franka_fr3", "rate_hz": 0.0}
    stray = tmp_path / "stray.yaml"
    stray.write_text("/**: {ros__parameters: {gripper_joint: j}}\n")
    with pytest.raises(ValueError, match=r"'/\*\*' sets \['gripper_joint'\].*under their node's section"):
        load_node_config(stray)


# ------------------------------------------------------------------------ camera and calibration


def test_camera_yaml_becomes_parameters_the_camera_node_declares():
    params = camera.camera_node_parameters(D435, serial_no="123456789012", recording_file="")
    stray = set(params) - set(declared_by_node()["depth_camera"])
    assert not stray, stray
    assert params["serial_no"] == "123456789012"
    assert params["recording_file"] == ""  # None has no ROS parameter form: '' means unset
    assert params["decimation"] == 4 and params["spatial.enable"] is True
    assert isinstance(params["spatial.smooth_delta"], float)  # declared as a double


def test_official_driver_gets_the_same_settings_without_its_own_tf():
    params = camera.realsense_driver_parameters(D435, serial_no="42", camera_name="cam", camera_namespace="n")
    assert params["publish_tf"] is False  # the calibration is the optical frame's only parent
    assert params["align_depth.enable"] is True
    assert params["decimation_filter.filter_magnitude"] == 4
    assert (params["serial_no"], params["camera_name"], params["camera_namespace"]) == ("42", "cam", "n")


def test_camera_topics_and_frames_follow_realsense_ros():
    assert camera.camera_topics("camera", "camera") == (
        "/camera/camera/aligned_depth_to_color/image_raw",
        "/camera/camera/aligned_depth_to_color/camera_info",
    )
    assert camera.camera_topics("", "/d435/")[0] == "/d435/aligned_depth_to_color/image_raw"
    assert camera.camera_optical_frame("camera") == "camera_color_optical_frame"
    assert camera.camera_optical_frame("cam", aligned_to_color=False) == "cam_depth_optical_frame"


@pytest.fixture
def calibration_file(tmp_path):
    from calibration.extrinsics import Extrinsics, save_extrinsics

    extrinsics = Extrinsics.from_translation_quaternion(
        [0.5, -0.1, 0.6],
        [0.0, 0.7071067811865476, 0.0, 0.7071067811865476],
        base_frame="fr3_link0",
        camera_frame="camera_color_optical_frame",
        calibration_id="lab-d435-test",
    )
    return str(save_extrinsics(tmp_path / "extrinsics.yaml", extrinsics))


def test_calibration_becomes_static_transform_arguments(calibration_file):
    result = camera.calibration_transform(
        calibration_file, robot_base_frame="fr3_link0", camera_frame="camera_color_optical_frame"
    )
    args = result.static_transform_arguments
    values = dict(zip(args[::2], args[1::2]))
    assert values["--frame-id"] == "fr3_link0" and values["--child-frame-id"] == "camera_color_optical_frame"
    assert [float(values[k]) for k in ("--x", "--y", "--z")] == pytest.approx([0.5, -0.1, 0.6])
    assert float(values["--qy"]) == pytest.approx(0.70710678)
    assert float(values["--qw"]) == pytest.approx(0.70710678)
    assert result.calibration_id == "lab-d435-test"


@pytest.mark.parametrize(
    ("base", "frame", "message"),
    [
        ("panda_link0", "camera_color_optical_frame", "base_frame 'fr3_link0'"),
        ("fr3_link0", "camera_depth_optical_frame", "camera_frame 'camera_color_optical_frame'"),
    ],
)
def test_calibration_of_other_frames_is_refused(calibration_file, base, frame, message):
    with pytest.raises(ValueError, match=message):
        camera.calibration_transform(calibration_file, robot_base_frame=base, camera_frame=frame)


def test_missing_calibration_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="calibration_file"):
        camera.calibration_transform("", robot_base_frame="b", camera_frame="c")
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        camera.calibration_transform(str(tmp_path / "nope.yaml"), robot_base_frame="b", camera_frame="c")


def test_a_plan_refuses_a_calibration_of_another_robot(calibration_file):
    with pytest.raises(ValueError, match=r"base_frame 'fr3_link0'.*'right_arm_base_link'"):
        deployment_plan("real", {"task": "t", "checkpoint": "c", "calibration_file": calibration_file,
                                 "robot": "metaworld_sawyer"})  # fmt: skip


# ------------------------------------------------------------------------------------------ bags


def test_bag_paths_are_new_directories(tmp_path):
    now = dt.datetime(2025, 1, 2, 3, 4, 5)
    first = bags.bag_output_path(str(tmp_path), robot="franka_fr3", task="drawer open/v3", now=now)
    assert Path(first).parent == tmp_path and Path(first).name == "franka_fr3_drawer_open_v3_20250102_030405"
    Path(first).mkdir()
    second = bags.bag_output_path(str(tmp_path), robot="franka_fr3", task="drawer open/v3", now=now)
    assert second != first and not Path(second).exists()  # ros2 bag record -o refuses an existing folder


def test_recorded_topics_are_the_evaluation_layout():
    from mtdagger.recording import layout

    assert bags.recorded_topics() == [spec.name for spec in layout.TOPICS]
    assert bags.recorded_topics(include_success=True)[-1] == bags.SUCCESS_TOPIC


def test_recording_runs_ros2_bag_record_in_mcap(tmp_path):
    plan = deployment_plan("real", {"task": "drawer-open", "checkpoint": "c", "calibration_file": CAL,
                                    "record": "true", "bag_dir": str(tmp_path)})  # fmt: skip
    command = plan.record.command(now=dt.datetime(2025, 1, 2, 3, 4, 5))
    output = str(tmp_path / "franka_fr3_drawer-open_20250102_030405")
    assert command[:7] == ["ros2", "bag", "record", "-s", "mcap", "-o", output]
    assert command[7:] == bags.recorded_topics()
    with pytest.raises(ValueError, match="nothing to record"):
        bags.record_command("bags/x", [])
