"""The peg-insert-side expert (sim_bridge/metaworld/steady_peg.py) inserts the peg within the MT10
presets' 150 steps where MetaWorld's own policy dithers past them.

The seeds are the ones of 0-39 on which MetaWorld's policy needs more than 150 steps (measured on
this MuJoCo build: it flips between carrying the held peg and pushing it back to the table);
both policies run on the same placements through MetaWorld directly.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

TASK = "peg-insert-side-v3"
HORIZON = 150  # configs/mt10-pointcloud-cpu.yaml's max_episode_steps
SLOW_SEEDS = (2, 4, 5, 19, 24, 29, 37)


def _succeeds_within(policy, env, seed: int, steps: int) -> bool:
    from sim_bridge.metaworld.expert_check import first_success_step

    return first_success_step(policy, env, seed, steps) is not None


def test_the_peg_counts_as_held_only_in_closed_fingers_next_to_the_hand():
    from sim_bridge.metaworld.steady_peg import holds_peg

    hand = np.array([0.0, 0.6, 0.15])
    below = np.array([0.0, 0.0, -0.025])  # where the held peg's centre sits
    held = {"hand_pos": hand, "peg_pos": hand + below, "gripper_distance_apart": 0.3}
    assert holds_peg(held)
    assert not holds_peg(held | {"gripper_distance_apart": 1.0})  # open fingers: still grasping
    assert not holds_peg(held | {"peg_pos": hand + 2.4 * below})  # closed above the peg
    assert not holds_peg(held | {"peg_pos": hand + below + np.array([0.05, 0.0, 0.0])})  # beside it


@pytest.mark.integration
def test_the_steady_policy_inserts_within_the_horizon_where_metaworlds_dithers():
    from metaworld.policies import ENV_POLICY_MAP

    from sim_bridge.metaworld.backend import _make_env
    from sim_bridge.metaworld.steady_peg import SteadyPegInsertionSidePolicy

    env = _make_env(TASK, benchmark_seed=0, max_episode_steps=500)
    try:
        own = [_succeeds_within(ENV_POLICY_MAP[TASK](), env, seed, HORIZON) for seed in SLOW_SEEDS]
        steady = [
            _succeeds_within(SteadyPegInsertionSidePolicy(), env, seed, HORIZON) for seed in SLOW_SEEDS
        ]
    finally:
        env.close()
    assert sum(own) <= 2, f"MetaWorld's own policy no longer dithers on these seeds: {own}"
    assert all(steady), f"missed the {HORIZON}-step horizon: {dict(zip(SLOW_SEEDS, steady))}"


def test_expert_check_reports_both_policies_and_refuses_bad_flags(capsys):
    from sim_bridge.metaworld.expert_check import main

    assert main(["--tasks", "nope-v3"]) == 2
    assert main(["--seeds", "0"]) == 2
    assert "--tasks" in capsys.readouterr().err
    assert main(["--tasks", TASK, "--seeds", "1"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [row.split()[1] for row in rows] == ["MetaWorld's", "ours"]
    assert all("1/1 within 150" in row and "missed seeds -" in row for row in rows)  # both by step ~77
    assert main(["--tasks", TASK, "--seeds", "1", "--horizon", "10"]) == 0
    assert all(row.endswith("missed seeds [0]") for row in capsys.readouterr().out.splitlines())
