"""The sim bridge's ROS-free core: episodes, simulated clock, lockstep stepping, command conversion."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mtdagger import keys
from mtdagger.control.action import ActionConvention
from mtdagger.perception.camera_model import CameraModel
from mtdagger.perception.frames import DepthFrame
from sim_bridge.backend import StepResult
from sim_bridge.lockstep import CLOCK_START_S, StartupTimeoutError
from sim_bridge.ros.bridge_core import SimBridgeConfig, SimBridgeCore, build_backend

os.environ.setdefault("MUJOCO_GL", "egl")
PERIOD = 0.0125


class FakeBackend:
    """A point hand that moves by the commanded displacement; success once it is 0.05 m up."""

    def __init__(self, max_episode_steps=3, move_camera=False):
        self.action_convention = ActionConvention(control_period_s=PERIOD, max_step_m=0.01)
        self.max_episode_steps = max_episode_steps
        self.move_camera = move_camera
        self.actions: list[np.ndarray] = []
        self.resets: list[tuple[str, int]] = []
        self._hand = np.zeros(3)
        self._steps = 0

    def task_names(self):
        return ["reach-v3", "drawer-open-v3"]

    def _observation(self):
        return {keys.STATE: np.array([*self._hand, 0.7], dtype=np.float32)}

    def reset(self, task, seed):
        self.resets.append((task, seed))
        self._hand = np.array([0.0, 0.6, 0.2])
        self._steps = 0
        return self._observation()

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        self.actions.append(action)
        self._hand = self._hand + action[:3]
        self._steps += 1
        success = self._hand[2] >= 0.25 - 1e-9
        return StepResult(self._observation(), success, self._steps >= self.max_episode_steps)

    def render_depth(self):
        pose = np.eye(4)
        pose[0, 3] = 0.1 * len(self.resets) if self.move_camera else 0.5
        camera = CameraModel(8, 6, 5.0, 5.0, 3.5, 2.5, pose)
        return DepthFrame(np.full((6, 8), 1.0, dtype=np.float32), camera)

    def make_expert(self, task):
        raise NotImplementedError

    def close(self):
        pass


def _core(backend=None, **config):
    options = {"tasks": ("reach-v3",), "episodes_per_task": 1, "seed": 100, "command_timeout_s": 0.5}
    options.update(config)
    backend = backend or FakeBackend()
    return SimBridgeCore(backend, SimBridgeConfig(**options)), backend


def test_begin_resets_the_first_episode_and_marks_its_start():
    core, backend = _core()
    frame = core.begin()
    assert backend.resets == [("reach-v3", 100)]
    assert frame.stamp_s == CLOCK_START_S and frame.camera_moved
    np.testing.assert_allclose(frame.ee_position, [0.0, 0.6, 0.2])
    assert frame.gripper_opening == pytest.approx(0.7)
    (marker,) = frame.markers
    assert marker["event"] == "start" and marker["task"] == "reach-v3" and marker["seed"] == 100


def test_lockstep_waits_for_the_command_answering_the_current_observation():
    core, backend = _core()
    frame = core.begin()
    assert not core.ready_to_step(wall_now_s=0.0)
    core.on_twist([0.0, 0.0, 0.8], stamp_s=frame.stamp_s)  # 0.8 m/s for 12.5 ms = 1 cm
    assert core.ready_to_step(wall_now_s=0.001)
    after = core.step()
    np.testing.assert_allclose(backend.actions[0], [0.0, 0.0, 0.01, -1.0], atol=1e-7)
    assert after.stamp_s == pytest.approx(CLOCK_START_S + PERIOD)
    np.testing.assert_allclose(after.ee_position, [0.0, 0.6, 0.21], atol=1e-7)


def test_lockstep_pairs_the_gripper_with_the_twist_of_the_same_stamp():
    """gripper_interface 'topic': a step waits for both halves of the command, in either order."""
    core, backend = _core(pair_gripper_by_stamp=True)
    frame = core.begin()
    core.on_twist([0.0, 0.0, 0.8], stamp_s=frame.stamp_s)
    assert not core.ready_to_step(wall_now_s=0.0)  # the gripper of this step is still on its way
    core.on_gripper_goal(1.0, stamp_s=frame.stamp_s - PERIOD)  # an older step's gripper: not it
    assert not core.ready_to_step(wall_now_s=0.001)
    core.on_gripper_goal(1.0, stamp_s=frame.stamp_s)
    assert core.ready_to_step(wall_now_s=0.002)
    after = core.step()
    np.testing.assert_allclose(backend.actions[0], [0.0, 0.0, 0.01, 1.0], atol=1e-7)
    core.on_gripper_goal(0.0, stamp_s=after.stamp_s)  # gripper first, twist second
    assert not core.ready_to_step(wall_now_s=0.003)
    core.on_twist([0.0, 0.0, 0.0], stamp_s=after.stamp_s)
    assert core.ready_to_step(wall_now_s=0.004)
    core.step()
    assert backend.actions[1][3] == pytest.approx(-1.0)


def test_a_command_for_an_older_observation_is_not_applied_again():
    core, backend = _core()
    first = core.begin()
    core.on_twist([0.0, 0.0, 0.8], stamp_s=first.stamp_s)
    core.step()
    core.on_twist([0.0, 0.0, 0.8], stamp_s=first.stamp_s)  # late duplicate of the previous answer
    assert not core.ready_to_step(wall_now_s=10.0)
    assert not core.ready_to_step(wall_now_s=10.4)
    assert core.ready_to_step(wall_now_s=10.6)  # command_timeout_s 0.5 of wall time
    core.step()
    np.testing.assert_array_equal(backend.actions[1][:3], np.zeros(3))  # a hold, not a repeat


def test_no_first_command_is_a_startup_error_that_names_the_arm_controller():
    core, _ = _core(startup_timeout_s=5.0)
    core.begin()
    assert not core.ready_to_step(wall_now_s=100.0)
    assert not core.ready_to_step(wall_now_s=104.0)
    with pytest.raises(StartupTimeoutError, match="arm controller"):
        core.ready_to_step(wall_now_s=105.5)


def test_episode_end_is_marked_with_success_and_the_next_episode_starts_later():
    core, backend = _core(tasks=("reach-v3", "drawer-open-v3"), episodes_per_task=1)
    frame = core.begin()
    stamps = [frame.stamp_s]
    for _ in range(3):  # max_episode_steps
        core.on_twist([0.0, 0.0, 2.0], stamp_s=frame.stamp_s)  # 2.5 cm per step: 0.25 reached at step 2
        frame = core.step()
        stamps.append(frame.stamp_s)
    end, start = frame.markers
    assert end["event"] == "end" and end["task"] == "reach-v3"
    assert end["success"] is True and end["num_steps"] == 3 and end["notes"] == ""
    assert start["event"] == "start" and start["task"] == "drawer-open-v3" and start["seed"] == 101
    assert backend.resets == [("reach-v3", 100), ("drawer-open-v3", 101)]
    assert np.all(np.diff(stamps) > 0)  # the clock never goes back, also across the reset
    assert stamps[-1] == pytest.approx(CLOCK_START_S + 4 * PERIOD)


def test_held_steps_are_noted_and_a_failed_episode_is_marked_failed():
    core, _ = _core(command_timeout_s=0.1)
    frame = core.begin()
    core.on_twist([0.0, 0.0, 0.0], stamp_s=frame.stamp_s)
    frame = core.step()
    for wall in (1.0, 2.0):
        assert not core.ready_to_step(wall_now_s=wall)
        assert core.ready_to_step(wall_now_s=wall + 0.2)
        frame = core.step()
    (end,) = frame.markers
    assert end["success"] is False and end["notes"] == "2 step(s) held for lack of a command"


def test_after_the_last_episode_the_bridge_is_finished():
    core, _ = _core(episodes_per_task=1)
    frame = core.begin()
    for _ in range(3):
        core.on_twist([0.0, 0.0, 0.0], stamp_s=frame.stamp_s)
        frame = core.step()
    assert frame.finished and core.finished
    assert [m["event"] for m in frame.markers] == ["end"]
    assert not core.ready_to_step(wall_now_s=0.0)
    with pytest.raises(RuntimeError, match="after the last episode"):
        core.step()


def test_free_running_mode_applies_the_latest_command_once_then_holds():
    core, backend = _core(lockstep=False)
    core.begin()
    assert core.ready_to_step(wall_now_s=0.0)  # the wall-clock timer sets the pace
    core.on_twist([0.8, 0.0, 0.0], stamp_s=0.0)  # any stamp: no lockstep matching
    core.step()
    core.step()
    np.testing.assert_allclose(backend.actions[0][:3], [0.01, 0.0, 0.0], atol=1e-7)
    np.testing.assert_array_equal(backend.actions[1][:3], np.zeros(3))


def test_gripper_goals_become_convention_commands():
    core, backend = _core(gripper_open_position_m=0.04, gripper_closed_position_m=0.0)
    frame = core.begin()
    assert core.on_gripper_goal(0.0) == pytest.approx(1.0)  # closed
    assert core.on_gripper_goal(0.04) == pytest.approx(-1.0)  # open
    assert core.on_gripper_goal(0.02) == pytest.approx(0.0)
    assert core.on_gripper_goal(0.5) == pytest.approx(-1.0)  # beyond open: clipped
    assert core.on_gripper_goal(float("nan")) == pytest.approx(-1.0)  # ignored, keeps the last
    core.on_gripper_goal(0.01)
    core.on_twist([0.0, 0.0, 0.0], stamp_s=frame.stamp_s)
    core.step()
    assert backend.actions[0][3] == pytest.approx(0.5)


def test_non_finite_twists_are_ignored():
    core, _ = _core()
    frame = core.begin()
    core.on_twist([np.nan, 0.0, 0.0], stamp_s=frame.stamp_s)
    core.on_twist([0.0, 0.0], stamp_s=frame.stamp_s)
    assert not core.ready_to_step(wall_now_s=0.0)


def test_a_moved_camera_is_reported_so_tf_static_is_resent():
    core, _ = _core(backend=FakeBackend(max_episode_steps=1, move_camera=True), episodes_per_task=2)
    first = core.begin()
    core.on_twist([0.0, 0.0, 0.0], stamp_s=first.stamp_s)
    second = core.step()  # episode 1 ends, episode 2 starts with a moved camera
    assert first.camera_moved and second.camera_moved
    core_static, _ = _core(backend=FakeBackend(max_episode_steps=2))
    frame = core_static.begin()
    core_static.on_twist([0.0, 0.0, 0.0], stamp_s=frame.stamp_s)
    assert not core_static.step().camera_moved


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tasks": ()}, "at least one task"),
        ({"episodes_per_task": -1}, ">= 0"),
        ({"command_timeout_s": 0.0}, "positive"),
        ({"gripper_open_position_m": 1.0, "gripper_closed_position_m": 1.0}, "must differ"),
    ],
)
def test_bad_bridge_settings_are_refused(changes, message):
    options = {"tasks": ("reach-v3",), **changes}
    with pytest.raises(ValueError, match=message):
        SimBridgeConfig(**options)


@pytest.mark.integration
def test_metaworld_backend_through_the_bridge_core():
    """The node's own backend recipe (the in-process runtime's camera config) steps real MetaWorld."""
    backend = build_backend(
        "metaworld", ["reach-v3"], "configs/cameras/metaworld_d435.yaml", "none", False, 0, 10
    )
    try:
        core = SimBridgeCore(backend, SimBridgeConfig(tasks=("reach-v3",), episodes_per_task=1, seed=3))
        assert core.period_s == pytest.approx(0.0125)
        frame = core.begin()
        depth = frame.depth.depth_m
        assert depth.shape == (120, 160) and 0.3 < float(np.nanmedian(depth[depth > 0])) < 3.0  # metres
        start = frame.ee_position.copy()
        for _ in range(6):
            core.on_twist([0.0, 0.0, 0.4], stamp_s=frame.stamp_s)  # 5 mm per step, upward
            frame = core.step()
        moved = frame.ee_position - start
        # 30 mm commanded; the mocap-driven hand lags by a few steps (measured: ~14 mm after 6).
        assert 0.008 < moved[2] < 0.031 and np.all(np.abs(moved[:2]) < 0.003)
        assert frame.stamp_s == pytest.approx(CLOCK_START_S + 6 * 0.0125)
    finally:
        backend.close()


def test_a_lockstep_wait_republishes_the_observation_without_repeating_markers():
    core, _ = _core(republish_period_s=0.25)
    frame = core.begin()
    assert core.frame_to_republish(wall_now_s=0.0) is None  # before any wait
    assert not core.ready_to_step(wall_now_s=50.0)  # the wait starts
    assert core.frame_to_republish(wall_now_s=50.1) is None
    again = core.frame_to_republish(wall_now_s=50.3)
    assert again is not None and again.stamp_s == frame.stamp_s and again.markers == ()
    assert not again.camera_moved  # /tf_static is latched: no need to send it again
    assert core.frame_to_republish(wall_now_s=50.4) is None  # next one due at 50.5
    assert core.frame_to_republish(wall_now_s=50.55) is not None
    core.on_twist([0.0, 0.0, 0.0], stamp_s=frame.stamp_s)
    assert core.ready_to_step(wall_now_s=50.6)
    core.step()
    assert core.frame_to_republish(wall_now_s=50.7) is None  # a new observation: a new wait
