"""The RealSense camera core, tested without a camera.

Synthetic Z16 frames go through pyrealsense2's `software_device` + `recorder` into a real
librealsense recording (.db3 with this pyrealsense2), which `RealSenseCamera` plays back through
`rs.pipeline`: the same code path as a live camera, minus USB enumeration.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

rs = pytest.importorskip(
    "pyrealsense2", reason="pyrealsense2 is not importable: camera tests need librealsense"
)

from calibration.extrinsics import Extrinsics  # noqa: E402
from mtdagger.camera.config import (  # noqa: E402
    RealSenseCameraConfig,
    load_camera_config,
    realsense_ros_parameters,
)
from mtdagger.camera.realsense import (  # noqa: E402
    CameraError,
    CameraNotFoundError,
    DistortedIntrinsicsWarning,
    RealSenseCamera,
    camera_model_from_intrinsics,
    connected_serials,
    depth_frame_to_metres,
    select_serial,
)
from mtdagger.camera.recording import SyntheticStream, write_synthetic_depth_recording  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, FPS = 128, 96, 30
DEPTH_STREAM = SyntheticStream(WIDTH, HEIGHT, fx=100.0, fy=101.0, ppx=63.25, ppy=47.75)
PLANE_MM, BOX_MM = 1000, 600
BOX_ROWS, BOX_COLS = slice(32, 64), slice(48, 80)
NUM_FRAMES = 5


def make_scene(index: int, rng: np.random.Generator) -> np.ndarray:
    """A table plane at 1 m with a box at 0.6 m, a few mm of noise, 10% dropouts and a hole."""
    depth = np.full((HEIGHT, WIDTH), PLANE_MM, np.uint16)
    depth[BOX_ROWS, BOX_COLS] = BOX_MM
    depth += rng.integers(0, 6, size=depth.shape).astype(np.uint16)
    depth[rng.random(depth.shape) < 0.1] = 0
    depth[70:90, 10:40] = 0
    return depth


@pytest.fixture(scope="module")
def scene_frames() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [make_scene(i, rng) for i in range(NUM_FRAMES)]


@pytest.fixture(scope="module")
def depth_recording(tmp_path_factory: pytest.TempPathFactory, scene_frames: list[np.ndarray]) -> Path:
    path = tmp_path_factory.mktemp("realsense") / "depth_only.db3"
    return write_synthetic_depth_recording(path, scene_frames, DEPTH_STREAM, fps=FPS, serial="8675309")


def read_all(config: RealSenseCameraConfig, extrinsics: Extrinsics | None = None) -> list:
    """Every frame of a recording. Generous per-frame timeouts keep a loaded CI machine from
    losing frames; the end is reached when no frame comes within a short wait."""
    with RealSenseCamera(config, extrinsics) as camera:
        frames = []
        while (frame := camera.read(timeout_ms=15000 if len(frames) < NUM_FRAMES else 300)) is not None:
            frames.append(frame)
    return frames


def playback(path: Path, **overrides) -> RealSenseCameraConfig:
    settings = {"recording_file": str(path), "decimation": 0, "align_to_color": False}
    settings.update(overrides)
    return RealSenseCameraConfig(**settings)


# ------------------------------------------------------------------------- exact round trip


def test_recording_plays_back_every_frame_with_exact_units_and_intrinsics(depth_recording, scene_frames):
    frames = read_all(playback(depth_recording))

    assert len(frames) == NUM_FRAMES
    units = np.float32(0.001)  # librealsense stores depth units as float32
    for sent, got in zip(scene_frames, frames):
        assert got.depth_m.dtype == np.float32 and got.depth_m.shape == (HEIGHT, WIDTH)
        # Z16 counts survive bit-exactly and the conversion is counts x depth units.
        assert np.array_equal(np.rint(got.depth_m / units).astype(np.uint16), sent)
        np.testing.assert_array_equal(got.depth_m, (sent * np.float64(units)).astype(np.float32))
        assert np.array_equal(got.depth_m == 0, sent == 0)  # invalid stays invalid (0)
    camera = frames[0].camera
    assert (camera.width, camera.height) == (WIDTH, HEIGHT)
    assert (camera.fx, camera.fy, camera.cx, camera.cy) == (100.0, 101.0, 63.25, 47.75)
    np.testing.assert_array_equal(camera.T_base_camera, np.eye(4))
    np.testing.assert_allclose([f.stamp_s for f in frames], np.arange(NUM_FRAMES) / FPS, atol=1e-6)


def test_read_returns_none_at_end_of_recording_and_camera_stops_cleanly(depth_recording):
    camera = RealSenseCamera(playback(depth_recording))
    with camera:
        assert camera.is_started
        for _ in range(NUM_FRAMES):
            assert camera.read(timeout_ms=15000) is not None
        assert camera.read(timeout_ms=300) is None
    assert not camera.is_started
    with pytest.raises(CameraError, match="not started"):
        camera.read()
    camera.stop()  # stopping twice is harmless


def test_calibration_pose_is_attached_to_every_frame(depth_recording):
    T = np.eye(4)
    T[:3, 3] = [0.4, -0.1, 0.7]
    T[:3, :3] = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    extrinsics = Extrinsics(T, "base_link", "camera_depth_optical_frame", "test-cal")
    frames = read_all(playback(depth_recording), extrinsics)
    assert len(frames) == NUM_FRAMES
    for frame in frames:
        np.testing.assert_array_equal(frame.camera.T_base_camera, T)


def test_colour_frame_calibration_is_refused_for_unaligned_depth(depth_recording):
    extrinsics = Extrinsics(np.eye(4), "base_link", "camera_color_optical_frame", "colour-cal")
    # align_to_color is requested, but the recording has no colour stream to align to.
    camera = RealSenseCamera(playback(depth_recording, align_to_color=True), extrinsics)
    with pytest.raises(CameraError, match="camera_color_optical_frame"):
        camera.start()
    assert not camera.is_started


# ------------------------------------------------------------------------------ decimation


@pytest.mark.parametrize("factor", [2, 4])
def test_decimation_divides_intrinsics_and_keeps_depth_plausible(depth_recording, scene_frames, factor):
    config = playback(depth_recording, decimation=factor)
    frames = read_all(config)

    assert len(frames) == NUM_FRAMES
    camera = frames[0].camera
    expected = (WIDTH // factor, HEIGHT // factor)
    assert (camera.width, camera.height) == config.expected_output_size((WIDTH, HEIGHT)) == expected
    # librealsense scales focal lengths and principal point by 1/factor.
    np.testing.assert_allclose(
        [camera.fx, camera.fy, camera.cx, camera.cy],
        np.array([100.0, 101.0, 63.25, 47.75]) / factor,
        rtol=1e-6,
    )
    depth = frames[0].depth_m
    assert depth.shape == (camera.height, camera.width)
    valid = depth[depth > 0]
    assert valid.min() >= BOX_MM / 1000 and valid.max() <= (PLANE_MM + 5) / 1000
    # The block median ignores dropouts, so only the big hole survives (as a few blocks).
    assert (
        np.count_nonzero(depth == 0) / depth.size
        < np.count_nonzero(scene_frames[0] == 0) / scene_frames[0].size
    )

    # Geometry: the box's 3-D centre from decimated depth + decimated intrinsics matches the
    # full-resolution one; librealsense's ppx/factor convention shifts it by (factor-1)/2 pixels.
    def box_centre(img: np.ndarray, cam) -> np.ndarray:
        v, u = np.nonzero(np.abs(img - BOX_MM / 1000) < 0.01)
        z = img[v, u]
        return np.array([((u - cam.cx) * z / cam.fx).mean(), ((v - cam.cy) * z / cam.fy).mean(), z.mean()])

    full = read_all(playback(depth_recording))[0]
    shift_m = (factor - 1) / 2 * (BOX_MM / 1000) / 100.0
    np.testing.assert_allclose(
        box_centre(depth, camera), box_centre(full.depth_m, full.camera), atol=shift_m + 2e-3
    )


def test_expected_output_size_matches_librealsense_padding(tmp_path):
    # 70x50 is not divisible by the factors: librealsense pads the decimated size up to a multiple of 4.
    stream = SyntheticStream(70, 50, fx=60.0, fy=60.0, ppx=34.2, ppy=24.7)
    path = write_synthetic_depth_recording(
        tmp_path / "odd.db3", [np.full((50, 70), 900, np.uint16)] * 2, stream
    )
    for factor in (2, 3, 5):
        config = playback(path, decimation=factor)
        with RealSenseCamera(config) as camera:
            frame = camera.read(timeout_ms=15000)
        assert frame is not None
        assert (frame.camera.width, frame.camera.height) == config.expected_output_size((70, 50))
        assert frame.depth_m.shape == (frame.camera.height, frame.camera.width)
        assert frame.camera.fx == pytest.approx(60.0 / factor)


# --------------------------------------------------------------------------------- filters


def test_filters_keep_shape_and_units_and_hole_filling_removes_holes(depth_recording):
    unfiltered = read_all(playback(depth_recording))
    filtered = read_all(
        playback(
            depth_recording,
            spatial={"enable": True},
            temporal={"enable": True},
            hole_filling={"enable": True},
        )
    )
    assert len(filtered) == NUM_FRAMES
    for before, after in zip(unfiltered, filtered):
        assert after.depth_m.shape == before.depth_m.shape == (HEIGHT, WIDTH)
        assert after.camera.to_dict() == before.camera.to_dict()
        # Still metres: the plane and the box sit where they were (filters run on disparity and back).
        assert np.median(after.depth_m[BOX_ROWS, BOX_COLS]) == pytest.approx(BOX_MM / 1000, abs=0.01)
        assert np.median(after.depth_m[:20]) == pytest.approx(PLANE_MM / 1000, abs=0.01)
        holes_before, holes_after = (
            np.count_nonzero(before.depth_m == 0),
            np.count_nonzero(after.depth_m == 0),
        )
        assert holes_after < 0.1 * holes_before


def test_hole_filling_alone_reduces_holes_without_inventing_nearer_surfaces(depth_recording):
    plain = read_all(playback(depth_recording))
    filled = read_all(
        playback(depth_recording, hole_filling={"enable": True, "mode": "farthest_from_around"})
    )
    for before, after in zip(plain, filled):
        assert np.count_nonzero(after.depth_m == 0) < np.count_nonzero(before.depth_m == 0) / 10
        was_valid = before.depth_m > 0
        np.testing.assert_array_equal(after.depth_m[was_valid], before.depth_m[was_valid])
        # The big hole lies on the 1 m plane: filled from the farthest neighbour, it stays ~1 m.
        patch = after.depth_m[72:88, 12:38]
        assert np.all((patch == 0) | (np.abs(patch - PLANE_MM / 1000) < 0.01))


def test_clip_distance_invalidates_far_depth(depth_recording):
    frames = read_all(playback(depth_recording, clip_distance_m=0.8))
    for frame in frames:
        assert frame.depth_m.max() <= 0.8
        assert np.median(frame.depth_m[BOX_ROWS, BOX_COLS]) == pytest.approx(0.6, abs=0.01)
        assert np.count_nonzero(frame.depth_m[:20]) == 0  # the 1 m plane is gone


# ------------------------------------------------------------------------------- alignment


def test_alignment_to_colour_then_decimation_gives_colour_intrinsics_over_factor(tmp_path, scene_frames):
    colour = SyntheticStream(2 * WIDTH, 2 * HEIGHT, fx=200.0, fy=200.0, ppx=127.5, ppy=95.5)
    path = write_synthetic_depth_recording(
        tmp_path / "rgbd.db3", scene_frames, DEPTH_STREAM, color_stream=colour
    )
    config = RealSenseCameraConfig(recording_file=str(path), align_to_color=True, decimation=4)
    extrinsics = Extrinsics(np.eye(4), "base_link", "camera_color_optical_frame", "colour-cal")
    with RealSenseCamera(config, extrinsics) as camera:
        assert camera.aligned_to_color
        frame = camera.read(timeout_ms=15000)
    assert frame is not None
    cam = frame.camera
    # Aligned depth lives on the colour grid; decimation then divides the colour intrinsics.
    assert (cam.width, cam.height) == (2 * WIDTH // 4, 2 * HEIGHT // 4)
    np.testing.assert_allclose([cam.fx, cam.fy, cam.cx, cam.cy], [50.0, 50.0, 127.5 / 4, 95.5 / 4])
    valid = frame.depth_m[frame.depth_m > 0]
    assert valid.size > 0.9 * frame.depth_m.size
    assert valid.min() >= BOX_MM / 1000 and valid.max() <= (PLANE_MM + 5) / 1000


# ------------------------------------------------------------------------------ bad inputs


def test_missing_recording_names_the_path(tmp_path):
    missing = tmp_path / "nowhere.db3"
    with pytest.raises(FileNotFoundError, match=r"nowhere\.db3"):
        RealSenseCamera(playback(missing)).start()


def test_file_that_is_not_a_recording_is_a_clear_camera_error(tmp_path):
    bogus = tmp_path / "bogus.db3"
    bogus.write_text("not a recording")
    with pytest.raises(CameraError, match=r"bogus\.db3"):
        RealSenseCamera(playback(bogus)).start()


def test_no_connected_camera_names_the_requested_serial():
    if connected_serials():
        pytest.skip("a RealSense is connected to this machine")
    with pytest.raises(CameraNotFoundError, match=r"'123456789'.*connected serials: none"):
        RealSenseCamera(RealSenseCameraConfig(serial_no="123456789")).start()
    with pytest.raises(CameraNotFoundError, match="serial_no not set"):
        RealSenseCamera(RealSenseCameraConfig()).start()


def test_select_serial_rules():
    assert select_serial("B", ["A", "B"]) == "B"
    assert select_serial(None, ["A"]) == "A"
    with pytest.raises(CameraNotFoundError, match=r"'C' not found; connected serials: A, B") as info:
        select_serial("C", ["A", "B"])
    assert info.value.requested == "C" and info.value.found == ["A", "B"]
    with pytest.raises(CameraNotFoundError, match="serial_no not set, connected serials: A, B"):
        select_serial(None, ["A", "B"])  # never pick one of several cameras at random


def test_depth_frame_to_metres_conversion_and_errors():
    z16 = np.array([[0, 1000], [2500, 65535]], np.uint16)
    np.testing.assert_allclose(depth_frame_to_metres(z16, 0.001), [[0.0, 1.0], [2.5, 65.535]], rtol=1e-6)
    np.testing.assert_allclose(
        depth_frame_to_metres(z16, 0.00025), [[0.0, 0.25], [0.625, 16.38375]], rtol=1e-6
    )
    clipped = depth_frame_to_metres(z16, 0.001, clip_distance_m=2.0)
    np.testing.assert_allclose(clipped, [[0.0, 1.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="uint16"):
        depth_frame_to_metres(z16.astype(np.float32), 0.001)
    with pytest.raises(ValueError, match="depth_scale"):
        depth_frame_to_metres(z16, 0.0)


def test_distorted_intrinsics_warn_and_rectified_ones_do_not():
    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height, intrinsics.fx, intrinsics.fy = 640, 480, 615.0, 615.0
    intrinsics.ppx, intrinsics.ppy = 320.0, 240.0
    intrinsics.model = rs.distortion.brown_conrady
    intrinsics.coeffs = [0.0] * 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = camera_model_from_intrinsics(intrinsics)
    assert (model.fx, model.cx, model.width) == (615.0, 320.0, 640)
    intrinsics.coeffs = [0.1, -0.05, 0.0, 0.0, 0.0]
    with pytest.warns(DistortedIntrinsicsWarning, match="distortion"):
        camera_model_from_intrinsics(intrinsics)


def test_synthetic_recording_rejects_wrong_suffix_and_frame_shape(tmp_path):
    with pytest.raises(ValueError, match=r"\.db3"):
        write_synthetic_depth_recording(tmp_path / "x.bag", [], DEPTH_STREAM)
    with pytest.raises(ValueError, match="depth frame 0"):
        write_synthetic_depth_recording(tmp_path / "x.db3", [np.zeros((10, 10), np.uint16)], DEPTH_STREAM)


# ---------------------------------------------------------------------------------- config


def test_config_validation_names_the_bad_field():
    with pytest.raises(ValueError, match="decimation"):
        RealSenseCameraConfig(decimation=9)
    with pytest.raises(ValueError, match="width"):
        RealSenseCameraConfig(width=0)
    with pytest.raises(ValueError, match="clip_distance_m"):
        RealSenseCameraConfig(clip_distance_m=-1.0)
    with pytest.raises(ValueError, match=r"hole_filling\.mode"):
        RealSenseCameraConfig(hole_filling={"enable": True, "mode": "magic"})
    with pytest.raises(ValueError, match=r"spatial\.magnitude"):
        RealSenseCameraConfig(spatial={"magnitude": 7})
    with pytest.raises(ValueError, match="unknown key"):
        RealSenseCameraConfig.from_dict({"widht": 640})


def test_shipped_d435_config_gives_the_simulated_camera_resolution():
    config = load_camera_config(REPO / "configs" / "cameras" / "realsense_d435.yaml")
    assert config.align_to_color and config.decimation == 4
    assert config.expected_output_size() == (160, 120)
    sim = REPO / "configs" / "cameras" / "metaworld_d435.yaml"
    if sim.is_file():  # written by the sim camera's owner
        import yaml

        sim_camera = yaml.safe_load(sim.read_text())
        assert (sim_camera["width"], sim_camera["height"]) == config.expected_output_size()
    assert RealSenseCameraConfig.from_dict(config.to_dict()) == config


def test_realsense_ros_parameters_mirror_the_config():
    config = load_camera_config(REPO / "configs" / "cameras" / "realsense_d435.yaml")
    params = realsense_ros_parameters(config)
    assert params["depth_module.depth_profile"] == params["rgb_camera.color_profile"] == "640,480,30"
    assert params["align_depth.enable"] is True
    assert params["decimation_filter.enable"] is True and params["decimation_filter.filter_magnitude"] == 4
    assert params["spatial_filter.enable"] is True and params["temporal_filter.enable"] is False
    assert params["hole_filling_filter.holes_fill"] == 1  # farthest_from_around
    assert params["clip_distance"] == 2.5
    assert "serial_no" not in params
    off = realsense_ros_parameters(RealSenseCameraConfig(decimation=0, serial_no="42", clip_distance_m=None))
    assert (
        off["decimation_filter.enable"] is False and off["clip_distance"] == -2.0 and off["serial_no"] == "42"
    )
