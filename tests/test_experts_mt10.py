"""MetaWorld's scripted experts, driven through OUR backend's action adapter, solve MT10.

Episode success = any step succeeds (MetaWorld's definition), so an episode stops at its first
success here to keep the file fast; a failure runs the full 500 steps. Seeds are fixed, so the
result is deterministic on a given MuJoCo build.

peg-insert-side-v3 falls short of 90%: MetaWorld's own scripted policy succeeds on 174/200 seeds
(0.87) through this adapter and on exactly the same seeds when MetaWorld is driven directly
(0.86 on MetaWorld's own MT1 benchmark placements); in failures the peg slips out of the grasp.
That is the policy's limitation, not the adapter's, so this file asserts the 90% bar for the
other nine tasks, a documented 80% floor for peg-insert-side, and, for every task, that our
adapter reproduces MetaWorld's own trajectory step for step.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from mtdagger import keys
from sim_bridge.suites import MT10

os.environ.setdefault("MUJOCO_GL", "egl")

EPISODES_PER_TASK = 40
MIN_SUCCESS = {task: 0.9 for task in MT10} | {"peg-insert-side-v3": 0.8}


@pytest.fixture(scope="module")
def backend():
    from sim_bridge.metaworld.backend import MetaWorldBackendConfig

    backend = MetaWorldBackendConfig(tasks=MT10, render_depth=False, max_episode_steps=500).build()
    yield backend
    backend.close()


def _expert_succeeds(backend, expert, task: str, seed: int) -> bool:
    observation = backend.reset(task, seed)
    while True:
        result = backend.step(expert.act(observation[keys.PRIVILEGED]))
        if result.success:
            return True
        if result.done:
            return False
        observation = result.observation


@pytest.mark.integration
@pytest.mark.parametrize("task", MT10)
def test_expert_success_rate_through_the_adapter(backend, task):
    expert = backend.make_expert(task)
    successes = sum(_expert_succeeds(backend, expert, task, seed) for seed in range(EPISODES_PER_TASK))
    rate = successes / EPISODES_PER_TASK
    assert rate >= MIN_SUCCESS[task], f"{task}: expert succeeded in {successes}/{EPISODES_PER_TASK} episodes"


@pytest.mark.integration
@pytest.mark.parametrize("task", MT10)
def test_adapter_reproduces_metaworld_driven_directly(backend, task):
    """Same seed, MetaWorld's policy applied natively vs. through convention actions: same positions.
    Where our expert aims the fingertips (reach-v3), the native policy is shown the same raised goal."""
    from metaworld.policies import ENV_POLICY_MAP

    from sim_bridge.metaworld.backend import (
        AIM_FINGERTIPS_AT_GOAL,
        GOAL_SLICE,
        HAND_ABOVE_FINGERTIPS_WORLD,
        _make_env,
    )

    aim = HAND_ABOVE_FINGERTIPS_WORLD if task in AIM_FINGERTIPS_AT_GOAL else np.zeros(3)

    native_env = _make_env(task, benchmark_seed=0, max_episode_steps=500)
    policy = ENV_POLICY_MAP[task]()
    expert = backend.make_expert(task)
    try:
        for seed in (0, 1):
            observation = backend.reset(task, seed)
            native_env.seed(seed)
            native_obs, _ = native_env.reset()
            for _ in range(60):
                shown = native_obs.copy()
                shown[GOAL_SLICE] += aim
                native_obs, *_ = native_env.step(np.clip(policy.get_action(shown), -1.0, 1.0))
                observation = backend.step(expert.act(observation[keys.PRIVILEGED])).observation
            # Positions (hand, gripper, objects, goal) agree to 2 mm; a wrong scale or frame would be
            # centimetres off. Not exactly: our privileged state and actions are float32, and contact
            # (pushing, grasping) amplifies that rounding to ~0.2 mm over 60 steps; free objects'
            # quaternions are left out, their small spin is chaotic under it.
            positions = np.r_[0:7, 11:14, 36:39]
            np.testing.assert_allclose(
                observation[keys.PRIVILEGED][positions], native_obs[positions], atol=2e-3
            )
    finally:
        native_env.close()
