"""End to end: quick point-cloud training preset -> checkpoint -> in-process deployment with a
recorded evaluation bag -> report. Plus the refusals deploy must make before anything moves."""

import pytest

from mtdagger.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("e2e") / "run"
    code = main(
        ["train", "--config", "configs/mt10-pointcloud-tiny.yaml", "--out", str(run_dir), "--workers", "1"]
    )
    assert code == 0
    return run_dir


def test_training_produces_checkpoint_metrics_and_plots(trained):
    assert (trained / "checkpoints" / "final" / "model.safetensors").is_file()
    assert (trained / "checkpoints" / "final" / "checkpoint.json").is_file()
    for plot in ("success_per_task.png", "allocation.png", "success_vs_expert_episodes.png"):
        assert (trained / "plots" / plot).stat().st_size > 1000
    import json

    metrics = json.loads((trained / "metrics.json").read_text())
    assert [m["round"] for m in metrics] == [0, 1]
    assert metrics[1]["expert_episodes"] == 2


def test_deploy_records_a_bag_that_the_report_reads(trained, tmp_path, capsys):
    from mtdagger.recording.bag_reader import read_evaluation_bag

    bag = tmp_path / "bag"
    code = main(
        [
            "deploy",
            "--checkpoint",
            str(trained / "checkpoints" / "final"),
            "--episodes",
            "1",
            "--config",
            "configs/mt10-pointcloud-tiny.yaml",
            "--max-steps",
            "15",
            "--record",
            str(bag),
            "--noise",
            "realsense",
        ]
    )
    assert code == 0
    recorded = read_evaluation_bag(bag)
    assert [e.task for e in recorded.episodes] == ["reach-v3", "drawer-open-v3"]
    assert all(e.num_steps == 15 for e in recorded.episodes)
    report_dir = tmp_path / "report"
    assert main(["report", str(bag), "--out", str(report_dir)]) == 0
    text = (report_dir / "report.md").read_text()
    assert "reach-v3" in text and "drawer-open-v3" in text


def test_deploy_refuses_a_contract_mismatch(trained, capsys):
    code = main(
        [
            "deploy",
            "--checkpoint",
            str(trained / "checkpoints" / "final"),
            "--config",
            "configs/mt10-pointcloud.yaml",
        ]
    )
    assert code == 2
    assert "num_points" in capsys.readouterr().err


def test_deploy_refuses_unknown_task_and_missing_checkpoint(trained, tmp_path, capsys):
    assert main(["deploy", "--checkpoint", str(trained / "checkpoints" / "final"), "--tasks", "push-v3"]) == 2
    assert "not trained on" in capsys.readouterr().err
    assert main(["deploy", "--checkpoint", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err
