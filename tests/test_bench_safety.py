"""`mtdagger bench safety` runs end to end on a small budget, and its checker does catch unsafe output
(a checker that cannot fail would make the benchmark's 0 meaningless)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from mtdagger.bench import safety as bench
from mtdagger.control.arm_command import ArmControlCore, ArmControlSettings
from mtdagger.control.robot_config import load_robot_config


def test_small_fuzz_run_reports_zero_unsafe_outputs(capsys):
    args = argparse.Namespace(actions=1200, timed=200, seed=3, robot="franka_fr3", joint_steps=100)
    assert bench.run(args) == 0
    out = capsys.readouterr().out
    assert "unsafe outputs in total: 0" in out and "joint-limit approach" in out


@pytest.mark.parametrize("scenario", bench.SCENARIOS)
def test_the_checker_counts_injected_violations(scenario):
    robot = load_robot_config("metaworld_sawyer")
    limits = robot.safety
    rng = np.random.default_rng(0)
    actions, ages, jumps = bench.generate(scenario, 400, limits, rng)
    core = ArmControlCore(robot, ArmControlSettings("twist"))
    records = bench.run_scenario(core, actions, ages, jumps, rng)
    assert sum(bench.count_unsafe(records, actions, ages, jumps, limits).values()) == 0

    broken = {k: v.copy() for k, v in records.items()}
    broken["applied"][5, 0] = np.nan
    broken["applied"][7, 3] = 2.0
    broken["moved"][9] = True
    broken["applied"][9, :3] = [limits.max_speed_m_s * limits.control_period_s * 2, 0.0, 0.0]
    broken["velocity"][9] = broken["applied"][9, :3] / limits.control_period_s
    counts = bench.count_unsafe(broken, actions, ages, jumps, limits)
    assert counts["non_finite"] >= 1 and counts["gripper"] >= 1 and counts["speed"] >= 1


def test_moving_on_stale_input_is_counted():
    robot = load_robot_config("metaworld_sawyer")
    limits = robot.safety
    rng = np.random.default_rng(1)
    actions, ages, jumps = bench.generate("stale stamps", 400, limits, rng)
    core = ArmControlCore(robot, ArmControlSettings("twist"))
    records = bench.run_scenario(core, actions, ages, jumps, rng)
    stale = np.flatnonzero(~np.isfinite(ages) | (ages > limits.max_observation_age_s))
    assert stale.size and not records["moved"][stale].any()
    records["moved"][stale[0]] = True
    assert bench.count_unsafe(records, actions, ages, jumps, limits)["moved_on_bad_input"] == 1


@pytest.mark.parametrize(
    ("changes", "needle"), [({"actions": 3}, "--actions"), ({"robot": "no_such_robot"}, "--robot")]
)
def test_bad_bench_arguments_are_one_line_errors(capsys, changes, needle):
    args = argparse.Namespace(**{"actions": 60, "timed": 10, "seed": 0, "robot": "metaworld_sawyer",
                                 "joint_steps": 0, **changes})
    assert bench.run(args) == 2
    err = capsys.readouterr().err
    assert needle in err and err.strip().count("\n") == 0 and "Traceback" not in err


def test_joint_limit_scenario_counts_commands_inside_a_margin_when_ik_ignores_it(monkeypatch):
    from mtdagger.control.kinematics import ArmKinematics

    robot = load_robot_config("metaworld_sawyer")
    _steps, inside, holds = bench.joint_limit_approach(robot, 200, np.random.default_rng(0))
    assert inside == 0 and holds > 0
    monkeypatch.setattr(ArmKinematics, "set_joint_margins", lambda self, margins: None)  # no margins
    _steps, inside, holds = bench.joint_limit_approach(robot, 200, np.random.default_rng(0))
    assert inside > 0 and holds == 0
