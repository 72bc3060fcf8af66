"""The FR3 drawer backend: protocol, determinism, the split, the action path, and the experts.

No rendering here (render_depth=False): the camera is tested in tests/test_fr3_cell.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from mtdagger import keys
from mtdagger.control.robot_config import load_robot_config
from mtdagger.control.trajectory_execution import command_points
from sim_bridge.backend import SimBackend, UnknownTaskError
from sim_bridge.fr3.config import OBJECT_ID, OBJECT_SPLIT, FR3BackendConfig
from sim_bridge.fr3.drawer_suite import HANDLE_TYPES, cabinet_spec, load_drawer_split, resolve_fr3_tasks
from sim_bridge.fr3.expert_check import check_experts
from sim_bridge.registry import backend_names, make_backend

pytest.importorskip("mujoco")


@pytest.fixture(scope="module")
def backend():
    backend = make_backend("fr3", render_depth=False)
    yield backend
    backend.close()


def test_registered_and_speaks_the_protocol_in_the_real_robots_terms(backend):
    assert "fr3" in backend_names()
    assert isinstance(backend, SimBackend)
    robot = load_robot_config("franka_fr3")
    convention = backend.action_convention
    assert convention.control_period_s == robot.safety.control_period_s == 0.05
    assert convention.max_step_m == pytest.approx(robot.safety.max_speed_m_s * 0.05)
    # Steps execute as the real arm controller's joint trajectories (robot config: 0.15 s).
    assert convention.trajectory_time_s == robot.controllers.trajectory_time_from_start_s == 0.15
    assert backend.execution_law == robot.execution_law()
    assert backend.task_names() == ["drawer-open", "drawer-close"]
    assert resolve_fr3_tasks("fr3_drawers") == ["drawer-open", "drawer-close"]
    with pytest.raises(UnknownTaskError, match="valid tasks"):
        resolve_fr3_tasks("drawer-open-v3")
    with pytest.raises(UnknownTaskError):
        backend.reset("reach-v3", seed=0)
    with pytest.raises(ValueError, match="objects"):
        FR3BackendConfig(objects="train")


def test_object_ids_make_fixed_cabinets_and_the_split_covers_every_handle_type():
    assert cabinet_spec(7) == cabinet_spec(7) and cabinet_spec(7) != cabinet_spec(8)
    split = load_drawer_split()
    assert split.seen == tuple(range(20)) and split.unseen == tuple(range(20, 30))
    for ids in (split.seen, split.unseen):
        assert {cabinet_spec(i).handle_type for i in ids} == set(HANDLE_TYPES)
    with pytest.raises(ValueError, match="non-negative"):
        cabinet_spec(-1)


def test_reset_is_a_pure_function_of_task_and_seed_and_draws_from_the_split(backend):
    first = backend.reset("drawer-open", seed=5)
    again = backend.reset("drawer-open", seed=5)
    np.testing.assert_array_equal(first[keys.PRIVILEGED], again[keys.PRIVILEGED])
    assert first[OBJECT_ID] == again[OBJECT_ID]
    seen = {backend.reset("drawer-open", seed=s)[OBJECT_ID] for s in range(12)}
    assert seen <= set(range(20)) and len(seen) > 3
    assert first[OBJECT_SPLIT] == "seen"
    assert first[keys.STATE].shape == (4,) and first[keys.STATE][3] == pytest.approx(1.0)  # open hand
    unseen = FR3BackendConfig(objects="unseen", render_depth=False).build()
    try:
        observation = unseen.reset("drawer-close", seed=5)
        assert 20 <= observation[OBJECT_ID] < 30 and observation[OBJECT_SPLIT] == "unseen"
        assert observation[keys.PRIVILEGED][7] > 0.5 * unseen.cabinet.travel  # close starts open
    finally:
        unseen.close()


def test_an_action_moves_the_tcp_by_that_displacement_with_the_gripper_kept_down():
    """Each step's trajectory (0.15 s, a quintic to rest) is replaced after one period: the arm
    covers about half of each commanded displacement, in its direction, gripper kept down."""
    backend = FR3BackendConfig(render_depth=False).build()
    try:
        observation = backend.reset("drawer-open", seed=1)
        start = observation[keys.STATE][:3].copy()
        for _ in range(12):
            result = backend.step(np.array([0.008, -0.004, 0.0, -1.0], dtype=np.float32))
        moved = result.observation[keys.STATE][:3] - start
        # 12 x (8, -4) mm commanded; the Cartesian acceleration limit costs a few steps (measured:
        # 40.2, -19.9 mm).
        assert 0.03 < moved[0] < 0.05 and -0.025 < moved[1] < -0.015 and abs(moved[2]) < 0.004
        assert moved[1] / moved[0] == pytest.approx(-0.5, abs=0.03)
        np.testing.assert_allclose(backend.tcp_pose()[:3, 2], [0, 0, -1], atol=0.02)
        names, positions = backend.joint_state()
        assert names[:7] == load_robot_config("franka_fr3").joint_names and len(positions) == 9
    finally:
        backend.close()


def test_a_longer_trajectory_time_slows_the_arm_as_the_real_controller_would():
    """A longer time_from_start covers less of each target before the next one replaces it
    (measured: 0.1 s 56.9 mm, 0.2 s 30.6 mm for 12 x 8 mm)."""
    moved = []
    for trajectory_time in (0.1, 0.2):
        backend = FR3BackendConfig(render_depth=False, trajectory_time_s=trajectory_time).build()
        try:
            start = backend.reset("drawer-open", seed=1)[keys.STATE][:3].copy()
            for _ in range(12):
                result = backend.step(np.array([0.008, 0.0, 0.0, -1.0], dtype=np.float32))
            moved.append(float(result.observation[keys.STATE][0] - start[0]))
        finally:
            backend.close()
    assert 0.4 < moved[1] / moved[0] < 0.7, moved
    with pytest.raises(ValueError, match="trajectory_time_s"):
        FR3BackendConfig(trajectory_time_s=-1.0)


def test_a_ros_bridge_can_play_joint_trajectory_points_and_read_joint_states(backend):
    backend.reset("drawer-open", seed=4)
    _names, positions = backend.joint_state()
    start = backend.tcp_pose()
    target = backend.kinematics.solve(start[:3, 3] + [0.0, 0.03, -0.02], positions[:7]).joint_positions
    # What the arm controller sends, executed by the trajectory controller model: at rest on the
    # point after its time_from_start (plus settling of the servos).
    assert backend.execution.receive(command_points(target, backend.execution_law)) is None
    backend.play(backend.execution_law.trajectory_time_s + 0.1)
    np.testing.assert_allclose(backend.tcp_pose()[:3, 3], start[:3, 3] + [0.0, 0.03, -0.02], atol=0.002)
    backend.set_gripper(0.01)
    # No new trajectory: the arm holds. The fingers close at franka_gripper's 0.1 m/s of width
    # (sim_bridge/fr3/gripper.py): 0.04 -> 0.01 m per finger is 0.06 m of width, 0.6 s.
    backend.play(0.8)
    assert backend.joint_state()[1][7] == pytest.approx(0.01, abs=0.002)
    assert backend.observation()[keys.STATE][3] == pytest.approx(0.25, abs=0.05)
    assert backend.is_success() is False
    assert backend.camera.T_base_camera.shape == (4, 4) and "fr3_hand_tcp" in backend.urdf


def test_the_safety_filter_of_the_arm_controller_keeps_the_tcp_in_the_workspace(backend):
    backend.reset("drawer-open", seed=2)
    result = None
    for _ in range(60):
        result = backend.step(np.array([0.0, 0.0, 0.0125, 1.0], dtype=np.float32))
    z_max = load_robot_config("franka_fr3").safety.workspace_max[2]
    assert result.observation[keys.STATE][2] <= z_max + 0.003
    assert "workspace" in " ".join(result.info["safety_reasons"])


def test_bad_actions_are_refused_with_their_shape(backend):
    backend.reset("drawer-open", seed=0)
    with pytest.raises(ValueError, match="shape"):
        backend.step(np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        backend.step(np.array([np.nan, 0, 0, 0]))


def test_experts_succeed_on_seen_and_unseen_cabinets_of_every_handle_type():
    # Two seen and two unseen objects of each handle type are too many for the test budget; one
    # of each type per split, both tasks (12 episodes), in the 120 steps of an episode (the arm
    # covers half of each step: the real trajectory time). Full table: sim_bridge.fr3.expert_check.
    outcomes = check_experts(
        (0, 1, 2, 21, 22, 23), ("drawer-open", "drawer-close"), seeds=1, first_seed=7, max_episode_steps=120
    )
    failed = [(o.task, o.object_id, o.handle_type) for o in outcomes if not o.success]
    assert {o.split for o in outcomes} == {"seen", "unseen"}
    assert sum(o.success for o in outcomes) / len(outcomes) >= 0.95, f"expert failed on {failed}"
