"""FR3CellCore (sim_bridge/fr3/cell.py): the JTC the rehearsal's arm plays, its lockstep pairing
and its episode schedule, without ROS. A fake backend records what the JTC commands; one test
plays a trajectory on the real FR3 backend and checks the joints get there."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from mtdagger.control.trajectory_execution import ExecutionLaw, TrajectoryExecution
from sim_bridge.fr3.cell import FR3CellConfig, FR3CellCore, parse_objects
from sim_bridge.fr3.config import OBJECT_ID, OBJECT_SPLIT
from sim_bridge.fr3.model import ARM_JOINTS
from sim_bridge.lockstep import CLOCK_START_S, StartupTimeoutError

PERIOD = 0.05


class FakeBackend:
    """The FR3 backend's bridge surface: the shared trajectory execution model, no physics."""

    def __init__(self, split: str) -> None:
        self.split = split
        self.setpoint = np.zeros(len(ARM_JOINTS))
        self.commands: list[np.ndarray | None] = []
        self.gripper: list[float] = []
        self.opening = 0.0
        self.action_convention = SimpleNamespace(control_period_s=PERIOD)
        self.closed = False
        self.execution = TrajectoryExecution(ExecutionLaw(0.1, "positions", "desired"), self.setpoint)

    def reset(self, task, seed):
        self.setpoint = np.zeros(len(ARM_JOINTS))
        self.execution = TrajectoryExecution(ExecutionLaw(0.1, "positions", "desired"), self.setpoint)
        self.opening = 0.0
        return {OBJECT_ID: 3 if self.split == "seen" else 7, OBJECT_SPLIT: self.split}

    def render_depth(self):
        return SimpleNamespace(depth_m=np.ones((2, 2)), camera=None)

    def joint_state(self):
        return ARM_JOINTS, self.setpoint.copy()

    def tcp_pose(self):
        return np.eye(4)

    @property
    def physics(self):
        data = SimpleNamespace(
            actuator=lambda name: SimpleNamespace(ctrl=[self.setpoint[ARM_JOINTS.index(name)]])
        )
        return None, data

    def play(self, duration_s):
        self.execution.advance(duration_s)
        self.setpoint = self.execution.desired[0]
        self.commands.append(self.setpoint.copy())
        self.opening = float(self.setpoint[0])  # the drawer follows joint 1, for the success rule

    def set_gripper(self, position_m):
        self.gripper.append(position_m)

    def is_success(self):
        return self.opening >= 0.3

    @property
    def drawer_opening(self):
        return self.opening

    def close(self):
        self.closed = True


def make_core(**settings) -> tuple[FR3CellCore, list[FakeBackend]]:
    built: list[FakeBackend] = []

    def make(split):
        built.append(FakeBackend(split))
        return built[-1]

    config = FR3CellConfig(
        **{"tasks": ("drawer-open",), "objects": "seen", "max_episode_steps": 5, **settings}
    )
    return FR3CellCore(config, make_backend=make), built


def command(core: FR3CellCore, goal, time_s=0.1, wall=0.0) -> None:
    """What the arm controller sends for the current observation: gripper, trajectory, applied."""
    core.on_gripper(0.04, core.now_s)
    assert core.on_trajectory(list(ARM_JOINTS), [(np.asarray(goal, dtype=float), time_s)]) is None
    core.on_applied(core.now_s)


def test_a_trajectory_plays_like_a_jtc_replaced_by_the_next_one_and_held_at_its_end():
    core, built = make_core(max_episode_steps=10)
    core.begin()
    backend = built[0]
    goal = np.full(7, 0.2)
    command(core, goal, time_s=0.1)  # the real node config's 0.1 s: two control periods
    assert core.ready_to_step(0.0)
    core.step()
    np.testing.assert_allclose(backend.commands[-1], goal / 2, atol=0.003)  # half way (1 ms short)
    # No new trajectory for the next observation (IK refused): the old one plays on to its end.
    assert not core.ready_to_step(1.0)
    assert core.ready_to_step(12.0)  # the command timeout: step without a command
    core.step()
    np.testing.assert_allclose(backend.commands[-1], goal, atol=0.003)
    core.on_applied(core.now_s)
    core.on_gripper(0.04, core.now_s)
    core.step()
    np.testing.assert_allclose(backend.commands[-1], goal)  # held at the end point
    # A new trajectory starts from the current setpoint, not from the old segment's start.
    command(core, np.full(7, 0.4), time_s=0.1)
    core.step()
    np.testing.assert_allclose(backend.commands[-1], np.full(7, 0.3), atol=0.003)


def test_lockstep_waits_for_the_commands_of_this_observation_then_a_short_grace_for_the_trajectory():
    config = {"trajectory_grace_s": 0.05, "command_timeout_s": 5.0}
    core, _ = make_core(**config)
    core.begin()
    assert not core.ready_to_step(0.0)
    core.on_gripper(0.04, core.now_s - PERIOD)  # an older observation's goal does not count
    core.on_applied(core.now_s)
    assert not core.ready_to_step(0.01)
    core.on_gripper(0.04, core.now_s)
    assert not core.ready_to_step(0.02)  # paired; the trajectory may still be on its way
    assert core.ready_to_step(0.08)  # none came within the grace (IK refused): step anyway
    core.step()
    command(core, np.zeros(7))
    assert core.ready_to_step(10.0)  # with its trajectory: at once


def test_a_trajectory_a_jtc_would_refuse_is_refused():
    core, _ = make_core()
    core.begin()
    assert "not the arm's" in core.on_trajectory(["joint_a"] * 7, [(np.zeros(7), 0.1)])
    assert "without points" in core.on_trajectory(list(ARM_JOINTS), [])
    assert "non-finite" in core.on_trajectory(list(ARM_JOINTS), [(np.full(7, math.nan), 0.1)])
    # Joint order of the message is the message's own: mapped onto the arm's.
    reversed_names = list(reversed(ARM_JOINTS))
    assert core.on_trajectory(reversed_names, [(np.arange(7.0), 0.05)]) is None
    core.on_applied(core.now_s)
    core.on_gripper(0.0, core.now_s)
    core.step()
    np.testing.assert_allclose(core.backend.commands[-1], np.arange(7.0)[::-1], rtol=0.03)


def test_never_a_command_is_a_startup_timeout():
    core, _ = make_core(startup_timeout_s=1.0)
    core.begin()
    assert not core.ready_to_step(0.0)
    with pytest.raises(StartupTimeoutError, match="joint_trajectory"):
        core.ready_to_step(2.0)


def test_a_timeout_names_the_gripper_interface_the_cell_was_started_with():
    """rehearse.launch.py serves franka_gripper's action: the hint must not say 'topic' there."""
    for pair_gripper, interface in ((True, "'topic'"), (False, "'action'")):
        core, _ = make_core(startup_timeout_s=1.0, pair_gripper=pair_gripper)
        core.begin()
        assert not core.ready_to_step(0.0)
        with pytest.raises(StartupTimeoutError, match=f"gripper_interface {interface}.*ee_state"):
            core.ready_to_step(2.0)


def test_waiting_for_the_first_command_republishes_the_observation_with_its_own_stamp():
    """Paused, not frozen: while the graph comes up (a late ee_state, a policy still loading) the
    current observation goes out again every republish period, stamped as it was (a new stamp
    would be answered as a new observation); the episode then runs exactly as if the first command
    had come at once, however long the wait (the two rehearsal paths start at different speeds)."""

    def episode(wait_s: float) -> tuple[list, list]:
        core, _ = make_core(republish_period_s=1.0, max_episode_steps=3)
        first = core.begin()
        republished = []
        wall = 0.0
        assert not core.ready_to_step(wall)  # the first observation is out: the wait starts
        while wall < wait_s:
            wall += 0.25
            assert not core.ready_to_step(wall)
            again = core.frame_to_republish(wall)
            if again is not None:
                republished.append(again)
        assert core.now_s == first.stamp_s  # no step, no clock advance
        for frame in republished:
            assert frame.stamp_s == first.stamp_s and not frame.markers  # its stamp; its start marker once
            np.testing.assert_array_equal(frame.joint_positions, first.joint_positions)
        frames = []
        for k in range(3):
            command(core, np.full(7, 0.05 * (k + 1)))
            assert core.ready_to_step(wall)
            frames.append(core.step())
        return republished, [(f.stamp_s, tuple(f.joint_positions)) for f in frames]

    republished, after_wait = episode(wait_s=5.0)
    assert len(republished) == 5
    none, at_once = episode(wait_s=0.0)
    assert none == [] and after_wait == at_once
    assert [stamp for stamp, _ in at_once] == pytest.approx([CLOCK_START_S + k * PERIOD for k in (1, 2, 3)])


def test_episodes_run_seen_then_unseen_with_markers_success_and_a_fresh_backend_per_split():
    core, built = make_core(
        objects="both", tasks=("drawer-open", "drawer-close"), episodes_per_task=1, seed=4
    )
    assert core.config.schedule() == [
        ("seen", "drawer-open", 4), ("seen", "drawer-close", 1004),
        ("unseen", "drawer-open", 4), ("unseen", "drawer-close", 1004),
    ]  # fmt: skip  # `mtdagger eval`'s scenes: seed + 1000 * task index + episode
    frame = core.begin()
    assert frame.stamp_s == CLOCK_START_S and [m["event"] for m in frame.markers] == ["start"]
    assert frame.markers[0]["object_split"] == "seen" and frame.markers[0]["object"] == "cabinet-003"
    ends = []
    while not core.finished:
        command(core, np.full(7, 0.4), time_s=PERIOD)  # success (opening >= 0.3) after one step
        frame = core.step()
        ends += [m for m in frame.markers if m["event"] == "end"]
    assert [(e["task"], e["object_split"], e["success"], e["num_steps"]) for e in ends] == [
        ("drawer-open", "seen", True, 1), ("drawer-close", "seen", True, 1),
        ("drawer-open", "unseen", True, 1), ("drawer-close", "unseen", True, 1),
    ]  # fmt: skip
    assert [b.split for b in built] == ["seen", "unseen"] and built[0].closed
    assert frame.finished and core.results == ends


def test_an_episode_without_success_runs_to_max_steps_and_says_how_many_steps_had_no_command():
    core, _ = make_core(max_episode_steps=3)
    core.begin()
    for _ in range(2):
        command(core, np.zeros(7))
        core.step()
    frame = core.step()  # the third without a command
    (end,) = frame.markers
    assert end["success"] is False and end["num_steps"] == 3 and "1 step(s) without a command" in end["notes"]
    assert frame.finished


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ValueError, match="objects"):
        parse_objects("all")
    with pytest.raises(ValueError, match="episodes_per_task"):
        FR3CellConfig(episodes_per_task=0)
    with pytest.raises(ValueError, match="trajectory_grace_s"):
        FR3CellConfig(trajectory_grace_s=0.0)


@pytest.mark.integration
def test_the_real_fr3_backend_reaches_the_trajectory_point():
    """The JTC path on MuJoCo: a 0.1 rad move of every joint, played over 0.1 s, is reached."""
    core = FR3CellCore(FR3CellConfig(objects="seen", max_episode_steps=20))
    try:
        core.begin()
        _names, start = core.backend.joint_state()
        goal = start[:7] + 0.1
        command(core, goal, time_s=0.1)
        for _ in range(4):  # two periods to play it, two to settle
            core.step()
            core.on_applied(core.now_s)
            core.on_gripper(0.04, core.now_s)
        _names, reached = core.backend.joint_state()
        np.testing.assert_allclose(reached[:7], goal, atol=0.01)
        assert core.backend.tcp_pose().shape == (4, 4)
    finally:
        core.close()


def test_the_camera_sees_the_arm_move_after_a_step():
    """Each frame is rendered after the step (issue 8: the rehearsal's camera showed the
    episode's first image for the whole episode, so the policy never saw the drawer move)."""
    core = FR3CellCore(FR3CellConfig(objects="seen", max_episode_steps=20, backend=_rendering_backend()))
    try:
        first = core.begin().depth_m.copy()
        _names, start = core.backend.joint_state()
        command(core, start[:7] + np.array([0.3, 0.2, 0, -0.2, 0, 0.2, 0]), time_s=0.05)
        frame = None
        for _ in range(3):
            frame = core.step()
            core.on_applied(core.now_s)
            core.on_gripper(0.04, core.now_s)
        changed = np.abs(np.nan_to_num(frame.depth_m) - np.nan_to_num(first)) > 0.005
        assert changed.mean() > 0.002, "the depth image did not change while the arm moved"
    finally:
        core.close()


def _rendering_backend():
    from sim_bridge.fr3.config import FR3BackendConfig

    return FR3BackendConfig(render_depth=False)


@pytest.mark.integration
def test_the_expert_opens_a_drawer_through_the_arm_controller_core_and_the_cells_jtc():
    """What the rehearsal graph does, without ROS: actions through ArmControlCore in
    joint_trajectory mode with the real node config (0.1 s time_from_start, gripper threshold
    1.0), trajectories played by the cell. The scripted expert succeeds, so a rehearsal failure
    is the checkpoint's, not the cell's."""
    from scipy.spatial.transform import Rotation

    from mtdagger import keys
    from mtdagger.control.arm_command import ArmControlCore, ArmControlSettings
    from mtdagger.control.robot_config import load_robot_config
    from sim_bridge.fr3.experts import DrawerExpert

    robot = load_robot_config("franka_fr3")
    core = FR3CellCore(FR3CellConfig(tasks=("drawer-open",), objects="unseen", seed=3, max_episode_steps=120))
    try:
        frame = core.begin()
        arm = ArmControlCore(robot, ArmControlSettings("joint_trajectory", 1.0))
        arm.set_kinematics(core.backend.kinematics)
        expert = DrawerExpert("drawer-open", robot.safety.max_speed_m_s * robot.safety.control_period_s)
        trajectories = 0
        while not core.finished:
            T, now = frame.tcp_pose, frame.stamp_s
            arm.on_ee_pose(T[:3, 3], now, Rotation.from_matrix(T[:3, :3]).as_quat())
            arm.on_joint_state(frame.joint_names, frame.joint_positions)
            if frame.markers:
                assert arm.start_episode()
            action = expert.act(core.backend.observation()[keys.PRIVILEGED])
            command = arm.on_action(action, now, now)
            core.on_gripper(robot.gripper.position_m(float(command.applied.action[3])), now)
            if command.joint_positions is not None:
                points = [(p.positions, p.time_from_start_s, p.velocities, p.accelerations)
                          for p in arm.trajectory_points(command.joint_positions)]
                assert core.on_trajectory(list(arm.kinematics.joint_names), points) is None
                trajectories += 1
            core.on_applied(now)
            frame = core.step()
        (end,) = core.results
        assert end["object_split"] == "unseen" and end["success"], end
        assert end["num_steps"] < 120 and trajectories >= end["num_steps"] - 1
    finally:
        core.close()
