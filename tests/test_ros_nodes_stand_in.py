"""The real node modules, run here through an in-process stand-in for rclpy (tests/ros_stand_in.py).

ROS 2 cannot be installed on this machine; these tests execute the node code anyway, wired by a
FIFO message bus, with messages checked like Humble's rclpy checks them. They catch plumbing
faults (topic names, frames, message fields, conversions, call order, start-up refusals). Each
scenario runs in its own subprocess so the fake `rclpy`/message modules never leak into other
tests. The real-ROS tests (QoS, discovery, launch) are policy_node/test/, skipped here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(scenario: str) -> dict:
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    completed = subprocess.run(
        [sys.executable, str(REPO / "tests" / "ros_stand_in.py"), scenario],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    assert completed.returncode == 0 and lines, (
        f"scenario {scenario} failed:\n{completed.stdout}\n{completed.stderr}"
    )
    return json.loads(lines[-1][len("RESULT ") :])


def test_every_node_refuses_bad_input_at_start_up_with_a_message():
    messages = _run("startup_failures")
    expected = {
        "policy_missing": "checkpoint and task are required",
        "policy_no_checkpoint": "does not exist",
        "policy_period": "control_period_s=0.0125 but this run expects 0.05",
        "policy_contract": "num_points=64 but this run expects 128",
        "policy_task": "'push-v3' is not one the checkpoint knows",
        "camera_serial": "serial '123456789012' not found",
        "camera_file": "missing.db3",
        "camera_decimation": "decimation must be",
        "preprocess_robot": "no_such_robot",
        "arm_interface": "no joint_trajectory_topic",
        "arm_unknown": "'velocity' is not one of",
    }
    for case, fragment in expected.items():
        assert messages[case] is not None, f"{case}: the node started"
        assert fragment in messages[case], f"{case}: {messages[case]}"


def test_real_robot_graph_from_recording_to_controller_commands():
    result = _run("real_graph")
    # depth_camera replayed the recording to its end (exit code 0) and every frame became a cloud
    assert result["camera_exit_code"] == 0
    assert result["clouds"] == 4 and result["cloud_frame"] == "base"
    assert result["actions"] >= 1  # clouds faster than the control rate are skipped by the policy
    trajectory = result["trajectory"]
    assert trajectory["joint_names"] == ["yaw", "shoulder", "elbow"]
    assert trajectory["velocities"] == [0.0, 0.0, 0.0]  # Jazzy's JTC rejects a moving end point
    assert trajectory["time_from_start_ns"] == 12_500_000  # one control period
    moved = np.subtract(trajectory["reached"], trajectory["start"])
    assert moved[0] > 0 and abs(moved[1]) < 1e-6  # +x as commanded, slowed by the accel bound
    assert trajectory["verdict"]["status"] == "clipped" and "accel" in trajectory["verdict"]["reasons"]
    assert [m["event"] for m in result["markers"]] == ["start", "end"] and result["markers"][1]["success"]
    assert "this checkpoint knows: reach-v3" in result["task_change"]
    assert result["after_tick"] == {"status": "held", "reasons": ["stale_action"]}
    assert result["after_stop"]["status"] == "stopped"
    np.testing.assert_allclose(result["pose"]["orientation"], result["expected_orientation"], atol=1e-9)


@pytest.mark.integration
def test_sim_graph_runs_episodes_in_lockstep():
    result = _run("sim_graph")
    assert not result["started_early"], "the bridge published before anyone subscribed"
    assert result["finished"] and result["exit_code"] == 0
    events = [(m["event"], m["task"]) for m in result["markers"]]
    assert events == [
        ("start", "reach-v3"), ("end", "reach-v3"), ("start", "drawer-open-v3"), ("end", "drawer-open-v3")
    ]  # fmt: skip
    assert all(m["num_steps"] == 5 for m in result["markers"] if m["event"] == "end")
    assert result["policy_task"] == "drawer-open-v3"  # followed the bridge's episodes
    # Lockstep: one command per observation, each stamped with the observation it answers.
    assert result["twist_stamps"] == result["image_stamps"] and len(result["twist_stamps"]) == 10
    assert result["safety"] == ["ok"]
    assert result["image_encoding"] == "16UC1"
    assert result["cloud"] == [64, "right_arm_base_link"]
    assert result["static_tf"] == ["right_arm_base_link->camera_color_optical_frame"]
    assert (
        result["metadata"]["robot"] == "metaworld_sawyer" and result["metadata"]["control_period_s"] == 0.0125
    )
