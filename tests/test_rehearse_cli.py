"""`mtdagger rehearse` refuses bad input with one line naming the flag, before starting any node."""

from __future__ import annotations

import pytest

from mtdagger.cli import main


@pytest.fixture
def checkpoint(tmp_path):
    directory = tmp_path / "ckpt"
    directory.mkdir()
    (directory / "checkpoint.json").write_text("{}")
    return directory


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--objects", "all"], "objects='all'; valid: seen, unseen, both"),
        (["--episodes", "0"], "--episodes and --max-steps must be >= 1"),
        (["--set", "policy_task=x"], "--set 'policy_task=x': expected NODE.PARAM=VALUE"),
    ],
)
def test_bad_flags_are_one_line_errors(checkpoint, tmp_path, capsys, extra, message):
    code = main(["rehearse", "--checkpoint", str(checkpoint), "--bag", str(tmp_path / "bag"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "bag").exists()


def test_a_missing_checkpoint_or_an_existing_bag_is_refused(checkpoint, tmp_path, capsys):
    assert main(["rehearse", "--checkpoint", str(tmp_path / "none"), "--bag", str(tmp_path / "b")]) == 2
    assert "--checkpoint" in capsys.readouterr().err
    (tmp_path / "old").mkdir()
    assert main(["rehearse", "--checkpoint", str(checkpoint), "--bag", str(tmp_path / "old")]) == 2
    err = capsys.readouterr().err
    assert "--bag" in err and "exists" in err


def test_set_overrides_are_parsed_per_node():
    from mtdagger.commands.rehearse import _parse_set

    assert _parse_set(["arm_controller.trajectory_time_from_start_s=0.05", "policy.task=drawer-close"]) == {
        "arm_controller": {"trajectory_time_from_start_s": 0.05}, "policy": {"task": "drawer-close"},
    }  # fmt: skip
