"""A bad Ray address is refused in one line naming the flag, before any simulator or cluster
starts, by every command that takes `--ray`."""

from __future__ import annotations

import pytest
from bad_input_support import assert_refused


@pytest.mark.parametrize(
    "argv",
    [
        ["rollout", "--tasks", "reach-v3", "--ray", "no where"],
        ["eval", "--checkpoint", "does-not-matter", "--ray", "nowhere"],
        ["bench", "rollouts", "--ray", "nowhere"],
        ["bench", "schedulers", "--ray", "nowhere", "--out", "unused"],
    ],
)
def test_a_bad_ray_address_is_refused_naming_the_flag(capsys, argv):
    assert_refused(capsys, argv, "--ray")
