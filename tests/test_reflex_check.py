"""The reflex check of bags (mtdagger.recording.reflex_check, `mtdagger gap BAG --reflex`): commanded
trajectories executed by the model at 1 kHz, peaks per joint against the FR3's limits."""

from __future__ import annotations

import argparse

import numpy as np

from mtdagger.commands import gap
from mtdagger.control.robot_config import load_robot_config
from mtdagger.control.trajectory_execution import command_points
from mtdagger.recording.reflex_check import Commanded, ReflexReport, execute, format_report

ROBOT = load_robot_config("franka_fr3")
HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])


def _commands(targets, period=0.05):
    law = ROBOT.execution_law()
    out = [Commanded(0.0, None)]
    out += [Commanded(1.0 + k * period, command_points(t, law), HOME) for k, t in enumerate(targets)]
    return out


def _report(peaks) -> ReflexReport:
    from mtdagger.control.joint_limits import violations

    names = tuple(ROBOT.joint_names)
    keys = ("lower", "upper", "velocity", "acceleration", "jerk")
    limits = {k: ROBOT.joint_limits.array(k, names) for k in keys}
    found = tuple(violations(peaks, ROBOT.joint_limits))
    return ReflexReport("bag", "replayed", 3, 1, names, peaks, limits, found)


def test_a_gentle_command_sequence_has_no_violation_and_its_peaks_are_the_model_s():
    targets = [HOME + 0.002 * k for k in range(1, 30)]  # 0.04 rad/s per joint
    peaks, count, episodes = execute(_commands(targets), ROBOT)
    assert count == 29 and episodes == 1
    assert np.all(peaks["velocity"] < 0.1) and np.all(peaks["velocity"] > 0.02)
    report = _report(peaks)
    assert report.violations == ()
    text = format_report(report)
    assert "| fr3_joint1 |" in text and "violations: none" in text


def test_a_jump_nobody_limited_is_flagged_per_joint():
    targets = [HOME, HOME + np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.8])]  # 0.8 rad in 0.2 s
    peaks, _count, _episodes = execute(_commands(targets), ROBOT)
    report = _report(peaks)
    assert report.violations and all(v.startswith("fr3_joint7: ") for v in report.violations)
    assert any("acceleration" in v for v in report.violations)
    assert "violations: fr3_joint7" in format_report(report)


def test_the_cli_refuses_a_missing_bag_in_one_line(tmp_path, capsys):
    bag = str(tmp_path / "none")
    args = argparse.Namespace(bag=bag, reflex=True, robot="franka_fr3", urdf=None, out=None)
    assert gap.run(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
