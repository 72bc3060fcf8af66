"""SafetyFilter: property tests that hunt for limit violations, plus one concrete case per reason code."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtdagger.control.robot_config import GripperConfig, load_robot_config
from mtdagger.control.safety import (
    STATUS_CLIPPED,
    STATUS_HELD,
    STATUS_OK,
    STATUS_STOPPED,
    SafetyFilter,
    SafetyLimits,
    braking_speed_limit,
)

PERIOD = 0.0125
BOX_MIN = (-0.5, 0.4, 0.05)
BOX_MAX = (0.5, 1.0, 0.5)
INSIDE = np.array([0.0, 0.7, 0.2])


def make_limits(**overrides) -> SafetyLimits:
    values = dict(workspace_min=BOX_MIN, workspace_max=BOX_MAX, max_speed_m_s=0.8, max_accel_m_s2=1000.0,
                  max_observation_age_s=0.1, max_action_age_s=0.1, control_period_s=PERIOD)
    values.update(overrides)
    return SafetyLimits(**values)


def fresh(position=INSIDE, **overrides) -> SafetyFilter:
    safety = SafetyFilter(make_limits(**overrides))
    safety.reset(position)
    return safety


def step(safety: SafetyFilter, action, position=INSIDE, now=1.0, observation=None, commanded=None):
    return safety.filter(action, ee_position=position, now_s=now,
                         observation_stamp_s=now if observation is None else observation,
                         action_stamp_s=now if commanded is None else commanded)


# ----------------------------------------------------------------------------- invariant checker

def velocity_tolerance(limits: SafetyLimits) -> float:
    """Float32 resolution of the applied displacement, in m/s (the only slack the filter may use)."""
    return 1e-9 * limits.max_delta_v_m_s + 1e-6 * limits.max_speed_m_s


def check_command(limits, position, previous_velocity, previous_gripper, action, command, exact_tracking):
    """Assert every limit on one applied command; return its velocity (0 for a hold)."""
    applied = command.action
    assert applied.dtype == np.float32 and applied.shape == (4,)
    assert np.all(np.isfinite(applied)) and np.all(np.isfinite(command.target_position))
    assert limits.gripper_min <= applied[3] <= limits.gripper_max
    requested = np.asarray(action, dtype=np.float64)
    if requested.shape != (4,) or not np.all(np.isfinite(requested)):
        assert command.status == STATUS_HELD
    if command.status in (STATUS_HELD, STATUS_STOPPED):
        assert np.all(applied[:3] == 0.0)
        assert applied[3] == np.float32(previous_gripper)
        np.testing.assert_array_equal(command.target_position, position)
        return np.zeros(3)

    velocity = applied[:3].astype(np.float64) / limits.control_period_s
    tolerance = velocity_tolerance(limits)
    assert np.linalg.norm(velocity) <= limits.max_speed_m_s + tolerance
    # Workspace: inside the box, or (already outside) not further out than the current position.
    low = np.minimum(limits.workspace_min, position) - 1e-12
    high = np.maximum(limits.workspace_max, position) + 1e-12
    assert np.all(command.target_position >= low) and np.all(command.target_position <= high), command
    np.testing.assert_allclose(command.target_position, position + applied[:3].astype(np.float64), atol=1e-15)
    if exact_tracking:
        assert "accel_overridden_by_workspace" not in command.reasons
    if "accel_overridden_by_workspace" not in command.reasons:
        change = np.linalg.norm(velocity - previous_velocity)
        assert change <= limits.max_delta_v_m_s + tolerance, (change, limits.max_delta_v_m_s)
    return velocity


def run_sequence(limits, start, actions, perturbations=None):
    """The robot integrates each applied command (plus an optional perturbation of its position)."""
    safety = SafetyFilter(limits)
    safety.reset(start)
    position = np.asarray(start, dtype=np.float64)
    velocity, gripper = np.zeros(3), safety.last_gripper
    commands = []
    for index, action in enumerate(actions):
        now = index * limits.control_period_s
        command = safety.filter(action, ee_position=position, now_s=now, observation_stamp_s=now,
                                action_stamp_s=now)
        velocity = check_command(limits, position, velocity, gripper, action, command,
                                 exact_tracking=perturbations is None)
        gripper = float(command.action[3])
        position = command.target_position.copy()
        if perturbations is not None:
            position = position + perturbations[index % len(perturbations)]
        commands.append(command)
    return commands


# ----------------------------------------------------------------------------- strategies

@st.composite
def limits_strategy(draw) -> SafetyLimits:
    low = np.array([draw(st.floats(-1.0, 1.0)) for _ in range(3)])
    size = np.array([draw(st.floats(0.02, 1.0)) for _ in range(3)])
    gripper_low = draw(st.floats(-1.0, 0.5))
    return SafetyLimits(
        workspace_min=tuple(low), workspace_max=tuple(low + size),
        max_speed_m_s=draw(st.floats(0.05, 3.0)), max_accel_m_s2=draw(st.floats(0.1, 300.0)),
        max_observation_age_s=0.1, max_action_age_s=0.1, control_period_s=draw(st.floats(0.005, 0.2)),
        gripper_min=gripper_low, gripper_max=draw(st.floats(gripper_low + 0.1, 1.5)),
    )


element = st.one_of(
    st.floats(-0.05, 0.05),
    st.floats(-1e6, 1e6),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 0.0, 5e-324]),
)
action_strategy = st.one_of(
    st.lists(element, min_size=4, max_size=4).map(np.array),
    st.lists(st.floats(-0.05, 0.05), min_size=4, max_size=4).map(np.array),
    st.lists(st.floats(-0.05, 0.05), min_size=0, max_size=6).map(np.array),  # wrong shapes too
)
fraction3 = st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)).map(np.array)


def start_inside(limits: SafetyLimits, fraction: np.ndarray) -> np.ndarray:
    low, high = np.array(limits.workspace_min), np.array(limits.workspace_max)
    return low + fraction * (high - low)


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- property tests

@PROPERTY
@given(limits=limits_strategy(), fraction=fraction3,
       actions=st.lists(action_strategy, min_size=1, max_size=60))
def test_arbitrary_actions_never_break_any_limit(limits, fraction, actions):
    run_sequence(limits, start_inside(limits, fraction), actions)


@PROPERTY
@given(limits=limits_strategy(), fraction=fraction3, axes=fraction3, amplitude=st.floats(0.5, 1e4),
       steps=st.integers(10, 150))
def test_adversarial_oscillation_respects_speed_accel_and_workspace(limits, fraction, axes, amplitude, steps):
    """+max, -max, +max ... on a random direction: the worst case for the acceleration bound."""
    direction = np.sign(axes - 0.5) + (axes == 0.5)
    extreme = amplitude * limits.max_speed_m_s * limits.control_period_s * direction
    actions = [np.r_[extreme if index % 2 == 0 else -extreme, 1.0] for index in range(steps)]
    commands = run_sequence(limits, start_inside(limits, fraction), actions)
    assert all(command.moved for command in commands)


@PROPERTY
@given(limits=limits_strategy(), fraction=fraction3, direction=fraction3, steps=st.integers(20, 200))
def test_driving_into_a_wall_brakes_within_the_acceleration_bound(limits, fraction, direction, steps):
    push = (direction - 0.5) * 10.0 * limits.max_speed_m_s * limits.control_period_s
    commands = run_sequence(limits, start_inside(limits, fraction), [np.r_[push, 0.0]] * steps)
    assert commands[-1].status in (STATUS_OK, STATUS_CLIPPED)


@PROPERTY
@given(limits=limits_strategy(), fraction=fraction3,
       actions=st.lists(action_strategy, min_size=1, max_size=40),
       perturbations=st.lists(st.tuples(*[st.floats(-0.2, 0.2)] * 3).map(np.array), min_size=1, max_size=5))
def test_perturbed_arm_never_moves_further_out_of_the_workspace(limits, fraction, actions, perturbations):
    """The arm does not follow its commands (pushed, lagging): speed and workspace still hold, and the
    acceleration bound yields only to the workspace, saying so."""
    run_sequence(limits, start_inside(limits, fraction), actions, perturbations)


@PROPERTY
@given(limits=limits_strategy(), action=action_strategy, excess=st.floats(1e-6, 1e6),
       stale_action=st.booleans())
def test_stale_input_always_holds(limits, action, excess, stale_action):
    safety = SafetyFilter(limits)
    position = start_inside(limits, np.full(3, 0.5))
    safety.reset(position)
    now = 100.0
    stale_stamp = now - (limits.max_action_age_s if stale_action else limits.max_observation_age_s) - excess
    command = safety.filter(action, ee_position=position, now_s=now,
                            observation_stamp_s=now if stale_action else stale_stamp,
                            action_stamp_s=stale_stamp if stale_action else now)
    assert command.status == STATUS_HELD
    assert ("stale_action" if stale_action else "stale_observation") in command.reasons
    assert np.all(command.action[:3] == 0.0)


@PROPERTY
@given(operations=st.lists(st.sampled_from(["filter", "stop", "clear", "reset"]), min_size=1, max_size=40))
def test_explicit_stop_latches_until_cleared(operations):
    safety = fresh()
    latched = False
    for operation in operations:
        if operation == "stop":
            safety.stop()
            latched = True
        elif operation == "clear":
            safety.clear_stop()
            latched = False
        elif operation == "reset":
            safety.reset(INSIDE)  # a new episode does not clear a stop
        else:
            command = step(safety, [0.001, 0.0, 0.0, 0.0])
            assert (command.status == STATUS_STOPPED) == latched
            if latched:
                assert command.reasons == ("explicit_stop",) and np.all(command.action[:3] == 0.0)
        assert safety.stopped == latched


@settings(max_examples=200, deadline=None)
@given(distance=st.floats(0.0, 2.0), period=st.floats(0.005, 0.2), delta_v=st.floats(1e-3, 5.0))
def test_braking_speed_limit_is_the_largest_speed_that_stops_in_time(distance, period, delta_v):
    def braking_distance(speed):
        steps = np.arange(0, math.ceil(speed / delta_v) + 2)
        return period * np.maximum(speed - steps * delta_v, 0.0).sum()

    limit = float(braking_speed_limit(np.array([distance]), period, delta_v)[0])
    assert braking_distance(limit) <= distance * (1 + 1e-9) + 1e-15
    assert braking_distance(limit * (1 + 1e-6) + 1e-12) > distance


# ----------------------------------------------------------------------------- one case per reason

def test_small_action_passes_unchanged():
    requested = np.float32([0.001, -0.002, 0.003, 0.5])  # a policy's float32 action: kept bit for bit
    command = step(fresh(), requested)
    assert command.status == STATUS_OK and command.reasons == ()
    np.testing.assert_array_equal(command.action, requested)
    np.testing.assert_allclose(command.target_position, INSIDE + np.array([0.001, -0.002, 0.003]), atol=1e-9)


def test_speed_is_scaled_keeping_direction():
    command = step(fresh(), [0.01, 0.01, 0.0, 0.0])  # 1.13 m/s > 0.8 m/s
    assert command.reasons == ("speed",) and command.status == STATUS_CLIPPED
    expected = 0.8 * PERIOD / math.sqrt(2.0)  # 0.00707 m on x and y
    np.testing.assert_allclose(command.action[:3], [expected, expected, 0.0], rtol=1e-6)


def test_acceleration_limits_the_change_of_velocity_also_after_a_hold():
    safety = fresh(max_accel_m_s2=8.0)  # 0.1 m/s per step => 0.00125 m more per step
    first = step(safety, [0.01, 0.0, 0.0, 0.0])
    assert first.reasons == ("accel",)
    np.testing.assert_allclose(first.action[:3], [0.00125, 0.0, 0.0], rtol=1e-6)
    second = step(safety, [0.01, 0.0, 0.0, 0.0], position=first.target_position)
    np.testing.assert_allclose(second.action[:3], [0.0025, 0.0, 0.0], rtol=1e-6)
    held = step(safety, [0.01, 0.0, 0.0, 0.0], position=second.target_position, now=1.0, observation=0.5)
    assert held.status == STATUS_HELD
    restart = step(safety, [0.01, 0.0, 0.0, 0.0], position=second.target_position)
    np.testing.assert_allclose(restart.action[:3], [0.00125, 0.0, 0.0], rtol=1e-6)


@pytest.mark.parametrize("side", ["max", "min"])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_workspace_wall_clamps_the_target(axis, side):
    position = INSIDE.copy()
    wall = (BOX_MAX if side == "max" else BOX_MIN)[axis]
    sign = 1.0 if side == "max" else -1.0
    position[axis] = wall - sign * 0.004  # 4 mm from the wall, asking for 8 mm
    action = np.zeros(4)
    action[axis] = sign * 0.008
    command = step(fresh(position), action, position=position)
    assert command.reasons == (f"workspace_{'xyz'[axis]}_{side}",)
    assert command.target_position[axis] == pytest.approx(wall, abs=1e-8)
    assert sign * (command.target_position[axis] - wall) <= 0.0


def test_braking_starts_before_the_wall_when_acceleration_is_small():
    # 8 m/s^2 at 80 Hz: 0.1 m/s of change per step, so stopping from 0.8 m/s takes centimetres.
    limits = make_limits(max_accel_m_s2=8.0)
    start = np.array([0.3, 0.7, 0.2])
    commands = run_sequence(limits, start, [np.r_[0.01, 0.0, 0.0, 0.0]] * 60)
    speeds = np.array([command.action[0] / PERIOD for command in commands])
    positions = np.array([command.target_position[0] for command in commands])
    assert speeds.max() == pytest.approx(0.8, rel=1e-5)
    first_brake = int(np.argmax(np.diff(speeds) < 0)) + 1
    assert "workspace_x_max" in commands[first_brake].reasons
    assert 0.5 - positions[first_brake - 1] > 0.03  # slowing down from more than 3 cm away
    assert positions[-1] == pytest.approx(0.5, abs=1e-9) and speeds[-1] == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.abs(np.diff(speeds)) <= 0.1 + 1e-6)


def test_gripper_is_clipped_to_its_bounds():
    assert step(fresh(), [0, 0, 0, 1.5]).reasons == ("gripper_max",)
    low = step(fresh(), [0, 0, 0, -3.0])
    assert low.reasons == ("gripper_min",) and low.action[3] == -1.0


def test_non_finite_action_holds_with_last_gripper():
    safety = fresh()
    step(safety, [0.001, 0.0, 0.0, 0.3])
    command = step(safety, [0.001, 0.0, 0.0, math.nan])
    assert command.status == STATUS_HELD and command.reasons == ("non_finite_action",)
    np.testing.assert_array_equal(command.action, np.float32([0.0, 0.0, 0.0, 0.3]))
    assert step(safety, [math.inf, 0, 0, 0]).reasons == ("non_finite_action",)


@pytest.mark.parametrize("action", [[0.1, 0.2, 0.3], [[0.0] * 4], "four", None, [0.0] * 5])
def test_malformed_action_holds(action):
    command = step(fresh(), action)
    assert command.status == STATUS_HELD and command.reasons == ("bad_action_shape",)


def test_non_finite_or_malformed_position_holds_at_last_known_position():
    safety = fresh()
    command = step(safety, [0.001, 0, 0, 0], position=[math.nan, 0.7, 0.2])
    assert command.reasons == ("non_finite_ee_position",) and command.status == STATUS_HELD
    np.testing.assert_array_equal(command.target_position, INSIDE)
    assert step(safety, [0.001, 0, 0, 0], position=[0.0, 0.7]).reasons == ("bad_ee_position_shape",)


def test_stamp_checks():
    safety = fresh()
    assert step(safety, [0, 0, 0, 0], now=1.0, observation=0.85).reasons == ("stale_observation",)
    assert step(safety, [0, 0, 0, 0], now=1.0, commanded=0.85).reasons == ("stale_action",)
    assert step(safety, [0, 0, 0, 0], now=1.0, observation=1.02).reasons == ("observation_stamp_in_future",)
    assert step(safety, [0, 0, 0, 0], now=1.0, commanded=1.02).reasons == ("action_stamp_in_future",)
    assert step(safety, [0, 0, 0, 0], now=math.nan).reasons == ("non_finite_stamp",)
    assert step(safety, [0, 0, 0, 0], now=1.0, observation=0.95, commanded=1.005).status == STATUS_OK
    both = step(safety, [math.nan, 0, 0, 0], now=1.0, observation=0.5, commanded=0.5)
    assert both.reasons == ("non_finite_action", "stale_observation", "stale_action")


def test_stop_reports_its_reason_and_survives_reset():
    safety = fresh()
    safety.stop("estop")
    command = step(safety, [0.001, 0, 0, 0])
    assert command.status == STATUS_STOPPED and command.reasons == ("estop",)
    safety.reset(INSIDE)
    assert step(safety, [0.001, 0, 0, 0]).status == STATUS_STOPPED
    safety.clear_stop()
    assert step(safety, [0.001, 0, 0, 0]).status == STATUS_OK


def test_outside_the_box_only_motion_back_in_is_allowed():
    outside = np.array([0.6, 0.7, 0.2])  # 10 cm beyond x max, e.g. pushed by a person
    safety = fresh(outside)
    further = step(safety, [0.005, 0.002, 0.0, 0.0], position=outside)
    assert further.reasons == ("workspace_x_max",)
    assert further.action[0] == 0.0 and further.action[1] == pytest.approx(0.002)
    back = step(safety, [-0.005, 0.0, 0.0, 0.0], position=outside)
    assert back.status == STATUS_OK and back.action[0] == pytest.approx(-0.005)


def test_workspace_overrides_acceleration_after_a_jump_to_the_wall():
    safety = fresh(max_accel_m_s2=8.0)
    position = INSIDE.copy()
    for _ in range(10):  # accelerate to 0.8 m/s toward +x, far from the wall
        position = step(safety, [0.01, 0, 0, 0], position=position).target_position
    assert safety.last_velocity[0] == pytest.approx(0.8, rel=1e-6)
    at_wall = np.array([0.4999, position[1], position[2]])  # the arm is found at the wall
    command = step(safety, [0.01, 0, 0, 0], position=at_wall)
    assert "accel_overridden_by_workspace" in command.reasons
    assert command.target_position[0] <= 0.5


def test_filter_before_reset_is_an_error():
    with pytest.raises(RuntimeError, match="reset"):
        SafetyFilter(make_limits()).filter([0, 0, 0, 0], ee_position=INSIDE, now_s=0.0,
                                            observation_stamp_s=0.0, action_stamp_s=0.0)
    with pytest.raises(ValueError, match="finite 3-D"):
        SafetyFilter(make_limits()).reset([math.nan, 0, 0])


@pytest.mark.parametrize(("overrides", "message"), [
    ({"workspace_min": (0.5, 0.4, 0.05)}, "workspace_min must be below"),
    ({"workspace_max": (1.0, 1.0)}, "workspace_max must be 3 finite"),
    ({"max_speed_m_s": -1.0}, "max_speed_m_s"),
    ({"max_accel_m_s2": math.inf}, "max_accel_m_s2"),
    ({"control_period_s": 0.0}, "control_period_s"),
    ({"gripper_min": 1.0, "gripper_max": -1.0}, "gripper bounds"),
    ({"future_stamp_tolerance_s": -0.1}, "future_stamp_tolerance_s"),
])
def test_bad_limits_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        make_limits(**overrides)


def test_limits_dict_round_trip_and_key_errors():
    limits = make_limits()
    assert SafetyLimits.from_dict(limits.to_dict()) == limits
    with pytest.raises(ValueError, match="max_sped"):
        SafetyLimits.from_dict({**limits.to_dict(), "max_sped": 1.0})
    data = limits.to_dict()
    del data["control_period_s"]
    with pytest.raises(ValueError, match="control_period_s"):
        SafetyLimits.from_dict(data)


# ----------------------------------------------------------------------------- robot configs

def test_robot_yamls_load_with_their_documented_numbers():
    sawyer = load_robot_config("metaworld_sawyer")
    assert sawyer.safety.workspace_min == BOX_MIN and sawyer.safety.workspace_max == BOX_MAX
    assert sawyer.safety.control_period_s == PERIOD
    # The Euclidean bound containing MetaWorld's 0.01 m per axis per step box.
    assert sawyer.safety.max_speed_m_s == pytest.approx(math.sqrt(3) * 0.01 / PERIOD, abs=1e-4)
    assert sawyer.safety.max_speed_m_s >= math.sqrt(3) * 0.01 / PERIOD
    fr3 = load_robot_config("franka_fr3")
    assert fr3.joint_names == tuple(f"fr3_joint{i}" for i in range(1, 8))
    assert fr3.controllers.joint_trajectory_topic == "/fr3_arm_controller/joint_trajectory"
    assert fr3.safety.max_speed_m_s == 0.25 and 10.0 <= 1.0 / fr3.safety.control_period_s <= 30.0
    assert fr3.gripper is not None
    assert fr3.gripper.position_m(-1.0) == 0.04 and fr3.gripper.position_m(1.0) == 0.0


def test_robot_yaml_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="franka_fr3"):
        load_robot_config("no_such_robot")
    text = (load_robot_config.__globals__["ROBOT_CONFIG_DIR"] / "franka_fr3.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("max_accel_m_s2:", "max_acel_m_s2:"))
    with pytest.raises(ValueError, match="max_acel_m_s2"):
        load_robot_config(bad)
    bad.write_text(text.replace("controllers:", "controllers:\n  jtc_topic: /x"))
    with pytest.raises(ValueError, match="jtc_topic"):
        load_robot_config(bad)


def test_gripper_mapping_is_linear_and_clipped():
    gripper = GripperConfig(open_position_m=0.08, closed_position_m=0.0, max_effort_n=20.0)
    assert gripper.position_m(-1.0) == 0.08 and gripper.position_m(1.0) == 0.0
    assert gripper.position_m(0.0) == pytest.approx(0.04) and gripper.position_m(7.0) == 0.0


# ----------------------------------------------------------------------------- with MetaWorld experts

@pytest.mark.integration
@pytest.mark.parametrize("task", ["pick-place-v3", "door-open-v3"])
def test_metaworld_expert_still_succeeds_through_the_sawyer_limits(task):
    """The Sawyer limits are chosen so a scripted expert passes through them almost untouched."""
    gym = pytest.importorskip("gymnasium")
    pytest.importorskip("metaworld")
    from metaworld.policies import ENV_POLICY_MAP

    limits = load_robot_config("metaworld_sawyer").safety
    env = gym.make("Meta-World/MT1", env_name=task, seed=0)
    observation, _ = env.reset(seed=0)
    expert = ENV_POLICY_MAP[task]()
    safety = SafetyFilter(limits)
    safety.reset(observation[:3])
    succeeded, velocity, gripper = False, np.zeros(3), safety.last_gripper
    for index in range(500):
        raw = np.clip(expert.get_action(observation), -1.0, 1.0)
        action = np.r_[raw[:3] * 0.01, raw[3]]  # base frame == world frame in MetaWorld
        now = index * limits.control_period_s
        command = safety.filter(action, ee_position=observation[:3], now_s=now, observation_stamp_s=now,
                                action_stamp_s=now)
        velocity = check_command(limits, observation[:3].astype(np.float64), velocity, gripper, action,
                                 command, exact_tracking=False)
        gripper = float(command.action[3])
        metaworld_action = np.r_[command.action[:3] / 0.01, command.action[3]]
        observation, _, terminated, truncated, info = env.step(metaworld_action)
        succeeded |= bool(info["success"])
        if succeeded or terminated or truncated:
            break
    env.close()
    assert succeeded


# ----------------------------------------------------------------------------- issue 11 defect 5

@pytest.mark.parametrize("action", [
    [1e308, 0, 0, 0], [-1e308, 1e308, 1e308, 0], [1.7e308, 1.7e308, -1.7e308, 1e308],
    [np.finfo(np.float64).max] * 4, [5e-324, 1e308, 0, -1e308],
])
def test_huge_finite_actions_never_leave_the_filter_as_nan(action):
    # `[1e308, 0, 0, 0]` used to come back as `[nan, 0, 0, 0]` with status "clipped".
    safety = fresh()
    command = step(safety, action)
    assert np.all(np.isfinite(command.action)) and np.all(np.isfinite(command.target_position))
    assert command.status == STATUS_CLIPPED and "speed" in command.reasons
    assert np.linalg.norm(command.action[:3]) / PERIOD <= 0.8 * (1 + 1e-6)
    # The direction is kept: a huge +x request moves toward +x.
    assert np.sign(command.action[0]) == np.sign(action[0]) or command.action[0] == 0


def test_the_last_step_turns_any_non_finite_result_into_a_hold(monkeypatch):
    safety = fresh()
    step(safety, [0.001, 0, 0, 0.5])
    # Break the arithmetic on purpose (as an overflow would): the finite check must still catch it.
    monkeypatch.setattr("mtdagger.control.safety._round_toward_zero_f32",
                        lambda values: np.full(3, np.nan, dtype=np.float32))
    command = step(safety, [0.001, 0, 0, 0.5])
    assert command.status == STATUS_HELD and command.reasons[-1] == "non_finite_command"
    np.testing.assert_array_equal(command.action, np.float32([0, 0, 0, 0.5]))
    assert np.all(safety.last_velocity == 0)


def test_joint_limit_margins_are_validated_and_round_trip():
    per_joint = make_limits(joint_limit_margin_rad={"j2": 0.1, "j1": 0.05})
    assert per_joint.margin_for("j1") == 0.05 and per_joint.margin_for("j3") == 0.0
    assert SafetyLimits.from_dict(per_joint.to_dict()) == per_joint
    assert make_limits(joint_limit_margin_rad=0.02).margin_for("any") == 0.02
    for bad in (math.nan, -0.1, math.inf, 4.0, "0.1", {"j1": math.nan}):
        with pytest.raises(ValueError, match="joint_limit_margin_rad"):
            make_limits(joint_limit_margin_rad=bad)
