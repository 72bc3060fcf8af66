"""Success reports from evaluation bags: the numbers (Wilson intervals, seen/unseen split, latency
percentiles, safety counts), the files, and the `mtdagger report` command's errors."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from test_recording import STEP_NS, T_BASE_CAMERA, metadata, step_data

from mtdagger.cli import main
from mtdagger.commands.report import default_out_dir
from mtdagger.recording.bag_reader import EpisodeSummary, read_evaluation_bag
from mtdagger.recording.bag_writer import EpisodeInfo, EvaluationBagWriter
from mtdagger.recording.report import latency_percentiles, safety_counts, success_by_task, write_report
from mtdagger.stats import wilson_interval

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def summary(
    task: str, success: bool | None, *, split: str | None = None, latency=(), status=None, reasons=None
):
    """`status`: status -> steps; `reasons`: status -> reason -> steps."""
    steps = len(latency)
    return EpisodeSummary(
        index=0,
        task=task,
        object="",
        seed=None,
        object_split=split,
        success=success,
        complete=success is not None,
        num_steps=steps,
        ee_positions=np.zeros((steps, 3)),
        gripper=np.zeros(steps),
        actions=np.zeros((steps, 4)),
        applied=np.zeros((steps, 4)),
        latencies_ms={"policy": np.asarray(latency, dtype=float)} if steps else {},
        safety_status=status or {},
        safety_reasons=dict(sum((Counter(r) for r in (reasons or {}).values()), Counter())),
        notes="",
        start_ns=0,
        end_ns=None if success is None else 1,
        safety_reasons_by_status=reasons or {},
    )


def test_success_per_task_uses_wilson_and_leaves_incomplete_episodes_unscored():
    episodes = [
        summary("reach", True),
        summary("reach", True),
        summary("reach", False),
        summary("reach", None),  # killed mid-episode: no label
        summary("push", False),
    ]
    rows = {row.task: row for row in success_by_task(episodes)}
    assert list(rows) == ["reach", "push"]
    reach = rows["reach"]
    assert (reach.successes, reach.episodes, reach.incomplete) == (2, 3, 1)
    assert reach.rate == pytest.approx(2 / 3)
    assert (reach.ci_low, reach.ci_high) == pytest.approx(wilson_interval(2, 3))
    assert (rows["push"].successes, rows["push"].episodes) == (0, 1)
    assert rows["push"].ci_high == pytest.approx(wilson_interval(0, 1)[1])


def test_success_split_by_seen_and_unseen_objects():
    episodes = [
        summary("reach", True, split="seen"),
        summary("reach", True, split="seen"),
        summary("reach", False, split="unseen"),
        summary("reach", True, split=None),  # unlabelled: in the overall rate, not in the split table
    ]
    split = {(r.task, r.split): (r.successes, r.episodes) for r in success_by_task(episodes, by_split=True)}
    assert split == {("reach", "seen"): (2, 2), ("reach", "unseen"): (0, 1)}
    (overall,) = success_by_task(episodes)
    assert (overall.successes, overall.episodes) == (3, 4)
    assert success_by_task([summary("reach", True)], by_split=True) == []


def test_latency_percentiles_per_stage_ignore_non_finite_values():
    values = np.arange(1.0, 101.0)
    episodes = [summary("a", True, latency=values[:50]), summary("a", True, latency=[*values[50:], np.nan])]
    (row,) = latency_percentiles(episodes)
    assert row.stage == "policy" and row.count == 100
    assert (row.p50, row.p90, row.p99) == pytest.approx(tuple(np.percentile(values, [50, 90, 99])))
    assert row.max == 100.0 and row.mean == pytest.approx(50.5)


def test_safety_counts_add_up_over_episodes():
    episodes = [
        summary("a", True, status={"ok": 8, "held": 2}, reasons={"held": {"stale_observation": 2}}),
        summary(
            "a",
            False,
            status={"ok": 5, "clipped": 3, "held": 1},
            reasons={"clipped": {"speed": 3, "workspace_z_min": 1}, "held": {"stale_observation": 1}},
        ),
    ]
    status, reasons = safety_counts(episodes)
    assert status == {"ok": 13, "clipped": 3, "held": 3}
    assert reasons == {
        ("held", "stale_observation"): 3,
        ("clipped", "speed"): 3,
        ("clipped", "workspace_z_min"): 1,
    }


def _write_trial(path: Path, outcomes: list[tuple[str, str, bool | None]], steps: int = 3) -> Path:
    """One bag; each outcome is (task, object_split, success), None = never ended (killed-like)."""
    with EvaluationBagWriter(path, metadata=metadata()) as writer:
        writer.write_static(T_BASE_CAMERA)
        stamp = 0
        for index, (task, split, success) in enumerate(outcomes):
            writer.start_episode(stamp, EpisodeInfo(index=index, task=task, seed=index, object_split=split))
            for step in range(steps):
                stamp += STEP_NS
                writer.write_step(stamp, **step_data(index, step))
            stamp += STEP_NS
            if success is not None:
                writer.end_episode(stamp, success=success)
            stamp += STEP_NS
    return path


def test_report_from_two_bags_writes_markdown_and_pngs(tmp_path):
    first = _write_trial(
        tmp_path / "trial_a",
        [("reach-v3", "seen", True), ("reach-v3", "unseen", False), ("push|v3", "seen", True)],
    )
    second = _write_trial(tmp_path / "trial_b", [("reach-v3", "seen", True), ("push|v3", "unseen", None)])
    report = write_report([read_evaluation_bag(first), read_evaluation_bag(second)], tmp_path / "out")

    text = report.report_path.read_text()
    assert report.num_episodes == 5 and report.num_incomplete == 1
    low, high = wilson_interval(2, 3)
    assert f"| reach-v3 | 2/3 | 67% | [{low:.2f}, {high:.2f}] | 0 |" in text
    assert "| push\\|v3 | 1/1 | 100% |" in text  # the pipe in a task name does not break the table
    assert "### By object split" in text and "| reach-v3 | unseen | 0/1 | 0% |" in text
    assert "ckpt-abc123" in text and "calib-2024-05-01" in text and "0123456789ab" in text
    assert "| held | 5 |" in text and "| held | non_finite_action | 5 |" in text  # step 2 of each episode
    assert "| camera |" in text and "| policy |" in text
    assert "incomplete" in text
    for name in ("success.png", "trajectories.png", "latency.png"):
        png = tmp_path / "out" / name
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 2000
        assert f"]({name})" in text


def test_report_without_episodes_says_so(tmp_path):
    bag_path = tmp_path / "bag"
    EvaluationBagWriter(bag_path, metadata=metadata()).close()
    report = write_report([read_evaluation_bag(bag_path)], tmp_path / "out")
    assert "No episodes were recorded" in report.report_path.read_text()
    assert report.images == [] and report.num_episodes == 0


def test_report_command_default_out_dir_and_summary(tmp_path, capsys):
    bag = _write_trial(tmp_path / "trials" / "bag_1", [("reach-v3", "seen", True)])
    assert main(["report", str(bag)]) == 0
    report_md = tmp_path / "trials" / "report" / "report.md"
    assert report_md.is_file()
    out = capsys.readouterr().out
    assert str(report_md) in out and "reach-v3" in out and "1/1" in out
    assert default_out_dir(bag) == tmp_path / "trials" / "report"


def test_report_command_names_a_missing_or_corrupt_bag(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing_bag"), "--out", str(tmp_path / "r")]) == 2
    assert "missing_bag" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt_bag"
    corrupt.mkdir()
    (corrupt / "corrupt_bag.mcap").write_bytes(b"\x00" * 100)
    assert main(["report", str(corrupt), "--out", str(tmp_path / "r")]) == 2
    assert "corrupt_bag" in capsys.readouterr().err
    assert not (tmp_path / "r" / "report.md").exists()


def test_run_accepts_a_plain_namespace(tmp_path):
    from mtdagger.commands.report import run

    bag = _write_trial(tmp_path / "bag", [("reach-v3", "seen", False)])
    assert run(argparse.Namespace(bags=[str(bag)], out=str(tmp_path / "r"))) == 0
    assert "| reach-v3 | 0/1 | 0% |" in (tmp_path / "r" / "report.md").read_text()


def test_report_of_only_incomplete_episodes_scores_nothing(tmp_path):
    bag = _write_trial(tmp_path / "bag", [("reach-v3", None, None)])
    report = write_report([read_evaluation_bag(bag)], tmp_path / "out")
    (row,) = report.success
    assert (row.successes, row.episodes, row.incomplete) == (0, 0, 1)
    assert "| reach-v3 | 0/0 | n/a | [0.00, 1.00] | 1 |" in report.report_path.read_text()


def test_report_command_reads_every_bag_in_a_launch_folder(tmp_path, capsys):
    """`mtdagger report bags/` where a launch recorded one bag per run (nested, name order)."""
    folder = tmp_path / "bags"
    _write_trial(folder / "rollout_1", [("reach-v3", "seen", True)])
    _write_trial(folder / "day2" / "rollout_2", [("reach-v3", "seen", False)])
    (folder / "notes").mkdir()  # not a bag: ignored
    assert main(["report", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "1/2" in out and str(folder / "report" / "report.md") in out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    assert "no .mcap file in this directory or below it" in capsys.readouterr().err
