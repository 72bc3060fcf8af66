"""How fast MetaWorld's scripted experts succeed: ours (the ones training uses) against MetaWorld's own.

    python -m sim_bridge.metaworld.expert_check [--tasks peg-insert-side-v3] [--seeds 40] [--horizon 150]

One row per (task, policy): successes within the horizon (the MT10 presets' 150 steps) and within
400 steps, the median and slowest step of first success, and the seeds that miss the horizon (to
trace them). Both policies act on the same placements, MetaWorld stepped directly. Ours differs
from MetaWorld's only for peg-insert-side-v3 (steady_peg.py); reach-v3's raised goal (backend.py,
AIM_FINGERTIPS_AT_GOAL) is not applied here.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

LONG_HORIZON = 400


def first_success_step(policy, env, seed: int, steps: int = LONG_HORIZON) -> int | None:
    """The step (1-based) of the first success, or None within `steps`."""
    env.seed(seed)
    obs, _ = env.reset()
    for step in range(1, steps + 1):
        obs, _, _, _, info = env.step(np.clip(policy.get_action(obs), -1.0, 1.0))
        if info["success"]:
            return step
    return None


def check(task: str, seeds: int, horizon: int) -> list[str]:
    from metaworld.policies import ENV_POLICY_MAP

    from sim_bridge.metaworld.backend import _make_env, expert_policy_class

    warnings.filterwarnings("ignore", message=r"Constant\(s\) may be too high", category=UserWarning)
    env = _make_env(task, benchmark_seed=0, max_episode_steps=LONG_HORIZON)
    rows = []
    try:
        for name, cls in (("MetaWorld's", ENV_POLICY_MAP[task]), ("ours", expert_policy_class(task))):
            steps = [first_success_step(cls(), env, seed) for seed in range(seeds)]
            done = [s for s in steps if s is not None]
            within = sum(s <= horizon for s in done)
            median = f"{np.median(done):.0f}" if done else "-"
            slowest = max(done) if done else "-"
            missed = [seed for seed, s in enumerate(steps) if s is None or s > horizon]
            rows.append(
                f"{task:26s} {name:12s} {within:3d}/{seeds} within {horizon}  {len(done):3d}/{seeds} within "
                f"{LONG_HORIZON}  median {median:>4s}  slowest {slowest}  missed seeds {missed or '-'}"
            )
    finally:
        env.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="peg-insert-side-v3", help="comma-separated MetaWorld tasks")
    parser.add_argument("--seeds", type=int, default=40, help="placements 0..N-1 per task (>= 1)")
    parser.add_argument("--horizon", type=int, default=150, help="the episode horizon to report (>= 1)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or not 1 <= args.horizon <= LONG_HORIZON:
        print(f"error: --seeds must be >= 1 and --horizon in [1, {LONG_HORIZON}]", file=sys.stderr)
        return 2
    os.environ.setdefault("MUJOCO_GL", "egl")
    from sim_bridge.suites import validate_tasks

    try:
        tasks = validate_tasks(tuple(t.strip() for t in args.tasks.split(",") if t.strip()))
    except (ValueError, KeyError) as error:
        print(f"error: --tasks: {error}", file=sys.stderr)
        return 2
    for task in tasks:
        for row in check(task, args.seeds, args.horizon):
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
