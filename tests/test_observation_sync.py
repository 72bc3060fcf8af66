"""ObservationSync (mtdagger/runtime/observation_sync.py): the policy pairs each cloud with the
proprioception of the cloud's moment, whatever order the topics arrive in (issue 21: under
rehearse.launch.py the EE pose comes from another process than the cloud)."""

from __future__ import annotations

import pytest

from mtdagger.runtime.observation_sync import ObservationSync

PERIOD = 50_000_000  # ns


def sync() -> ObservationSync:
    return ObservationSync(("ee", "gripper"))


def test_a_cloud_before_its_pose_waits_for_the_pose_of_its_own_step():
    s = sync()
    assert s.on_sample("ee", "pose@1", PERIOD) is None
    assert s.on_sample("gripper", 0.5, 2 * PERIOD) is None
    # the cloud of step 2 overtook the EE pose of step 2 (another process computes it)
    assert s.on_cloud("cloud@2", 2 * PERIOD) is None and s.waiting
    ready = s.on_sample("ee", "pose@2", 2 * PERIOD)
    assert ready is not None and ready.cloud == "cloud@2" and ready.stamp_ns == 2 * PERIOD
    assert ready.values == {"ee": "pose@2", "gripper": 0.5}
    assert not s.waiting


def test_a_cloud_after_its_pose_is_acted_on_at_once_with_that_pose():
    s = sync()
    s.on_sample("ee", "pose@2", 2 * PERIOD)
    s.on_sample("gripper", 0.25, 2 * PERIOD)
    ready = s.on_cloud("cloud@2", 2 * PERIOD)
    assert ready is not None and ready.values == {"ee": "pose@2", "gripper": 0.25}


def test_the_same_steps_in_any_arrival_order_give_the_same_pairs():
    """Lockstep: three steps, each stamped alike, delivered in every interleaving the two
    processes could produce: the pairs never change."""
    import itertools

    expected = [(k, f"pose@{k}", k / 10) for k in (1, 2, 3)]
    for order in itertools.permutations(("ee", "gripper", "cloud")):
        s, pairs = sync(), []
        for k in (1, 2, 3):
            for what in order:
                if what == "cloud":
                    ready = s.on_cloud(f"cloud@{k}", k * PERIOD)
                else:
                    ready = s.on_sample(what, f"pose@{k}" if what == "ee" else k / 10, k * PERIOD)
                if ready is not None:
                    pairs.append((ready.stamp_ns // PERIOD, ready.values["ee"], ready.values["gripper"]))
        assert pairs == expected, order


def test_a_stream_whose_clock_lags_the_camera_does_not_stall_the_policy():
    """A joint-state clock behind the camera's: no sample is ever stamped at the cloud's time, so
    the first sample that arrives after the cloud is taken."""
    s = sync()
    s.on_sample("ee", "old", 1 * PERIOD)
    s.on_sample("gripper", 0.1, 1 * PERIOD)
    assert s.on_cloud("cloud@9", 9 * PERIOD) is None  # both samples are older and came before it
    assert s.on_sample("ee", "next", 2 * PERIOD) is None  # the gripper has not moved on yet
    ready = s.on_sample("gripper", 0.2, 2 * PERIOD)
    assert ready is not None and ready.values == {"ee": "next", "gripper": 0.2}


def test_a_newer_cloud_replaces_a_waiting_one_and_an_input_never_seen_is_named():
    s = sync()
    s.on_sample("gripper", 0.3, 5 * PERIOD)
    assert s.on_cloud("cloud@4", 4 * PERIOD) is None
    assert s.missing() == ["ee"]
    assert s.on_cloud("cloud@5", 5 * PERIOD) is None
    ready = s.on_sample("ee", "pose@5", 5 * PERIOD)
    assert ready is not None and ready.cloud == "cloud@5"
    assert s.missing() == []
    # nothing waits any more: a later sample releases nothing
    assert s.on_sample("ee", "pose@6", 6 * PERIOD) is None


def test_no_inputs_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        ObservationSync(())
