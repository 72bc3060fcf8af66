"""Injected camera faults in a running deployment loop give holds with reasons, never a crash or an
unsafe command."""

import numpy as np
import pytest

from mtdagger.runtime.faults import CameraFaults, FaultyCamera

pytestmark = pytest.mark.integration

TASK = "reach-v3"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from mtdagger.bench.control import write_random_checkpoint
    from mtdagger.perception.contract import PointCloudContract
    from mtdagger.runtime.session import build_sim_deployment
    from mtdagger.training.config import SimConfig
    from mtdagger.training.sim_setup import backend_config_for, describe_backend

    contract = PointCloudContract(num_points=128)
    description = describe_backend(backend_config_for(SimConfig(), [TASK], render_depth=True))
    checkpoint = tmp_path_factory.mktemp("ckpt") / "random"
    write_random_checkpoint(
        checkpoint, [TASK], contract, description.action_convention, description.privileged_dim
    )
    with build_sim_deployment(checkpoint=str(checkpoint), tasks=TASK) as deployment:
        yield deployment


def _run(session, faults: CameraFaults, steps: int = 30):
    loop = session.loop
    original = loop.camera
    loop.camera = FaultyCamera(original, faults)
    applied = []
    filter_call = loop.safety.filter

    def spy(*args, **kwargs):
        command = filter_call(*args, **kwargs)
        applied.append(command)
        return command

    loop.safety.filter = spy
    try:
        outcome = loop.run_episode(TASK, seed=3, max_steps=steps)
    finally:
        loop.camera = original
        del loop.safety.filter
    return outcome, applied


def test_nan_and_dropped_frames_hold_with_reasons(session):
    outcome, applied = _run(session, CameraFaults(nan_frame_prob=0.3, drop_frame_prob=0.3, seed=1))
    assert outcome.steps == 30
    assert all(np.all(np.isfinite(c.action)) for c in applied)
    held = [c for c in applied if c.status == "held"]
    assert held, "faulty frames must produce holds"
    assert all(np.allclose(c.action[:3], 0.0) for c in held)
    assert outcome.reason_counts["empty_point_cloud"] + outcome.reason_counts["no_depth_frame"] > 0


def test_stalled_camera_trips_the_watchdog(session):
    _, applied = _run(session, CameraFaults(stall_after_steps=5), steps=40)
    later = applied[20:]  # well past the observation-age limit
    assert later and all(c.status == "held" for c in later)
    assert any("stale_observation" in r for c in later for r in c.reasons)
    assert all(np.allclose(c.action[:3], 0.0) for c in later)
