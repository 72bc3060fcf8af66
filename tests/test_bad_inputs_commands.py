"""Command-line refusals that used to be tracebacks or multi-line usage dumps, and outputs that
cannot be written (issue 21).

- the benchmarks' flags are checked by the parser (`bench schedulers --schedulers foo`,
  `bench control --steps 0` and `bench schedulers-scale --tasks 0` were tracebacks);
- every parser refusal is the project's one `error:` line, exit code 2;
- an output that cannot be written is one line naming it, never errno and a temp file's name.
"""

from __future__ import annotations

import errno
import os

import pytest
from bad_input_support import assert_refused, save_tiny_checkpoint
from test_recording import write_bag

from calibration.extrinsics import Extrinsics, save_extrinsics
from mtdagger.cli import main
from mtdagger.files import OutputError, atomic_write_bytes


def _parser_refusal(capsys, argv: list[str]) -> str:
    """main(argv) must stop in the parser: exit 2, exactly one stderr line, `error:` first."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.strip()


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["bench", "schedulers", "--seeds", "0"], "--seeds: must be >= 1, got 0"),
        (["bench", "control", "--steps", "0"], "--steps: must be >= 1, got 0"),
        (["bench", "control", "--num-points", "-5"], "--num-points: must be >= 1, got -5"),
        (["bench", "schedulers-scale", "--tasks", "0"], "--tasks: takes comma-separated integers >= 1"),
        (["bench", "schedulers-scale", "--tasks", "1000,lots"], "got '1000,lots'"),
        (["bench", "perception", "--repeats", "0"], "--repeats: must be >= 1"),
        (["bench", "ros", "--steps", "ten"], "--steps: expected an integer, got 'ten'"),
    ],
)
def test_benchmark_flags_are_refused_by_the_parser(capsys, argv, names):
    assert names in _parser_refusal(capsys, argv)


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        (["--schedulers", "foo"], "--schedulers: unknown ['foo']; valid: uniform"),
        (["--targets", "0.6,80"], "--targets"),
        (["--config", "nope.yaml"], "nope.yaml"),
    ],
)
def test_bench_schedulers_refuses_before_any_run(capsys, tmp_path, flags, names):
    assert_refused(capsys, ["bench", "schedulers", "--out", str(tmp_path / "b"), *flags], names)
    assert not (tmp_path / "b").exists()


def test_every_parser_refusal_is_one_error_line(capsys):
    line = _parser_refusal(capsys, ["eval"])
    assert "--checkpoint" in line and "usage:" not in line
    line = _parser_refusal(capsys, ["deploy", "--checkpoint", "x", "--noise", "kinect"])
    assert "invalid choice: 'kinect'" in line and "see mtdagger deploy --help" in line


def test_an_unwritable_report_is_one_line_naming_the_file(capsys, tmp_path, monkeypatch):
    bag = write_bag(tmp_path / "bag")
    out = tmp_path / "report"

    def refused(source, target, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(source))

    monkeypatch.setattr(os, "replace", refused)
    assert main(["report", str(bag), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: cannot write '{out / 'success.png'}': permission denied")
    assert f"the directory '{out}' is not writable" in err
    assert ".tmp" not in err and "Errno" not in err
    assert sorted(p.name for p in out.iterdir()) == []  # no temp file left behind


def test_writers_name_the_destination_never_a_temp_file(tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder is expected")
    extrinsics = Extrinsics.from_dict({
        "calibration_id": "c", "base_frame": "base_link", "camera_frame": "camera_link",
        "translation": [1.0, 0.0, 0.5], "rotation_xyzw": [0.0, 0.0, 0.0, 1.0],
    })  # fmt: skip
    with pytest.raises(OutputError) as failed:
        save_extrinsics(blocker / "calibration.yaml", extrinsics)
    assert str(failed.value) == (
        f"cannot write '{blocker / 'calibration.yaml'}': a part of the path is a file, not a directory"
    )
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space")))
    with pytest.raises(OutputError, match=r"cannot write '.*state\.json': no space left on the device$"):
        atomic_write_bytes(tmp_path / "state.json", b"{}")
    assert list(tmp_path.iterdir()) == [blocker]  # the temp file was removed


def test_a_checkpoint_that_cannot_be_published_names_its_directory(tmp_path):
    from mtdagger.policy.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    save_tiny_checkpoint(tmp_path / "ck")
    model, meta = load_checkpoint(tmp_path / "ck")
    (tmp_path / "blocked").write_text("file")
    with pytest.raises((OutputError, CheckpointError)) as failed:
        save_checkpoint(tmp_path / "blocked" / "ck", model, meta)
    assert str(tmp_path / "blocked" / "ck") in str(failed.value) and ".part" not in str(failed.value)
