"""Contract tests for mtdagger.messages: CDR round trips on Humble and Jazzy definitions, rclpy's field
rules, pinned RIHS01 type hashes, exact depth and intrinsics."""

from __future__ import annotations

import array
import math
import sys
import types

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mtdagger.messages import convert
from mtdagger.messages.factory import RclpyFactory, RclpyLikeFactory, RosbagsFactory, rclpy_message_class
from mtdagger.messages.topics import ALIGNED_DEPTH_TOPIC, BASE_FRAME, COLOR_OPTICAL_FRAME
from mtdagger.messages.typestore import make_typestore
from mtdagger.messages.validate import RclpyFieldError, rclpy_field_problems, validate_for_rclpy
from mtdagger.perception.camera_model import CameraModel

DISTROS = ["humble", "jazzy"]
STAMP_NS = 1_712_345_678_123_456_789
CAMERA = CameraModel(width=64, height=48, fx=615.123456789, fy=614.987654321, cx=31.25, cy=23.75,
                     T_base_camera=np.eye(4))


def rigid_transform(seed: int = 0) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.random(random_state=seed).as_matrix()
    T[:3, 3] = [0.5, -0.2, 0.9]
    return T


def sample_messages(factory) -> dict[str, object]:
    """One message of every type the stack publishes, built by the converters."""
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.2, 3.0, size=(CAMERA.height, CAMERA.width))
    return {
        "sensor_msgs/msg/Image": convert.depth_image_msg(factory, depth, STAMP_NS, COLOR_OPTICAL_FRAME),
        "sensor_msgs/msg/CameraInfo": convert.camera_info_msg(factory, CAMERA, STAMP_NS, COLOR_OPTICAL_FRAME),
        "sensor_msgs/msg/PointCloud2": convert.point_cloud2_msg(
            factory, rng.normal(size=(256, 3)).astype(np.float32), STAMP_NS, BASE_FRAME),
        "sensor_msgs/msg/JointState": convert.joint_state_msg(
            factory, [f"fr3_joint{i}" for i in range(1, 8)], np.linspace(-1, 1, 7), STAMP_NS,
            velocities=np.zeros(7)),
        "geometry_msgs/msg/TwistStamped": convert.twist_stamped_msg(
            factory, [0.1, -0.2, 0.3], [0.0, 0.0, 0.5], STAMP_NS, BASE_FRAME),
        "geometry_msgs/msg/PoseStamped": convert.pose_stamped_msg(
            factory, [0.4, 0.1, 0.3], [0.0, 1.0, 0.0, 0.0], STAMP_NS, BASE_FRAME),
        "geometry_msgs/msg/TransformStamped": convert.transform_stamped_msg(
            factory, rigid_transform(), BASE_FRAME, COLOR_OPTICAL_FRAME, STAMP_NS),
        "tf2_msgs/msg/TFMessage": convert.tf_message(factory, [convert.transform_stamped_msg(
            factory, rigid_transform(1), BASE_FRAME, COLOR_OPTICAL_FRAME, STAMP_NS)]),
        "control_msgs/msg/GripperCommand": convert.gripper_command_msg(factory, 0.04, 20.0),
        "std_msgs/msg/String": convert.json_string_msg(factory, {"event": "start", "seed": np.int64(3)}),
        "std_msgs/msg/Float64": convert.float64_msg(factory, -1.0),
    }


def read_back(type_name: str, msg) -> object:
    """What the readers make of a message (the values a consumer relies on)."""
    readers = {
        "sensor_msgs/msg/Image": convert.depth_m_from_image_msg,
        "sensor_msgs/msg/CameraInfo": lambda m: convert.camera_model_from_camera_info(m, np.eye(4)).to_dict(),
        "sensor_msgs/msg/PointCloud2": convert.points_from_point_cloud2,
        "sensor_msgs/msg/JointState": lambda m: (convert.joint_state_from_msg(m).names,
                                                 convert.joint_state_from_msg(m).positions,
                                                 convert.joint_state_from_msg(m).velocities),
        "geometry_msgs/msg/TwistStamped": convert.twist_from_msg,
        "geometry_msgs/msg/PoseStamped": convert.pose_from_msg,
        "geometry_msgs/msg/TransformStamped": lambda m: convert.transform_from_msg(m).T,
        "tf2_msgs/msg/TFMessage": lambda m: [convert.transform_from_msg(t).T for t in m.transforms],
        "control_msgs/msg/GripperCommand": lambda m: (m.position, m.max_effort),
        "std_msgs/msg/String": convert.json_from_string_msg,
        "std_msgs/msg/Float64": lambda m: m.data,
    }
    return readers[type_name](msg)


def assert_same(a, b) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)) and not isinstance(a, str):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ----------------------------------------------------------------------------- CDR round trips

@pytest.mark.parametrize("distro", DISTROS)
def test_every_published_message_round_trips_through_cdr(distro):
    factory = RosbagsFactory(distro)
    for type_name, msg in sample_messages(factory).items():
        assert msg.__msgtype__ == type_name
        data = factory.serialize(msg)
        decoded = factory.deserialize(data, type_name)
        assert_same(read_back(type_name, decoded), read_back(type_name, msg))
        assert factory.serialize(decoded) == data, type_name


@pytest.mark.parametrize("distro", DISTROS)
def test_rclpy_shaped_messages_give_the_same_cdr_bytes(distro):
    """The writers' Humble-safe values (lists, array.array) and rosbags' ndarrays are the same message."""
    rosbags_factory, rclpy_like = RosbagsFactory(distro), RclpyLikeFactory(distro)
    direct = sample_messages(rosbags_factory)
    via_rclpy_shape = sample_messages(rclpy_like)
    for type_name, msg in via_rclpy_shape.items():
        converted = rosbags_factory.convert(msg)
        assert rosbags_factory.serialize(converted) == rosbags_factory.serialize(direct[type_name]), type_name
        assert_same(read_back(type_name, msg), read_back(type_name, direct[type_name]))


# ----------------------------------------------------------------------------- rclpy's field rules

@pytest.mark.parametrize("distro", DISTROS)
def test_validator_accepts_everything_the_converters_build(distro):
    for type_name, msg in sample_messages(RclpyLikeFactory(distro)).items():
        validate_for_rclpy(msg, distro)
        assert rclpy_field_problems(msg, distro, type_name) == []


def test_rclpy_like_factory_stores_values_as_rclpy_does():
    factory = RclpyLikeFactory("humble")
    state = convert.joint_state_msg(factory, ["a"], [1.5], STAMP_NS)
    assert isinstance(state.position, array.array) and state.position.typecode == "d"
    info = convert.camera_info_msg(factory, CAMERA, STAMP_NS, COLOR_OPTICAL_FRAME)
    assert isinstance(info.k, np.ndarray) and info.k.dtype == np.float64 and info.k.shape == (9,)
    image = factory.new("sensor_msgs/msg/Image")  # omitted fields get rclpy's defaults
    assert image.height == 0 and image.encoding == "" and len(image.data) == 0


@pytest.mark.parametrize(("type_name", "fields", "path", "why"), [
    ("sensor_msgs/msg/JointState", {"position": np.array([1.0, 2.0])}, "position", "numpy array"),
    ("sensor_msgs/msg/Image", {"data": np.zeros(4, np.uint8)}, "data", "numpy array"),
    ("geometry_msgs/msg/Vector3", {"x": 1}, "x", "float64 needs a Python float"),
    ("geometry_msgs/msg/Vector3", {"y": np.float32(1.0)}, "y", "float64 needs a Python float"),
    ("sensor_msgs/msg/Image", {"height": 480.0}, "height", "uint32 needs a Python int"),
    ("sensor_msgs/msg/Image", {"width": np.int64(3)}, "width", "uint32 needs a Python int"),
    ("sensor_msgs/msg/Image", {"is_bigendian": 300}, "is_bigendian", "outside the uint8 range"),
    ("sensor_msgs/msg/Image", {"encoding": 16}, "encoding", "string needs a str"),
    ("sensor_msgs/msg/PointCloud2", {"is_dense": 1}, "is_dense", "bool needs a Python bool"),
    ("sensor_msgs/msg/CameraInfo", {"k": [0.0] * 8}, "k", "exactly 9 items"),
    ("sensor_msgs/msg/CameraInfo", {"k": np.zeros(9, np.float32)}, "k", "dtype float64"),
    ("sensor_msgs/msg/CameraInfo", {"d": [0.0, 1]}, "d[1]", "float64 needs a Python float"),
    ("sensor_msgs/msg/JointState", {"position": array.array("f", [1.0])}, "position", "typecode 'd'"),
    ("sensor_msgs/msg/JointState", {"name": "abc"}, "name", "needs a list"),
])
def test_validator_rejects_what_humble_rclpy_rejects(type_name, fields, path, why):
    with pytest.raises(RclpyFieldError, match=why) as caught:
        RclpyLikeFactory("humble").new(type_name, **fields)
    assert [problem.path for problem in caught.value.problems] == [path]


def test_validator_reports_nested_paths():
    factory = RclpyLikeFactory("jazzy")
    bad_field = types.SimpleNamespace(name="y", offset=4.0, datatype=7, count=1, __msgtype__=None)
    bad_field.__msgtype__ = "sensor_msgs/msg/PointField"
    good = convert.point_cloud2_msg(factory, np.zeros((2, 3), np.float32), STAMP_NS, BASE_FRAME)
    good.fields[1] = bad_field
    problems = rclpy_field_problems(good, "jazzy")
    assert [p.path for p in problems] == ["fields[1].offset"]
    twist = convert.twist_stamped_msg(factory, [0.1, 0.2, 0.3], [0, 0, 0], STAMP_NS, BASE_FRAME)
    twist.twist.linear.x = 1  # an int where rclpy wants a float
    twist.header.stamp.sec = -1.5
    assert {p.path for p in rclpy_field_problems(twist, "jazzy")} == {"twist.linear.x", "header.stamp.sec"}
    assert np.float64(1.0) == 1.0 and rclpy_field_problems(  # numpy float64 IS a Python float
        factory.new("geometry_msgs/msg/Vector3", x=np.float64(1.0)), "jazzy") == []


def test_rosbags_messages_are_not_rclpy_shaped():
    """rosbags keeps numeric sequences as numpy arrays: publishing those through Humble's rclpy fails."""
    image = convert.depth_image_msg(RosbagsFactory("humble"), np.ones((2, 2)), STAMP_NS, COLOR_OPTICAL_FRAME)
    with pytest.raises(RclpyFieldError, match="data"):
        validate_for_rclpy(image, "humble")


# ----------------------------------------------------------------------------- type hashes

JAZZY_RIHS01 = {
    "sensor_msgs/msg/Image":
        "RIHS01_d31d41a9a4c4bc8eae9be757b0beed306564f7526c88ea6a4588fb9582527d47",
    "sensor_msgs/msg/CameraInfo":
        "RIHS01_b3dfd68ff46c9d56c80fd3bd4ed22c7a4ddce8c8348f2f59c299e73118e7e275",
    "sensor_msgs/msg/PointCloud2":
        "RIHS01_9198cabf7da3796ae6fe19c4cb3bdd3525492988c70522628af5daa124bae2b5",
    "sensor_msgs/msg/JointState":
        "RIHS01_a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e",
    "geometry_msgs/msg/TwistStamped":
        "RIHS01_5f0fcd4f81d5d06ad9b4c4c63e3ea51b82d6ae4d0558f1d475229b1121db6f64",
    "geometry_msgs/msg/PoseStamped":
        "RIHS01_10f3786d7d40fd2b54367835614bff85d4ad3b5dab62bf8bca0cc232d73b4cd8",
    "geometry_msgs/msg/TransformStamped":
        "RIHS01_0a241f87d04668d94099cbb5ba11691d5ad32c2f29682e4eb5653424bd275206",
    "tf2_msgs/msg/TFMessage":
        "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087",
    # Registered by us from the .msg text (rosbags lacks control_msgs); not checked against a live Jazzy.
    "control_msgs/msg/GripperCommand":
        "RIHS01_57eb8f326c9889ca8bb34ead82cc94cc09bf6bc5c3b6c09546dca3a00b589890",
    "std_msgs/msg/String":
        "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18",
    "std_msgs/msg/Float64":
        "RIHS01_705ba9c3d1a09df43737eb67095534de36fd426c0587779bda2bc51fe790182a",
}


def test_jazzy_type_hashes_are_pinned():
    store = make_typestore("jazzy")
    assert set(JAZZY_RIHS01) == set(sample_messages(RosbagsFactory("jazzy")))  # every published type
    for type_name, expected in JAZZY_RIHS01.items():
        assert store.hash_rihs01(type_name) == expected, type_name


# ----------------------------------------------------------------------------- depth images

def test_16uc1_depth_survives_exactly_in_millimetres():
    millimetres = np.array([[1, 250, 999, 1000], [4321, 65535, 12, 7]], dtype=np.uint16)
    depth = millimetres.astype(np.float64) / 1000.0
    depth[1, 2], depth[1, 3] = math.nan, -0.5  # invalid -> 0, realsense's "no data"
    factory = RosbagsFactory("jazzy")
    msg = factory.deserialize(factory.serialize(
        convert.depth_image_msg(factory, depth, STAMP_NS, COLOR_OPTICAL_FRAME)), "sensor_msgs/msg/Image")
    assert (msg.encoding, msg.step, msg.is_bigendian) == ("16UC1", 8, 0)
    raw = np.frombuffer(np.asarray(msg.data).tobytes(), dtype="<u2").reshape(2, 4)
    expected = millimetres.copy()
    expected[1, 2:] = 0
    np.testing.assert_array_equal(raw, expected)
    back = convert.depth_m_from_image_msg(msg)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(np.rint(back.astype(np.float64) * 1000.0), expected)


def test_depth_writer_rounds_clips_and_drops_invalid():
    depth = np.array([[0.0015, 70.0, math.inf, 0.0]])
    msg = convert.depth_image_msg(RclpyLikeFactory("humble"), depth, STAMP_NS, COLOR_OPTICAL_FRAME)
    np.testing.assert_array_equal(np.frombuffer(msg.data, dtype="<u2"), [2, 65535, 0, 0])
    with pytest.raises(ValueError, match="2-D"):
        convert.depth_image_msg(RclpyLikeFactory("humble"), np.zeros(3), STAMP_NS, COLOR_OPTICAL_FRAME)


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize(("encoding", "dtype", "scale"), [("16UC1", "u2", 0.001), ("32FC1", "f4", 1.0)])
def test_depth_reader_honours_step_padding_and_byte_order(encoding, dtype, scale, big_endian):
    values = np.array([[100, 200, 300], [400, 500, 0]], dtype=dtype)
    order = ">" if big_endian else "<"
    rows = values.astype(order + dtype).view(np.uint8).reshape(2, -1)
    padded = np.concatenate([rows, np.full((2, 5), 0xAB, np.uint8)], axis=1)  # 5 junk bytes per row
    msg = RclpyLikeFactory("jazzy").new(
        "sensor_msgs/msg/Image", height=2, width=3, encoding=encoding, is_bigendian=int(big_endian),
        step=int(padded.shape[1]), data=array.array("B", padded.tobytes()))
    np.testing.assert_allclose(convert.depth_m_from_image_msg(msg), values * scale, rtol=1e-7)


def test_depth_reader_refuses_bad_images():
    factory = RclpyLikeFactory("jazzy")
    with pytest.raises(ValueError, match="rgb8"):
        convert.depth_m_from_image_msg(factory.new("sensor_msgs/msg/Image", encoding="rgb8"))
    short = factory.new("sensor_msgs/msg/Image", height=2, width=2, encoding="16UC1", step=4,
                        data=array.array("B", bytes(6)))
    with pytest.raises(ValueError, match="expected step x height = 8"):
        convert.depth_m_from_image_msg(short)


# ----------------------------------------------------------------------------- camera info

@pytest.mark.parametrize("distro", DISTROS)
def test_camera_intrinsics_survive_exactly(distro):
    factory = RosbagsFactory(distro)
    written = convert.camera_info_msg(factory, CAMERA, STAMP_NS, COLOR_OPTICAL_FRAME)
    msg = factory.deserialize(factory.serialize(written), "sensor_msgs/msg/CameraInfo")
    pose = rigid_transform()
    model = convert.camera_model_from_camera_info(msg, pose)
    assert (model.width, model.height, model.fx, model.fy, model.cx, model.cy) == (
        CAMERA.width, CAMERA.height, CAMERA.fx, CAMERA.fy, CAMERA.cx, CAMERA.cy)
    np.testing.assert_array_equal(model.T_base_camera, pose)
    assert msg.distortion_model == "plumb_bob" and len(msg.d) == 0
    np.testing.assert_array_equal(np.asarray(msg.p).reshape(3, 4)[:, :3], CAMERA.K)


def test_camera_info_with_distortion_is_refused_unless_accepted():
    factory = RclpyLikeFactory("humble")
    msg = convert.camera_info_msg(factory, CAMERA, STAMP_NS, COLOR_OPTICAL_FRAME)
    msg.d = array.array("d", [0.1, 0.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="distortion"):
        convert.camera_model_from_camera_info(msg, np.eye(4))
    assert convert.camera_model_from_camera_info(msg, np.eye(4), ignore_distortion=True).fx == CAMERA.fx


# ----------------------------------------------------------------------------- point clouds

def test_point_cloud_writer_layout_and_exact_points():
    points = np.random.default_rng(1).normal(size=(100, 3)).astype(np.float32)
    msg = convert.point_cloud2_msg(RclpyLikeFactory("humble"), points, STAMP_NS, BASE_FRAME)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1)]
    assert (msg.height, msg.width, msg.point_step, msg.row_step, msg.is_dense) == (1, 100, 12, 1200, True)
    np.testing.assert_array_equal(convert.points_from_point_cloud2(msg), points)


def test_point_cloud_reader_handles_realsense_layout_organised_rows_and_nan():
    """realsense-ros: x y z float32 + packed rgb, point_step 20; organised rows padded; NaN = no depth."""
    factory = RclpyLikeFactory("jazzy")
    layout = np.dtype({"names": ["x", "y", "z", "rgb"], "formats": [">f4"] * 4, "offsets": [0, 4, 8, 16],
                       "itemsize": 20})
    cloud = np.zeros((2, 3), dtype=layout)
    xyz = np.arange(18, dtype=np.float32).reshape(2, 3, 3)
    xyz[1, 1] = np.nan
    for index, name in enumerate("xyz"):
        cloud[name] = xyz[..., index]
    cloud["rgb"] = 7.0
    rows = np.concatenate([cloud.view(np.uint8).reshape(2, 60), np.zeros((2, 4), np.uint8)], axis=1)
    fields = [factory.new("sensor_msgs/msg/PointField", name=name, offset=offset, datatype=7, count=1)
              for name, offset in [("x", 0), ("y", 4), ("z", 8), ("rgb", 16)]]
    msg = factory.new("sensor_msgs/msg/PointCloud2", height=2, width=3, fields=fields, is_bigendian=True,
                      point_step=20, row_step=64, data=array.array("B", rows.tobytes()), is_dense=False)
    expected = xyz.reshape(-1, 3)[[0, 1, 2, 3, 5]]
    np.testing.assert_array_equal(convert.points_from_point_cloud2(msg), expected)


def test_point_cloud_reader_refuses_clouds_without_coordinates():
    factory = RclpyLikeFactory("jazzy")
    fields = [factory.new("sensor_msgs/msg/PointField", name="intensity", offset=0, datatype=7, count=1)]
    with pytest.raises(ValueError, match=r"lacks field\(s\) \['x', 'y', 'z'\]"):
        convert.points_from_point_cloud2(factory.new("sensor_msgs/msg/PointCloud2", fields=fields))
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        convert.point_cloud2_msg(factory, np.zeros((4, 2)), STAMP_NS, BASE_FRAME)


# ----------------------------------------------------------------------------- the rest

def test_stamps_split_exactly_and_refuse_bad_values():
    msg = convert.header(RclpyLikeFactory("humble"), STAMP_NS, BASE_FRAME)
    assert (msg.stamp.sec, msg.stamp.nanosec) == (1_712_345_678, 123_456_789)
    assert convert.stamp_ns_from_header(msg) == STAMP_NS
    with pytest.raises(TypeError, match="integer number of nanoseconds"):
        convert.split_stamp(1.5e9)
    with pytest.raises(ValueError, match="does not fit"):
        convert.split_stamp(-1)


def test_transforms_round_trip_and_refuse_non_rigid_matrices():
    factory = RclpyLikeFactory("humble")
    T = rigid_transform(3)
    reading = convert.transform_from_msg(convert.transform_stamped_msg(factory, T, "base", "cam", STAMP_NS))
    np.testing.assert_allclose(reading.T, T, atol=1e-12)
    assert (reading.parent_frame, reading.child_frame, reading.stamp_ns) == ("base", "cam", STAMP_NS)
    scaled = T.copy()
    scaled[:3, :3] *= 2.0
    with pytest.raises(ValueError, match="rigid"):
        convert.transform_stamped_msg(factory, scaled, "base", "cam", STAMP_NS)


def test_joint_state_lengths_must_match_names():
    with pytest.raises(ValueError, match="2 values for 3 joint names"):
        convert.joint_state_msg(RclpyLikeFactory("humble"), ["a", "b", "c"], [0.0, 1.0], STAMP_NS)


def test_rosbags_factory_errors_name_the_problem():
    factory = RosbagsFactory("jazzy")
    with pytest.raises(KeyError, match="sensor_msgs/msg/Imagee"):
        factory.new("sensor_msgs/msg/Imagee")
    with pytest.raises(TypeError, match="encodng"):
        factory.new("sensor_msgs/msg/Image", encodng="16UC1")
    with pytest.raises(ValueError, match="needs 9 items"):
        factory.new("sensor_msgs/msg/CameraInfo", k=[1.0, 2.0])
    with pytest.raises(ValueError, match="unknown ROS 2 distribution"):
        RosbagsFactory("iron")


def test_rclpy_factory_maps_type_names_to_message_modules(monkeypatch):
    package, module = types.ModuleType("fake_msgs"), types.ModuleType("fake_msgs.msg")

    class Ping:
        def __init__(self, **fields):
            self.fields = fields

    module.Ping = Ping
    package.msg = module
    monkeypatch.setitem(sys.modules, "fake_msgs", package)
    monkeypatch.setitem(sys.modules, "fake_msgs.msg", module)
    rclpy_message_class.cache_clear()
    try:
        msg = RclpyFactory().new("fake_msgs/msg/Ping", data=1.0)
        assert isinstance(msg, Ping) and msg.fields == {"data": 1.0}
        with pytest.raises(ImportError, match="Pong"):
            RclpyFactory().new("fake_msgs/msg/Pong")
        with pytest.raises(ValueError, match="package/msg/Name"):
            RclpyFactory().new("Ping")
    finally:
        rclpy_message_class.cache_clear()


def test_topic_names_follow_realsense_ros():
    assert ALIGNED_DEPTH_TOPIC == "/camera/camera/aligned_depth_to_color/image_raw"
    assert COLOR_OPTICAL_FRAME == "camera_color_optical_frame"
