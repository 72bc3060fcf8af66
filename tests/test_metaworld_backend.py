"""MetaWorld backend: suites, action adapter, base-frame state, seeding, episode limits, registry."""

from __future__ import annotations

import dataclasses
import os
import pickle

import numpy as np
import pytest

from mtdagger import keys
from mtdagger.perception.frames import DepthFrame
from sim_bridge.backend import Expert, SimBackend, UnknownTaskError
from sim_bridge.camera.depth_noise import CameraRandomizationConfig, DepthNoiseConfig, rotation_angle_deg
from sim_bridge.camera.sim_camera import SimCameraConfig
from sim_bridge.metaworld.backend import (
    MetaWorldBackendConfig,
    convention_to_metaworld,
    metaworld_to_convention,
)
from sim_bridge.suites import MT10, MT50, SuitePreset, load_suite_preset, resolve_tasks, suite_name_for

os.environ.setdefault("MUJOCO_GL", "egl")


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    return q if np.linalg.det(q) > 0 else -q


# ---------------------------------------------------------------------- suites


def test_suites_match_metaworld_in_order():
    from metaworld.env_dict import MT10_V3, MT50_V3

    assert list(MT10) == list(MT10_V3)
    assert list(MT50) == list(MT50_V3)
    assert resolve_tasks("mt10") == list(MT10)
    assert resolve_tasks("MT50") == list(MT50)


def test_comma_separated_tasks_keep_their_order_and_are_validated():
    assert resolve_tasks(" drawer-open-v3, reach-v3 ") == ["drawer-open-v3", "reach-v3"]
    with pytest.raises(UnknownTaskError, match="drawer-opne-v3") as error:
        resolve_tasks("reach-v3,drawer-opne-v3")
    assert "drawer-open-v3" in str(error.value)  # the message lists the valid names
    with pytest.raises(ValueError, match="repeat"):
        resolve_tasks("reach-v3,reach-v3")
    with pytest.raises(ValueError, match="spec"):
        resolve_tasks("  ")


def test_suite_presets_carry_a_table_free_contract():
    assert suite_name_for("reach-v3,push-v3") == "mt10"
    assert suite_name_for("assembly-v3") == "mt50"
    preset = load_suite_preset("mt10")
    assert isinstance(preset, SuitePreset) and preset.name == "mt10"
    assert preset.point_cloud.workspace_min[2] > 0.0  # table top (z = 0) cropped out
    assert SimCameraConfig.from_yaml(preset.camera) == SimCameraConfig()
    assert load_suite_preset("mt50").point_cloud == preset.point_cloud


# ---------------------------------------------------------------------- action adapter


def test_action_adapter_round_trip_is_identity_within_range():
    rng = np.random.default_rng(0)
    for _ in range(50):
        R_world_base = _random_rotation(rng)
        # within range in the world frame after rotation: |component| <= 0.01 / sqrt(3)
        action = np.concatenate([rng.uniform(-0.0057, 0.0057, 3), rng.uniform(-1, 1, 1)])
        metaworld = convention_to_metaworld(action, R_world_base, 0.01)
        assert np.all(np.abs(metaworld) <= 1.0)
        back = metaworld_to_convention(metaworld, R_world_base.T, 0.01)
        np.testing.assert_allclose(back, action, atol=1e-6)


def test_action_adapter_scales_rotates_and_clips_like_metaworld():
    yaw90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # base x = world y
    metaworld = convention_to_metaworld(np.array([0.005, 0.0, -0.03, 2.0]), yaw90, 0.01)
    np.testing.assert_allclose(metaworld, [0.0, 0.5, -1.0, 1.0], atol=1e-7)  # z and gripper clipped
    convention = metaworld_to_convention(np.array([0.0, 3.0, 0.2, -4.0]), yaw90.T, 0.01)
    np.testing.assert_allclose(convention, [0.01, 0.0, 0.002, -1.0], atol=1e-7)
    assert convention.dtype == np.float32


# ---------------------------------------------------------------------- config and registry


def test_config_validates_tasks_and_is_picklable():
    config = MetaWorldBackendConfig(tasks=["reach-v3", "push-v3"], max_episode_steps=50)
    assert config.tasks == ("reach-v3", "push-v3")
    assert pickle.loads(pickle.dumps(config)) == config
    with pytest.raises(UnknownTaskError, match="reach-v4"):
        MetaWorldBackendConfig(tasks=("reach-v4",))
    with pytest.raises(ValueError, match="max_episode_steps"):
        MetaWorldBackendConfig(tasks=("reach-v3",), max_episode_steps=0)


def test_registry_names_backends_and_refuses_isaaclab_clearly():
    from sim_bridge.registry import backend_names, make_backend, make_backend_config

    assert backend_names() == ["metaworld", "fr3", "isaaclab"]
    assert isinstance(make_backend_config("metaworld", tasks=("reach-v3",)), MetaWorldBackendConfig)
    with pytest.raises(NotImplementedError, match="IsaacLab backend is not available"):
        make_backend("isaaclab", tasks=("reach-v3",))
    with pytest.raises(ValueError, match="unknown simulator backend 'gazebo'"):
        make_backend("gazebo")


# ---------------------------------------------------------------------- the live backend


@pytest.fixture(scope="module")
def backend():
    config = MetaWorldBackendConfig(
        tasks=("reach-v3", "drawer-open-v3"), render_depth=True, max_episode_steps=40
    )
    backend = config.build()
    yield backend
    backend.close()


@pytest.mark.integration
def test_backend_satisfies_the_protocol_and_reports_metaworld_timing(backend):
    assert isinstance(backend, SimBackend)
    convention = backend.action_convention
    assert convention.control_period_s == pytest.approx(5 * 0.0025)
    assert convention.max_step_m == pytest.approx(0.01)
    assert backend.task_names() == ["reach-v3", "drawer-open-v3"]
    assert isinstance(backend.make_expert("reach-v3"), Expert)


@pytest.mark.integration
def test_reset_observation_keys_shapes_and_base_frame_state(backend):
    observation = backend.reset("drawer-open-v3", seed=4)
    assert observation[keys.TASK_NAME] == "drawer-open-v3"
    assert observation[keys.TASK_INDEX] == 1
    state, privileged = observation[keys.STATE], observation[keys.PRIVILEGED]
    assert state.shape == (4,) and state.dtype == np.float32
    assert privileged.shape == (39,) and privileged.dtype == np.float32
    np.testing.assert_allclose(backend.T_world_base, np.eye(4), atol=1e-9)  # MetaWorld's base pose
    np.testing.assert_allclose(state, privileged[:4], atol=1e-6)  # identity base: hand xyz + gripper
    depth = observation[keys.DEPTH]
    assert depth.shape == (120, 160) and depth.dtype == np.float32
    assert 0.3 < np.median(depth[depth > 0]) < 2.5


@pytest.mark.integration
def test_reset_is_deterministic_per_seed_and_seeds_differ(backend):
    first = backend.reset("reach-v3", seed=7)
    again = backend.reset("reach-v3", seed=7)
    other = backend.reset("reach-v3", seed=8)
    np.testing.assert_array_equal(first[keys.PRIVILEGED], again[keys.PRIVILEGED])
    np.testing.assert_array_equal(first[keys.DEPTH], again[keys.DEPTH])
    goal = slice(36, 39)
    assert np.linalg.norm(first[keys.PRIVILEGED][goal] - other[keys.PRIVILEGED][goal]) > 1e-3
    # same actions from the same seed -> the same trajectory
    trajectories = []
    for _ in range(2):
        backend.reset("reach-v3", seed=7)
        states = [
            backend.step(np.array([0.003, -0.002, 0.004, 1.0])).observation[keys.STATE] for _ in range(5)
        ]
        trajectories.append(np.array(states))
    np.testing.assert_array_equal(trajectories[0], trajectories[1])


@pytest.mark.integration
def test_a_commanded_displacement_moves_the_hand_by_about_that_much(backend):
    observation = backend.reset("reach-v3", seed=1)
    start = observation[keys.STATE][:3].copy()
    for _ in range(20):
        observation = backend.step(np.array([0.0, 0.004, 0.0, -1.0])).observation
    moved = observation[keys.STATE][:3] - start
    assert moved[1] == pytest.approx(20 * 0.004, rel=0.25)  # mocap-welded hand lags a little
    assert abs(moved[0]) < 0.01 and abs(moved[2]) < 0.01


@pytest.mark.integration
def test_expert_speaks_the_convention(backend):
    observation = backend.reset("drawer-open-v3", seed=2)
    expert = backend.make_expert("drawer-open-v3")
    action = expert.act(observation[keys.PRIVILEGED])
    assert action.shape == (4,) and action.dtype == np.float32
    assert np.all(np.abs(action[:3]) <= 0.01 + 1e-7)  # metres per step, MetaWorld's reach per step
    assert -1.0 <= action[3] <= 1.0
    assert np.linalg.norm(action[:3]) > 1e-4  # it wants to move at the start of the task


@pytest.mark.integration
def test_episode_ends_at_max_steps_and_refuses_to_step_past_it(backend):
    backend.reset("reach-v3", seed=0)
    results = [backend.step(np.zeros(4)) for _ in range(40)]
    assert [r.done for r in results] == [False] * 39 + [True]
    assert all(isinstance(r.success, bool) for r in results)
    with pytest.raises(RuntimeError, match="episode is over"):
        backend.step(np.zeros(4))


@pytest.mark.integration
def test_bad_input_gets_clear_errors(backend):
    with pytest.raises(UnknownTaskError, match="push-v3") as error:
        backend.reset("push-v3", seed=0)  # a MetaWorld task, but not one of this backend's
    assert "reach-v3" in str(error.value)
    with pytest.raises(UnknownTaskError):
        backend.make_expert("push-v3")
    with pytest.raises(ValueError, match="non-negative"):
        backend.reset("reach-v3", seed=-1)
    backend.reset("reach-v3", seed=0)
    with pytest.raises(ValueError, match="shape"):
        backend.step(np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        backend.step(np.array([0.0, np.nan, 0.0, 0.0]))


def test_step_before_reset_is_refused():
    backend = MetaWorldBackendConfig(tasks=("reach-v3",), render_depth=False).build()
    with pytest.raises(RuntimeError, match="reset"):
        backend.step(np.zeros(4))
    with pytest.raises(RuntimeError, match="reset"):
        backend.render_depth()
    backend.close()


@pytest.mark.integration
def test_randomised_camera_is_drawn_per_reset_within_bounds_and_reproducible():
    randomization = CameraRandomizationConfig(translation_m=0.02, rotation_deg=2.0, focal_scale=0.02)
    camera = SimCameraConfig().with_randomization(randomization)
    backend = MetaWorldBackendConfig(tasks=("reach-v3",), camera=camera, render_depth=False).build()
    try:
        nominal = camera.camera_model()
        cameras = []
        for seed in (0, 1, 0):
            backend.reset("reach-v3", seed=seed)
            frame = backend.render_depth()
            assert isinstance(frame, DepthFrame) and frame.camera is backend.camera
            cameras.append(frame.camera)
        for cam in cameras:
            shift = cam.T_base_camera[:3, 3] - nominal.T_base_camera[:3, 3]
            assert np.all(np.abs(shift) <= 0.02) and np.linalg.norm(shift) > 0
            assert (
                rotation_angle_deg(nominal.T_base_camera[:3, :3].T @ cam.T_base_camera[:3, :3]) <= 2.0 + 1e-9
            )
            assert abs(cam.fx / nominal.fx - 1) <= 0.02
        np.testing.assert_array_equal(cameras[0].T_base_camera, cameras[2].T_base_camera)  # same seed
        assert not np.allclose(cameras[0].T_base_camera, cameras[1].T_base_camera)
    finally:
        backend.close()


@pytest.mark.integration
def test_report_nominal_camera_hands_out_the_nominal_model_but_renders_the_perturbed_one():
    randomization = CameraRandomizationConfig(translation_m=0.03, report_nominal_camera=True)
    camera = SimCameraConfig().with_randomization(randomization)
    backend = MetaWorldBackendConfig(tasks=("reach-v3",), camera=camera, render_depth=False).build()
    plain = MetaWorldBackendConfig(tasks=("reach-v3",), render_depth=False).build()
    try:
        backend.reset("reach-v3", seed=5)
        plain.reset("reach-v3", seed=5)
        frame = backend.render_depth()
        np.testing.assert_array_equal(frame.camera.T_base_camera, camera.camera_model().T_base_camera)
        assert not np.array_equal(backend.camera.T_base_camera, frame.camera.T_base_camera)
        assert not np.array_equal(frame.depth_m, plain.render_depth().depth_m)  # rendered from elsewhere
    finally:
        backend.close()
        plain.close()


@pytest.mark.integration
def test_noisy_camera_frames_are_noisy_and_reproducible_per_seed():
    camera = SimCameraConfig().with_noise(DepthNoiseConfig.realsense())
    backend = MetaWorldBackendConfig(tasks=("reach-v3",), camera=camera, render_depth=True).build()
    clean = MetaWorldBackendConfig(tasks=("reach-v3",), render_depth=True).build()
    try:
        noisy_a = backend.reset("reach-v3", seed=3)[keys.DEPTH]
        assert backend.render_depth().depth_m is noisy_a  # one frame per step, not re-drawn
        noisy_b = backend.reset("reach-v3", seed=3)[keys.DEPTH]
        exact = clean.reset("reach-v3", seed=3)[keys.DEPTH]
        np.testing.assert_array_equal(noisy_a, noisy_b)
        valid = (noisy_a > 0) & (exact > 0)
        assert 0 < np.mean(np.abs(noisy_a[valid] - exact[valid])) < 0.02
        assert np.mean((noisy_a == 0) & (exact > 0)) > 0.004  # dropouts happened
        millimetres = noisy_a[valid].astype(np.float64) * 1000
        np.testing.assert_allclose(millimetres, np.round(millimetres), atol=2e-3)
    finally:
        backend.close()
        clean.close()


@pytest.mark.integration
def test_the_first_frame_shows_this_episodes_goal_marker(backend):
    """MetaWorld moves the goal site only after a step; reset must place it, or the student's
    first cloud shows the previous episode's goal (reach/push/pick-place have no other cue)."""
    from mtdagger.perception.pointcloud import workspace_points

    contract = load_suite_preset("mt10").point_cloud
    for seed in (11, 12):  # the second reset would inherit the first one's marker
        observation = backend.reset("reach-v3", seed=seed)
        goal = observation[keys.GOAL_POSITION]
        points, _ = workspace_points(observation[keys.DEPTH], backend.camera, contract)
        assert np.min(np.linalg.norm(points - goal, axis=1)) < 0.025  # the 2 cm marker's surface


def test_a_noise_preset_with_an_episode_share_keeps_the_preset_fields():
    mixed = DepthNoiseConfig.from_value({"preset": "realsense", "episode_share": 0.75})
    assert mixed == dataclasses.replace(DepthNoiseConfig.realsense(), episode_share=0.75)
    with pytest.raises(ValueError, match="episode_share"):
        DepthNoiseConfig.from_value({"preset": "realsense", "episode_share": 1.5})
    with pytest.raises(ValueError, match="depth noise preset must be 'realsense'"):
        DepthNoiseConfig.from_value({"preset": "kinect"})


@pytest.mark.integration
def test_the_clean_share_of_episodes_renders_exact_depth_and_the_rest_noisy():
    """episode_share < 1: whole episodes are either exact or noisy, drawn per seed."""
    noise = dataclasses.replace(DepthNoiseConfig.realsense(), episode_share=0.5)
    mixed = MetaWorldBackendConfig(tasks=("reach-v3",), camera=SimCameraConfig().with_noise(noise)).build()
    clean = MetaWorldBackendConfig(tasks=("reach-v3",)).build()
    try:
        kinds = []
        for seed in range(12):
            first = mixed.reset("reach-v3", seed)[keys.DEPTH]
            exact = np.array_equal(first, clean.reset("reach-v3", seed)[keys.DEPTH])
            action = np.array([0.005, 0.0, 0.0, 0.0])
            later = np.array_equal(
                mixed.step(action).observation[keys.DEPTH], clean.step(action).observation[keys.DEPTH]
            )
            assert exact == later  # the episode keeps its draw
            kinds.append(exact)
        assert 0 < sum(kinds) < len(kinds)
        assert (
            mixed.reset("reach-v3", 3)[keys.DEPTH].tobytes()
            == mixed.reset("reach-v3", 3)[keys.DEPTH].tobytes()
        )
    finally:
        mixed.close()
        clean.close()


def _fingertips_to_goal_after(backend, expert, seed: int, steps: int) -> tuple[float, bool, np.ndarray]:
    """Run `expert` on reach-v3 for `steps`; (fingertip-goal distance at the end, any success,
    hand - fingertips at the end)."""
    observation = backend.reset("reach-v3", seed=seed)
    succeeded = False
    for _ in range(steps):
        result = backend.step(expert.act(observation[keys.PRIVILEGED]))
        observation, succeeded = result.observation, succeeded or result.success
    env = backend._env("reach-v3")
    distance = float(np.linalg.norm(env.tcp_center - env._target_pos))
    return distance, succeeded, env.get_endeff_pos() - env.tcp_center


@pytest.mark.integration
def test_the_reach_expert_puts_the_fingertips_on_the_goal_not_the_hand():
    """reach-v3 succeeds when the fingertips are within 5 cm of the goal; MetaWorld's policy drives
    the hand there, which leaves the fingertips 4.5 cm off, on the edge. Ours aims the fingertips."""
    from sim_bridge.metaworld.backend import HAND_ABOVE_FINGERTIPS_WORLD, MetaWorldExpert

    backend = MetaWorldBackendConfig(tasks=("reach-v3",), render_depth=False, max_episode_steps=80).build()
    try:
        for seed in (3, 11, 29):
            distance, succeeded, hand_minus_tips = _fingertips_to_goal_after(
                backend, backend.make_expert("reach-v3"), seed, 80
            )
            assert succeeded and distance < 0.02, (seed, distance)
            np.testing.assert_allclose(hand_minus_tips, HAND_ABOVE_FINGERTIPS_WORLD, atol=0.005)
        expert = backend.make_expert("reach-v3")
        metaworlds_own = MetaWorldExpert("reach-v3", expert._R_base_world, expert._action_scale)
        distance, _, _ = _fingertips_to_goal_after(backend, metaworlds_own, 3, 80)
        assert 0.04 < distance < 0.05  # what the aim corrects: converged, on the success radius's edge
    finally:
        backend.close()
