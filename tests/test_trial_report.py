"""`mtdagger report` on a trial's bags: operator verdicts per object and task with Wilson
intervals, seen vs unseen, each plan episode scored once (its last ended attempt), and the
sim-versus-real table of `--sim-eval` flagging objects where sim and real disagree."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_recording import STEP_NS, T_BASE_CAMERA, metadata, step_data

from mtdagger.cli import main
from mtdagger.recording.bag_reader import read_evaluation_bag
from mtdagger.recording.bag_writer import EpisodeInfo, EvaluationBagWriter
from mtdagger.recording.report import write_report
from mtdagger.recording.report_trial import load_sim_eval, sim_vs_real
from mtdagger.stats import wilson_interval

PLAN = "abc123"
# (plan episode, attempt, rerun_of, task, object, split, verdict or None = stopped mid-episode)
ATTEMPTS = [
    (0, 1, None, "drawer-open", "cabinet-003", "seen", "success"),
    (1, 1, None, "drawer-open", "cabinet-021", "unseen", "failure"),
    (2, 1, None, "drawer-open", "cabinet-003", "seen", None),  # killed: re-run below
    (2, 2, 1, "drawer-open", "cabinet-003", "seen", "success"),
    (3, 1, None, "drawer-open", "cabinet-021", "unseen", "abort"),
    (4, 1, None, "drawer-open", "cabinet-021", "unseen", "failure"),
    (5, 1, None, "drawer-open", "cabinet-003", "seen", "success"),
]


def _write(path: Path, attempts=ATTEMPTS) -> Path:
    with EvaluationBagWriter(path, metadata=metadata()) as writer:
        writer.write_static(T_BASE_CAMERA)
        stamp = 0
        for index, (episode, attempt, rerun_of, task, obj, split, verdict) in enumerate(attempts):
            extra = {"trial_episode": episode, "attempt": attempt, "rerun_of": rerun_of, "plan": PLAN}
            info = EpisodeInfo(index=index, task=task, object=obj, object_split=split)
            writer.start_episode(stamp, info, extra)
            for step in range(2):
                stamp += STEP_NS
                writer.write_step(stamp, **step_data(index, step))
            stamp += STEP_NS
            if verdict is not None:
                writer.end_episode(stamp, verdict == "success", notes="n", extra={"verdict": verdict})
            else:  # the console died: the policy node's next start ends it without a verdict
                writer.end_episode(stamp, False, notes="superseded by a new start")
            stamp += STEP_NS
    return path


def test_each_plan_episode_is_scored_once_per_object_and_split(tmp_path):
    bag = read_evaluation_bag(_write(tmp_path / "bag"))
    report = write_report([bag], tmp_path / "report")
    trial = report.trial
    assert sorted(e.episode for e in trial.counted) == [0, 1, 2, 3, 4, 5]
    assert [(a.episode, a.attempt) for a in trial.not_counted] == [(2, 1)]
    text = report.report_path.read_text()
    low, high = wilson_interval(3, 3)
    assert f"| cabinet-003 | seen | drawer-open | 3/3 (100%) [{low:.2f}, {high:.2f}] |" in text
    low, high = wilson_interval(0, 3)
    assert f"| unseen | drawer-open | 0/3 (0%) [{low:.2f}, {high:.2f}] |" in text
    assert "1 aborted" in text and "1 scored from a re-run" in text
    assert "no operator verdict (stopped mid-episode; re-run)" in text


def _sim_file(path: Path, rows, **more) -> Path:
    path.write_text(yaml.safe_dump({"results": rows, **more}))
    return path


def test_sim_eval_flags_objects_outside_the_simulated_interval(tmp_path, capsys):
    bag = _write(tmp_path / "bag")
    sim = _sim_file(tmp_path / "sim.yaml", [
        {"task": "drawer-open", "split": "seen", "successes": 20, "episodes": 20},
        {"task": "drawer-open", "split": "unseen", "successes": 18, "episodes": 20},
    ], source="mtdagger eval --sim fr3 --objects both --episodes 20")  # fmt: skip
    out = tmp_path / "report"
    assert main(["report", str(bag), "--out", str(out), "--sim-eval", str(sim)]) == 0
    assert (
        "1 object/task pair(s) where sim and real disagree (each outside the other's interval): "
        "cabinet-021 drawer-open" in capsys.readouterr().out
    )
    report = write_report([read_evaluation_bag(bag)], tmp_path / "again", load_sim_eval(sim))
    rows = {(o, t): flagged for o, _s, t, _r, _sim, _b, flagged in sim_vs_real(report.trial)}
    assert rows == {("cabinet-003", "drawer-open"): False, ("cabinet-021", "drawer-open"): True}
    text = (out / "report.md").read_text()
    assert "### Sim vs real" in text and text.count("**sim and real disagree**") == 1


def test_a_per_object_sim_row_is_preferred_to_its_split(tmp_path):
    bag = read_evaluation_bag(_write(tmp_path / "bag"))
    sim = load_sim_eval(_sim_file(tmp_path / "sim.yaml", [
        {"task": "drawer-open", "split": "unseen", "successes": 20, "episodes": 20},
        {"task": "drawer-open", "object": "cabinet-021", "successes": 0, "episodes": 5},
    ]))  # fmt: skip
    report = write_report([bag], tmp_path / "r", sim)
    (row,) = [r for r in sim_vs_real(report.trial) if r[0] == "cabinet-021"]
    assert row[5] == "object" and row[6] is False


def test_a_success_against_a_lower_simulated_rate_is_no_gap_but_a_failure_against_certainty_is(tmp_path):
    one_each = [ATTEMPTS[0], ATTEMPTS[1]]  # cabinet-003 success, cabinet-021 failure, one episode each
    bag = read_evaluation_bag(_write(tmp_path / "bag", one_each))
    sim = load_sim_eval(_sim_file(tmp_path / "sim.yaml", [
        {"task": "drawer-open", "split": "seen", "successes": 17, "episodes": 20},
        {"task": "drawer-open", "split": "unseen", "successes": 20, "episodes": 20},
    ]))  # fmt: skip
    report = write_report([bag], tmp_path / "r", sim)
    rows = {o: flagged for o, _s, _t, _r, _sim, _b, flagged in sim_vs_real(report.trial)}
    # 1/1 is above 17/20's interval [0.64, 0.95], but 0.85 is inside 1/1's own [0.21, 1.00]
    assert rows == {"cabinet-003": False, "cabinet-021": True}


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"results": [{"task": "t", "split": "seen", "successes": 3, "episodes": 2}]}, "results[0]"),
        ({"results": [{"task": "t", "successes": 1, "episodes": 2}]}, "results[0]"),
        ({"results": [{"task": "t", "split": "seen", "successes": 1, "episodes": 2, "x": 1}]}, "'x'"),
        ({"results": []}, "results"),
        (
            {
                "results": [{"task": "t", "split": "seen", "successes": 1, "episodes": 2}],
                "checkpoint_sha256": "f" * 64,
            },
            "checkpoint_sha256",
        ),
    ],
)
def test_a_bad_sim_eval_file_is_refused_in_one_line(tmp_path, capsys, content, field):
    bag = _write(tmp_path / "bag")
    sim = _sim_file(
        tmp_path / "sim.yaml", content["results"], **{k: v for k, v in content.items() if k != "results"}
    )
    out = tmp_path / "report"
    assert main(["report", str(bag), "--out", str(out), "--sim-eval", str(sim)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and field in err and len(err.splitlines()) == 1
    assert not (out / "report.md").exists()
