"""Simulated depth camera: config, geometry of the rendered depth, noise model, randomisation.

The integration tests render MetaWorld scenes and check the camera against ground truth that does
not come from the renderer: MuJoCo's ray caster (mj_ray) along each pixel's ray, and the analytic
surfaces of known geoms computed from their poses and sizes.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from mtdagger.perception.camera_model import CameraModel, look_at_rotation
from sim_bridge.camera.depth_noise import (
    CameraRandomizationConfig,
    DepthNoiseConfig,
    apply_depth_noise,
    randomize_camera,
    rotation_angle_deg,
)
from sim_bridge.camera.sim_camera import SimCameraConfig, quaternion_xyzw_to_matrix

os.environ.setdefault("MUJOCO_GL", "egl")

# ---------------------------------------------------------------------- config and pose


def test_look_at_rotation_is_an_optical_frame_pointing_at_the_target():
    position, target = np.array([0.8, -0.05, 0.65]), np.array([0.1, 0.65, 0.05])
    rotation = look_at_rotation(position, target, np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    forward = (target - position) / np.linalg.norm(target - position)
    np.testing.assert_allclose(rotation[:, 2], forward, atol=1e-12)  # optical z looks at the target
    assert rotation[2, 1] < 0  # optical y (image down) points downwards in the world
    assert abs(rotation[2, 0]) < 1e-12  # no roll: image x stays horizontal


def test_look_at_rejects_degenerate_poses():
    with pytest.raises(ValueError, match="coincides"):
        look_at_rotation(np.zeros(3), np.zeros(3), np.array([0.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="parallel"):
        look_at_rotation(np.array([0.0, 0.0, 1.0]), np.zeros(3), np.array([0.0, 0.0, 1.0]))


def test_quaternion_pose_matches_the_equivalent_look_at_pose():
    # Looking straight down with image-up = base +y is a 180 degree turn about base x: q = (1, 0, 0, 0).
    look = SimCameraConfig(position=(0.0, 0.6, 1.0), look_at=(0.0, 0.6, 0.0), up=(0.0, 1.0, 0.0))
    by_quaternion = SimCameraConfig.from_dict({"position": [0.0, 0.6, 1.0], "quaternion_xyzw": [1, 0, 0, 0]})
    np.testing.assert_allclose(
        look.camera_model().T_base_camera, by_quaternion.camera_model().T_base_camera, atol=1e-12
    )
    np.testing.assert_allclose(
        look.camera_model().T_base_camera[:3, :3], np.diag([1.0, -1.0, -1.0]), atol=1e-12
    )
    half = np.sqrt(0.5)
    np.testing.assert_allclose(
        quaternion_xyzw_to_matrix((0.0, 0.0, half, half)), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12
    )


def test_default_yaml_is_the_documented_decimated_d435_and_sees_the_whole_workspace():
    config = SimCameraConfig.from_yaml("configs/cameras/metaworld_d435.yaml")
    assert config == SimCameraConfig()  # the dataclass defaults and the shipped YAML agree
    assert (config.width, config.height) == (160, 120)
    assert config.fx == config.fy == pytest.approx(615 / 4, rel=1e-3)
    assert (config.cx, config.cy) == ((config.width - 1) / 2, (config.height - 1) / 2)
    assert not config.noise.enabled and not config.randomization.enabled
    camera = config.camera_model()
    corners = np.array(list(itertools.product([-0.5, 0.5], [0.4, 0.9], [0.0, 0.3])))
    T_camera_base = np.linalg.inv(camera.T_base_camera)
    optical = corners @ T_camera_base[:3, :3].T + T_camera_base[:3, 3]
    assert np.all(optical[:, 2] > 0.3)  # in front of the camera, beyond the D435's minimum range
    u = camera.fx * optical[:, 0] / optical[:, 2] + camera.cx
    v = camera.fy * optical[:, 1] / optical[:, 2] + camera.cy
    assert np.all((u >= 0) & (u <= camera.width - 1) & (v >= 0) & (v <= camera.height - 1))


def test_camera_config_rejects_bad_input_with_the_offending_field(tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        SimCameraConfig(quaternion_xyzw=(0, 0, 0, 1))  # look_at default still set
    with pytest.raises(ValueError, match="unit quaternion"):
        SimCameraConfig.from_dict({"quaternion_xyzw": [0, 0, 0, 2]})
    with pytest.raises(ValueError, match="position"):
        SimCameraConfig(position=(0.0, float("nan"), 1.0))
    with pytest.raises(ValueError, match="focal"):
        SimCameraConfig(fx=0.0)
    bad = tmp_path / "bad.yaml"
    bad.write_text("width: 160\nfocal: 100\n")
    with pytest.raises(ValueError, match="focal"):
        SimCameraConfig.from_yaml(bad)
    with pytest.raises(FileNotFoundError):
        SimCameraConfig.from_yaml(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="depth noise"):
        SimCameraConfig(noise="loud")
    with pytest.raises(ValueError, match="seed"):
        SimCameraConfig(seed=-1)


def test_noise_presets_load_from_yaml_values():
    config = SimCameraConfig.from_dict({"noise": "realsense", "randomization": {"translation_m": 0.01}})
    assert config.noise == DepthNoiseConfig.realsense()
    assert config.randomization.translation_m == 0.01
    assert config.randomization.rotation_deg == 0.0
    jitter = SimCameraConfig.from_dict({"randomization": "default"}).randomization
    assert jitter == CameraRandomizationConfig.default() and jitter.enabled


# ---------------------------------------------------------------------- noise model


def _flat(depth: float, shape=(200, 200)) -> np.ndarray:
    return np.full(shape, depth, dtype=np.float32)


def test_noise_is_off_by_default_and_returns_an_unchanged_copy():
    depth = _flat(1.0)
    noisy = apply_depth_noise(depth, DepthNoiseConfig(), np.random.default_rng(0))
    np.testing.assert_array_equal(noisy, depth)
    assert noisy is not depth


def test_noise_sigma_grows_with_the_square_of_depth():
    config = DepthNoiseConfig(sigma_at_1m_m=0.004)
    rng = np.random.default_rng(1)
    near = apply_depth_noise(_flat(0.5), config, rng)
    one = apply_depth_noise(_flat(1.0), config, rng)
    far = apply_depth_noise(_flat(2.0), config, rng)
    assert np.std(one) == pytest.approx(0.004, rel=0.05)
    assert np.std(far) / np.std(near) == pytest.approx(16.0, rel=0.1)  # (2.0 / 0.5) ** 2
    assert np.mean(far) == pytest.approx(2.0, abs=1e-3)  # unbiased


def test_quantisation_rounds_to_whole_millimetres():
    config = DepthNoiseConfig(sigma_at_1m_m=0.004, quantization_m=0.001)
    noisy = apply_depth_noise(_flat(1.2345), config, np.random.default_rng(2)).astype(np.float64)
    millimetres = noisy / 0.001
    np.testing.assert_allclose(millimetres, np.round(millimetres), atol=1e-3)
    assert len(np.unique(noisy)) > 5  # noise survives quantisation at this sigma


def test_random_dropout_fraction_matches_the_configured_probability():
    noisy = apply_depth_noise(_flat(1.0), DepthNoiseConfig(dropout_prob=0.1), np.random.default_rng(3))
    lost = np.mean(noisy == 0.0)
    assert lost == pytest.approx(0.1, abs=0.01)
    assert np.all(noisy[noisy > 0] == np.float32(1.0))  # survivors untouched without Gaussian noise


def test_edge_dropout_only_hits_depth_discontinuities():
    depth = _flat(1.0, shape=(50, 50))
    depth[:, 25:] = 1.5  # a vertical step edge between columns 24 and 25
    noisy = apply_depth_noise(
        depth, DepthNoiseConfig(edge_dropout_prob=1.0, edge_threshold_m=0.02), np.random.default_rng(4)
    )
    lost_columns = np.unique(np.nonzero(noisy == 0.0)[1])
    np.testing.assert_array_equal(lost_columns, [24, 25])
    assert np.all(noisy[:, 24] == 0) and np.all(noisy[:, 25] == 0)


def test_invalid_pixels_stay_invalid_and_never_gain_noise():
    depth = _flat(1.0, shape=(20, 20))
    depth[0, 0], depth[1, 1], depth[2, 2] = 0.0, np.nan, np.inf
    noisy = apply_depth_noise(depth, DepthNoiseConfig.realsense(), np.random.default_rng(5))
    assert noisy[0, 0] == 0.0 and noisy[1, 1] == 0.0 and noisy[2, 2] == 0.0
    assert np.all(np.isfinite(noisy))


def test_noise_is_reproducible_from_the_seed():
    config = DepthNoiseConfig.realsense()
    depth = np.linspace(0.4, 2.0, 120 * 160, dtype=np.float32).reshape(120, 160)
    first = apply_depth_noise(depth, config, np.random.default_rng(7))
    again = apply_depth_noise(depth, config, np.random.default_rng(7))
    other = apply_depth_noise(depth, config, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(
    "field, value",
    [
        ("sigma_at_1m_m", -0.001),
        ("dropout_prob", 1.5),
        ("edge_dropout_prob", -0.1),
        ("quantization_m", np.inf),
    ],
)
def test_noise_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        DepthNoiseConfig(**{field: value})


# ---------------------------------------------------------------------- randomisation


def test_randomisation_stays_within_bounds_and_changes_the_camera():
    nominal = SimCameraConfig().camera_model()
    config = CameraRandomizationConfig(translation_m=0.02, rotation_deg=3.0, focal_scale=0.05)
    rng = np.random.default_rng(11)
    shifts, angles, scales = [], [], []
    for _ in range(300):
        camera = randomize_camera(nominal, config, rng)
        shifts.append(camera.T_base_camera[:3, 3] - nominal.T_base_camera[:3, 3])
        relative = nominal.T_base_camera[:3, :3].T @ camera.T_base_camera[:3, :3]
        angles.append(rotation_angle_deg(relative))
        scales.append(camera.fx / nominal.fx)
        assert camera.fy / nominal.fy == pytest.approx(camera.fx / nominal.fx)
        assert (camera.width, camera.height, camera.cx, camera.cy) == (160, 120, nominal.cx, nominal.cy)
    shifts, angles, scales = np.array(shifts), np.array(angles), np.array(scales)
    assert np.all(np.abs(shifts) <= 0.02) and np.max(np.abs(shifts)) > 0.015  # bound used, not exceeded
    assert np.all(angles <= 3.0 + 1e-9) and np.max(angles) > 2.5
    assert np.all(np.abs(scales - 1) <= 0.05) and np.max(np.abs(scales - 1)) > 0.04


def test_disabled_randomisation_keeps_the_nominal_camera():
    nominal = SimCameraConfig().camera_model()
    assert randomize_camera(nominal, CameraRandomizationConfig(), np.random.default_rng(0)) is nominal


@pytest.mark.parametrize(
    "field, value", [("translation_m", -0.1), ("rotation_deg", 200.0), ("focal_scale", 1.0)]
)
def test_randomisation_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        CameraRandomizationConfig(**{field: value})


# ---------------------------------------------------------------------- rendering (MetaWorld)


def _backend(task: str, camera: SimCameraConfig | None = None):
    from sim_bridge.metaworld.backend import MetaWorldBackendConfig

    config = MetaWorldBackendConfig(tasks=(task,), camera=camera or SimCameraConfig(), render_depth=False)
    return config.build()


def _back_project(depth: np.ndarray, camera: CameraModel, mask: np.ndarray) -> np.ndarray:
    """Pixels in `mask` -> base-frame points, with the camera model only (X = (u - cx) z / fx ...)."""
    v, u = np.nonzero(mask)
    z = depth[v, u].astype(np.float64)
    optical = np.stack([(u - camera.cx) * z / camera.fx, (v - camera.cy) * z / camera.fy, z], axis=1)
    return optical @ camera.T_base_camera[:3, :3].T + camera.T_base_camera[:3, 3]


def _geom_surface_distance(points_local: np.ndarray, geom_type: int, size: np.ndarray) -> np.ndarray:
    """|signed distance| from points (geom frame) to a box, cylinder or sphere surface."""
    import mujoco

    if geom_type == mujoco.mjtGeom.mjGEOM_BOX:
        excess = np.abs(points_local) - size
        outside = np.linalg.norm(np.maximum(excess, 0.0), axis=1)
        return np.abs(outside + np.minimum(excess.max(axis=1), 0.0))
    if geom_type == mujoco.mjtGeom.mjGEOM_CYLINDER:
        radial = np.linalg.norm(points_local[:, :2], axis=1) - size[0]
        axial = np.abs(points_local[:, 2]) - size[1]
        excess = np.stack([radial, axial], axis=1)
        outside = np.linalg.norm(np.maximum(excess, 0.0), axis=1)
        return np.abs(outside + np.minimum(excess.max(axis=1), 0.0))
    if geom_type == mujoco.mjtGeom.mjGEOM_SPHERE:
        return np.abs(np.linalg.norm(points_local, axis=1) - size[0])
    raise ValueError(f"geom type {geom_type} not handled by this test")


def _points_on_geom(backend, geom_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Back-projected points the segmentation attributes to `geom_name`, and their surface distances."""
    model, data = backend.physics
    geom_id = model.geom(geom_name).id
    frame = backend.render_depth()
    ids = backend.render_geom_ids()
    points_base = _back_project(frame.depth_m, frame.camera, (ids == geom_id) & (frame.depth_m > 0))
    T_world_base = backend.T_world_base
    points_world = points_base @ T_world_base[:3, :3].T + T_world_base[:3, 3]
    rotation = data.geom_xmat[geom_id].reshape(3, 3)
    local = (points_world - data.geom_xpos[geom_id]) @ rotation
    return points_base, _geom_surface_distance(local, int(model.geom_type[geom_id]), model.geom_size[geom_id])


@pytest.mark.integration
@pytest.mark.parametrize("task, geom", [("push-v3", "objGeom"), ("peg-insert-side-v3", "peg")])
def test_segmented_geom_points_lie_on_the_geom_surface(task, geom):
    backend = _backend(task)
    try:
        backend.reset(task, seed=3)
        points, distance = _points_on_geom(backend, geom)
        assert len(points) >= 15, f"{geom} covers only {len(points)} pixels: camera does not see it"
        assert np.max(distance) < 0.005, f"max distance to the {geom} surface {np.max(distance):.4f} m"
        assert np.median(distance) < 0.001
    finally:
        backend.close()


def _yaw_quaternion_wxyz(degrees: float) -> np.ndarray:
    half = np.deg2rad(degrees) / 2
    return np.array([np.cos(half), 0.0, 0.0, np.sin(half)])


@pytest.mark.integration
def test_frames_stay_right_when_the_robot_base_is_moved_and_rotated():
    """The base is at the world origin in MetaWorld; move it and everything must follow the base."""
    from mtdagger import keys
    from sim_bridge.metaworld.backend import BASE_BODY

    backend = _backend("push-v3")
    try:
        backend.reset("push-v3", seed=3)
        model, data = backend.physics
        base = model.body(BASE_BODY).id
        model.body_pos[base] += np.array([0.04, -0.03, 0.0])
        model.body_quat[base] = _yaw_quaternion_wxyz(30.0)
        observation = backend.reset("push-v3", seed=3)
        T_world_base = backend.T_world_base
        assert rotation_angle_deg(T_world_base[:3, :3]) == pytest.approx(30.0, abs=1e-6)

        # The camera is mounted in the base frame, the puck is not: its points must still land on it.
        points, distance = _points_on_geom(backend, "objGeom")
        assert len(points) >= 15 and np.max(distance) < 0.005

        # State is the hand in the base frame.
        hand_world = data.body("hand").xpos
        expected = T_world_base[:3, :3].T @ (observation[keys.PRIVILEGED][:3] - T_world_base[:3, 3])
        np.testing.assert_allclose(observation[keys.STATE][:3], expected, atol=1e-5)
        assert not np.allclose(observation[keys.STATE][:3], hand_world, atol=1e-2)

        # A base-frame +x command moves the hand along the base's x axis, not the world's.
        start = observation[keys.STATE][:3].copy()
        for _ in range(10):
            observation = backend.step(np.array([0.004, 0.0, 0.0, -1.0])).observation
        moved = observation[keys.STATE][:3] - start
        assert moved[0] > 0.02
        assert abs(moved[1]) < 0.2 * moved[0]  # ignoring the 30 degree yaw would give |y/x| = 0.58
    finally:
        backend.close()


def _ray_cast_depth(backend, camera: CameraModel, stride: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """MuJoCo's ray caster through pixel centres: (pixel rows/cols, planar depth), -1 for a miss."""
    import mujoco

    model, data = backend.physics
    T_world_camera = backend.T_world_base @ camera.T_base_camera
    v, u = np.mgrid[0 : camera.height : stride, 0 : camera.width : stride]
    v, u = v.ravel(), u.ravel()
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones(u.size)], axis=1)
    rays_world = rays @ T_world_camera[:3, :3].T  # optical z component 1 -> hit distance = planar depth
    visible_groups = np.array([1, 1, 1, 0, 0, 0], dtype=np.uint8)  # the renderer's default geom groups
    origin = T_world_camera[:3, 3].copy()
    geom = np.zeros(1, dtype=np.int32)
    hits = np.array(
        [mujoco.mj_ray(model, data, origin, ray.copy(), visible_groups, 1, -1, geom) for ray in rays_world]
    )
    return np.stack([v, u], axis=1), hits


@pytest.mark.integration
@pytest.mark.parametrize(
    "intrinsics",
    [
        {},  # the shipped D435 camera: square pixels, centred principal point
        {"fx": 140.0, "fy": 170.0, "cx": 66.3, "cy": 70.8},  # anisotropic, off-centre: frustum math
    ],
)
def test_rendered_depth_equals_ray_cast_planar_depth(intrinsics):
    camera_config = SimCameraConfig(**intrinsics, show_sites=False)  # mj_ray does not see sites
    backend = _backend("drawer-open-v3", camera_config)
    try:
        backend.reset("drawer-open-v3", seed=0)
        frame = backend.render_depth()
        pixels, ray_depth = _ray_cast_depth(backend, frame.camera)
        rendered = frame.depth_m[pixels[:, 0], pixels[:, 1]]
        both = (ray_depth > 0) & (rendered > 0)
        assert both.sum() > 300
        error = np.abs(rendered[both] - ray_depth[both])
        # Silhouette pixels may resolve differently (rasterisation vs exact ray); the rest agree to 1 mm.
        assert np.mean(error < 0.001) > 0.98, f"only {np.mean(error < 0.001):.3f} of pixels agree"
        assert np.median(error) < 1e-4
    finally:
        backend.close()


@pytest.mark.integration
def test_table_top_back_projects_to_a_flat_plane_at_its_known_height():
    """Oblique view of the table top (z = 0): wrong intrinsics would tilt or bend the plane."""
    backend = _backend("reach-v3", SimCameraConfig(fx=150.0, fy=158.0, cx=81.0, cy=57.0))
    try:
        backend.reset("reach-v3", seed=0)
        model, _ = backend.physics
        table_top = next(
            i
            for i in range(model.ngeom)
            if model.body(model.geom_bodyid[i]).name == "tablelink"
            and model.geom_type[i] == 6
            and model.geom_group[i] == 1
            and model.geom_size[i][2] < 0.05
        )
        frame = backend.render_depth()
        mask = (backend.render_geom_ids() == table_top) & (frame.depth_m > 0)
        points = _back_project(frame.depth_m, frame.camera, mask)
        # The table top is a box 0.054 m thick: keep its upper face (x in +-0.7, y in [0.2, 1.0]).
        top = points[(np.abs(points[:, 0]) < 0.68) & (points[:, 1] > 0.22) & (points[:, 1] < 0.98)]
        assert len(top) > 5000  # most of the image is table
        assert np.ptp(top[:, 0]) > 0.8 and np.ptp(top[:, 1]) > 0.4  # spans the table, not a patch
        assert np.max(np.abs(top[:, 2])) < 0.001  # flat, at z = 0 in the base frame
        # Planar depth of a plane seen obliquely varies linearly with the image row: not radial distance.
        assert np.ptp(frame.depth_m[mask]) > 0.3
    finally:
        backend.close()


@pytest.mark.integration
def test_looking_straight_down_gives_constant_planar_depth():
    """Planar (not radial) depth: a plane parallel to the image has the same depth at every pixel."""
    camera = SimCameraConfig(position=(0.0, 0.6, 0.5), look_at=(0.0, 0.6, 0.0), up=(0.0, 1.0, 0.0))
    backend = _backend("reach-v3", camera)
    try:
        backend.reset("reach-v3", seed=0)
        model, _ = backend.physics
        frame = backend.render_depth()
        ids = backend.render_geom_ids()
        table_ids = [
            i for i in np.unique(ids) if i >= 0 and model.body(model.geom_bodyid[i]).name == "tablelink"
        ]
        mask = np.isin(ids, table_ids) & (frame.depth_m > 0)
        assert mask.mean() > 0.3
        np.testing.assert_allclose(frame.depth_m[mask], 0.5, atol=5e-4)
    finally:
        backend.close()
