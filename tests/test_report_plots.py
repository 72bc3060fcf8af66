"""Report pictures that explain failures (issue 11): n per task and a title on the success plot,
goal/object, safety box and a legend on the trajectories, the control-period budget on latency;
and the report no longer crashes on 0/n or n/n (defect 1). The figures are caught at savefig and
inspected, so a plot that silently lost an element fails here."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from test_recording import STEP_NS, T_BASE_CAMERA, metadata, step_data

from mtdagger.recording import report_plots
from mtdagger.recording.bag_reader import read_evaluation_bag
from mtdagger.recording.bag_writer import EpisodeInfo, EvaluationBagWriter
from mtdagger.recording.report import write_report
from mtdagger.recording.report_plots import workspace_box

BOX = {"workspace_min": [-0.5, 0.4, 0.05], "workspace_max": [0.5, 1.0, 0.5]}
GOAL, OBJECT = (0.1, 0.8, 0.2), (0.0, 0.6, 0.02)


def _bag(path, outcomes, *, with_box=True):
    config = {"safety_limits": BOX} if with_box else {}
    with EvaluationBagWriter(path, metadata=dataclasses.replace(metadata(), config=config)) as writer:
        writer.write_static(T_BASE_CAMERA)
        stamp = 0
        for index, (task, success) in enumerate(outcomes):
            info = EpisodeInfo(index=index, task=task, seed=index, goal_position=GOAL, object_position=OBJECT)
            writer.start_episode(stamp, info)
            for step in range(3):
                stamp += STEP_NS
                writer.write_step(stamp, **step_data(index, step))
            writer.end_episode(stamp + STEP_NS, success=success)
            stamp += 2 * STEP_NS
    return read_evaluation_bag(path)


@pytest.fixture()
def figures(monkeypatch):
    saved: dict[str, Figure] = {}
    original = report_plots.save_png

    def spy(fig, path):
        saved[path.name] = fig
        return original(fig, path)

    monkeypatch.setattr(report_plots, "save_png", spy)
    return saved


@pytest.mark.parametrize(("successes", "trials"), [(0, 3), (0, 7), (10, 10), (13, 13)])
def test_report_of_all_failures_or_all_successes_does_not_crash(tmp_path, figures, successes, trials):
    bag = _bag(tmp_path / "bag", [("reach-v3", i < successes) for i in range(trials)])
    report = write_report([bag], tmp_path / "out")
    assert (report.success[0].successes, report.success[0].episodes) == (successes, trials)
    ax = figures["success.png"].axes[0]
    assert f"{successes}/{trials}" in [t.get_text() for t in ax.texts]
    assert f"{trials} scored episode" in ax.get_title()


def test_goal_and_object_positions_travel_through_the_bag(tmp_path):
    (episode,) = _bag(tmp_path / "bag", [("push-v3", False)]).episodes
    assert episode.goal_position == pytest.approx(GOAL) and episode.object_position == pytest.approx(OBJECT)


def test_trajectories_show_goal_object_box_and_legend(tmp_path, figures):
    write_report([_bag(tmp_path / "bag", [("push-v3", False), ("reach-v3", True)])], tmp_path / "out")
    figure = figures["trajectories.png"]
    top = figure.axes[0]
    boxes = [p for p in top.patches if isinstance(p, Rectangle) and p.get_linestyle() == "--"]
    assert len(boxes) == 1 and boxes[0].get_xy() == (-0.5, 0.4) and boxes[0].get_width() == pytest.approx(1.0)
    markers = {line.get_marker(): line.get_xydata()[0].tolist() for line in top.lines}
    assert markers["*"] == pytest.approx(GOAL[:2]) and markers["s"] == pytest.approx(OBJECT[:2])
    labels = [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    assert {"success", "failure", "goal", "object", "safety workspace"} <= set(labels)


def test_without_a_recorded_box_the_named_robot_config_is_tried(tmp_path):
    bag = _bag(tmp_path / "bag", [("reach-v3", True)], with_box=False)
    assert workspace_box([bag]) is None  # robot "sawyer-sim" has no config: no box invented
    named = dataclasses.replace(bag, metadata=dataclasses.replace(bag.metadata, robot="metaworld_sawyer"))
    low, high = workspace_box([named])
    assert low.tolist() == BOX["workspace_min"] and high.tolist() == BOX["workspace_max"]


def test_latency_plot_shows_the_control_period_budget(tmp_path, figures):
    write_report([_bag(tmp_path / "bag", [("reach-v3", True)])], tmp_path / "out")
    ax = figures["latency.png"].axes[0]
    budget = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(budget) == 1 and budget[0].get_ydata()[0] == pytest.approx(metadata().control_period_s * 1000)
    assert "budget" in budget[0].get_label()


def test_report_files_are_replaced_whole_and_leave_no_temporary_files(tmp_path, monkeypatch):
    bag = _bag(tmp_path / "bag", [("reach-v3", True)])
    out = tmp_path / "out"
    write_report([bag], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == ["latency.png", "report.md", "success.png", "trajectories.png"]

    def killed(self, path, *args, **kwargs):  # the process dies half-way through a PNG
        Path(path).write_bytes(b"\x89PNG partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", killed)
    with pytest.raises(KeyboardInterrupt):
        write_report([bag], out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # previous files intact
