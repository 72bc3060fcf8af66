"""`mtdagger deploy --sim fr3`: one safety pass per step (the FR3 cell's arm-controller core), its
verdicts recorded, a missing or non-finite action a recorded hold (issue 20, item 5)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mtdagger.runtime.loop import DeploymentLoop
from mtdagger.runtime.stages import SimClock, StageOutput


class _NoSecondFilter:
    """The loop's filter: must not be applied when the backend filters itself."""

    def reset(self, _position) -> None:
        pass

    def filter(self, *_args, **_kwargs):
        raise AssertionError("the action was filtered a second time")


class _Recorder:
    def __init__(self) -> None:
        self.steps: list[dict] = []

    def start_episode(self, *_args) -> None:
        pass

    def end_episode(self, *_args, **_kwargs) -> None:
        pass

    def write_step(self, _stamp, **step) -> None:
        self.steps.append(step)


class _Policy:
    tasks = ("drawer-open", "drawer-close")

    def __init__(self, actions) -> None:
        self.actions = list(actions)

    def set_task(self, task: str) -> None:
        self.task = task

    def act(self, _points, _state) -> StageOutput:
        action = self.actions.pop(0)
        return StageOutput(None, "policy_error: test") if action is None else StageOutput(np.float32(action))


@pytest.fixture(scope="module")
def fr3():
    from sim_bridge.registry import make_backend

    backend = make_backend("fr3", render_depth=False)
    yield backend
    backend.close()


def _loop(backend, actions, recorder):
    camera = SimpleNamespace(read=lambda: SimpleNamespace(stamp_s=0.0, depth_m=None, camera=None))
    preprocess = SimpleNamespace(process=lambda _frame: StageOutput(np.zeros((8, 3), dtype=np.float32)))
    return DeploymentLoop(backend, camera, preprocess, _Policy(actions), _NoSecondFilter(),
                          clock=SimClock(), recorder=recorder)  # fmt: skip


def test_deploy_fr3_filters_once_and_records_the_inner_verdicts(fr3):
    recorder = _Recorder()
    # Far out of the workspace (the inner filter clips), a NaN action, no action: both held.
    actions = [[0.5, 0.0, 0.5, -1.0], [np.nan, 0.0, 0.0, 1.0], None, [0.0, 0.0, 0.0, -1.0]]
    loop = _loop(fr3, actions, recorder)
    assert loop.backend_filters
    outcome = loop.run_episode("drawer-open", seed=3, max_steps=4)
    statuses = [s["safety_status"] for s in recorder.steps]
    reasons = [s["safety_reasons"] for s in recorder.steps]
    assert outcome.steps == 4 and statuses[0] == "clipped" and reasons[0], reasons
    assert statuses[1] == statuses[2] == "held"
    assert "non_finite_action" in reasons[1] and "policy_error: test" in reasons[2]
    for step in recorder.steps:  # what was applied is what the inner pass let through: finite
        assert np.all(np.isfinite(step["applied"]))


def test_the_inner_hold_reasons_reach_the_record(fr3, monkeypatch):
    """An IK answer that is NaN inside the backend: a hold whose reason the record carries."""
    recorder = _Recorder()
    loop = _loop(fr3, [[0.005, 0.0, 0.0, -1.0]] * 2, recorder)
    reset = fr3.reset

    def reset_then_break_ik(*args, **kwargs):  # the episode's start pose is solved first
        observation = reset(*args, **kwargs)
        monkeypatch.setattr(fr3.kinematics, "_inverse_within", lambda *a, **k: np.full(7, np.nan))
        return observation

    monkeypatch.setattr(fr3, "reset", reset_then_break_ik)
    loop.run_episode("drawer-open", seed=3, max_steps=2)
    assert recorder.steps[0]["safety_status"] == "held"
    assert any(r.startswith("ik_error") for r in recorder.steps[0]["safety_reasons"])
