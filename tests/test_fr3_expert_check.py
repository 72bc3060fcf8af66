"""`python -m sim_bridge.fr3.expert_check --eval-seeds`: the expert on the scenes evaluation drew."""

from __future__ import annotations

import pytest

from mtdagger import keys
from sim_bridge.fr3.config import FR3BackendConfig
from sim_bridge.fr3.expert_check import check_eval_scenes, format_scenes, main

pytest.importorskip("mujoco")


def test_eval_seeds_replay_the_cabinet_and_placement_evaluation_drew():
    (outcome,) = check_eval_scenes("drawer-close", [11006], "seen")
    # The scene `mtdagger eval --objects seen` resets for drawer-close's seed 11006.
    tasks = ("drawer-open", "drawer-close")
    backend = FR3BackendConfig(tasks=tasks, objects="seen", render_depth=False).build()
    try:
        observation = backend.reset("drawer-close", 11006)
        assert (outcome.object_id, outcome.split) == (backend.cabinet.object_id, "seen")
        assert outcome.hook_start == pytest.approx(observation[keys.PRIVILEGED][4:7], abs=1e-4)
        assert outcome.initial_opening_m == pytest.approx(backend.drawer_opening)
    finally:
        backend.close()
    assert outcome.success and outcome.first_success_step is not None  # the expert closes it
    row = format_scenes([outcome]).splitlines()[1].split()
    assert row[:4] == ["11006", "drawer-close", str(outcome.object_id), outcome.handle_type]
    assert "solves" in row


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--eval-seeds", "11006,x"], "--eval-seeds"),
        (["--eval-seeds", "-3"], "--eval-seeds"),
        (["--eval-seeds", "11006", "--tasks", "drawer-open,drawer-close"], "--tasks"),
        (["--eval-seeds", "11006", "--tasks", "drawer-close", "--objects", "all"], "--objects"),
    ],
)
def test_bad_eval_seed_flags_are_refused_in_one_line(capsys, flags, field):
    assert main(flags) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {field}")
