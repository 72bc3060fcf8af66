"""The dead-man over real rclpy: the arm controller holds (its safety record names the dead-man)
when the trial console's heartbeat is missing longer than `deadman_timeout_s`, whether the
heartbeats just stop or the console process is killed with SIGKILL, and holds from the start
until a console is there. Off (0, the default outside real.launch.py) it never holds for it.

"Within the configured time" is read from the hold itself: the reason carries the heartbeat's
age when the check fired, which must be the timeout plus at most one check (a control period,
or the next action), with a margin for a loaded CI machine's scheduling.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from mtdagger.control.deadman import REASON_NEVER, REASON_PREFIX

TIMEOUT_S = 0.3
SLACK_S = 0.25  # one check period is 12.5 ms here; the rest is for a loaded machine
REPO = Path(__file__).resolve().parents[2]


class Harness:
    """An arm controller (MetaWorld Sawyer config: twist interface, 12.5 ms period, wall clock),
    fed an EE pose and a zero action every 10 ms, and a listener of its safety records."""

    def __init__(self, timeout_s: float) -> None:
        import rclpy
        from geometry_msgs.msg import PoseStamped
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter import Parameter
        from sensor_msgs.msg import JointState
        from std_msgs.msg import String
        from std_srvs.srv import Trigger

        from mtdagger.messages import topics

        rclpy.init()
        from policy_node.arm_controller import ArmControllerNode

        params = {
            "robot_config": "metaworld_sawyer",
            "gripper_interface": "topic",
            "deadman_timeout_s": timeout_s,
        }
        self.arm = ArmControllerNode(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        self.probe = rclpy.create_node("deadman_probe")
        self.pose_pub = self.probe.create_publisher(PoseStamped, topics.EE_STATE_TOPIC, 10)
        self.action_pub = self.probe.create_publisher(JointState, topics.ACTION_COMMAND_TOPIC, 10)
        self.beat_pub = self.probe.create_publisher(String, topics.TRIAL_HEARTBEAT_TOPIC, 1)
        self.reset = self.probe.create_client(Trigger, "/arm_controller/reset")
        self.records: list[tuple[float, dict]] = []
        self.probe.create_subscription(String, topics.SAFETY_TOPIC, self._on_safety, 100)
        self.heard: list[float] = []  # heartbeats of a console process (not the harness's own)
        self.probe.create_subscription(String, topics.TRIAL_HEARTBEAT_TOPIC, self._on_beat, 10)
        self.executor = SingleThreadedExecutor()
        for node in (self.arm, self.probe):
            self.executor.add_node(node)
        self._rclpy, self._String = rclpy, String

    def _on_beat(self, msg) -> None:
        if msg.data != "{}":  # a console's, not the harness's own
            self.heard.append(time.monotonic())

    def _on_safety(self, msg) -> None:
        import json

        self.records.append((time.monotonic(), json.loads(msg.data)))

    def run(self, seconds: float, beat: bool) -> None:
        from geometry_msgs.msg import PoseStamped
        from policy_node.ros_support import action_command_msg

        end = time.monotonic() + seconds
        next_send = 0.0
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_send:
                stamp = self.arm.get_clock().now().nanoseconds
                pose = PoseStamped()
                pose.header.stamp.sec, pose.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
                pose.pose.position.x, pose.pose.position.z, pose.pose.orientation.w = 0.0, 0.2, 1.0
                self.pose_pub.publish(pose)
                self.action_pub.publish(action_command_msg([0.0, 0.0, 0.0, -1.0], stamp, "world"))
                if beat:
                    self.beat_pub.publish(self._String(data="{}"))
                next_send = now + 0.01
            self.executor.spin_once(timeout_sec=0.002)

    def call_reset(self) -> None:
        from std_srvs.srv import Trigger

        future = self.reset.call_async(Trigger.Request())
        self.executor.spin_until_future_complete(future, timeout_sec=5.0)
        assert future.result() is not None and future.result().success

    def deadman_records(self, after: float = 0.0) -> list[tuple[float, dict]]:
        return [
            (t, v)
            for t, v in self.records
            if t > after and any(r.startswith("deadman") for r in v["reasons"])
        ]

    def close(self) -> None:
        self.executor.shutdown()
        for node in (self.arm, self.probe):
            node.destroy_node()
        self._rclpy.try_shutdown()


@pytest.fixture
def harness():
    made: list[Harness] = []
    yield lambda timeout_s=TIMEOUT_S: made.append(Harness(timeout_s)) or made[-1]
    for h in made:
        h.close()


def _age_of(verdict: dict) -> float:
    (reason,) = [r for r in verdict["reasons"] if r.startswith(REASON_PREFIX)]
    return float(re.search(r"for ([0-9.]+) s", reason).group(1))


def _assert_held_from(h: Harness, since: float) -> float:
    """Every record after the first dead-man hold is a stopped hold naming the dead-man; returns the
    heartbeat age the hold reported."""
    held = h.deadman_records(since)
    assert held, f"no dead-man hold after the heartbeat stopped: {h.records[-3:]}"
    first_t, first = held[0]
    assert first["status"] == "stopped"
    age = _age_of(first)
    assert TIMEOUT_S <= age <= TIMEOUT_S + SLACK_S, f"held at a heartbeat age of {age} s"
    later = [v for t, v in h.records if t > first_t]
    assert later and all(v["status"] == "stopped" and v["reasons"] == first["reasons"] for v in later[:1])
    assert all(v["status"] == "stopped" for v in later), later[-3:]
    return age


def test_no_heartbeat_yet_holds_a_heartbeat_arms_and_its_stop_holds_within_the_timeout(harness):
    h = harness()
    h.run(0.3, beat=False)
    assert h.records and all(
        v["status"] == "stopped" and v["reasons"] == [REASON_NEVER] for _, v in h.records
    )
    h.run(0.2, beat=True)
    h.call_reset()  # the console arms the episode
    armed = time.monotonic()
    h.run(0.4, beat=True)
    after_reset = [v for t, v in h.records if t > armed + 0.05]
    assert after_reset and not any(r.startswith("deadman") for v in after_reset for r in v["reasons"])
    stopped = time.monotonic()
    h.run(TIMEOUT_S + 0.6, beat=False)
    _assert_held_from(h, stopped)
    h.call_reset()  # a reset while the console is still missing is undone at once
    again = time.monotonic()
    h.run(0.2, beat=False)
    assert h.deadman_records(again)


def test_off_it_never_holds_for_the_heartbeat(harness):
    h = harness(0.0)
    h.run(0.5, beat=False)
    assert h.records and not h.deadman_records()


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory) -> Path:
    from tiny_checkpoint import save_tiny_fr3_checkpoint

    from mtdagger.trial.plan import make_plan, parse_objects, write_plan

    folder = tmp_path_factory.mktemp("trial")
    checkpoint = save_tiny_fr3_checkpoint(folder / "tiny")
    return write_plan(
        make_plan(str(checkpoint), ("drawer-open",), parse_objects("3,21"), 1, 0), folder / "plan.yaml"
    )


def _console(plan: Path) -> tuple[subprocess.Popen, int]:
    """`mtdagger trial run PLAN` on a pseudo-terminal (the Textual console needs one): (process,
    the terminal's master end, to drain its screen)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    command = [sys.executable, "-m", "mtdagger.cli", "trial", "run", str(plan), "--service-timeout", "20"]
    process = subprocess.Popen(
        command, cwd=REPO, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
    )
    os.close(slave)
    os.set_blocking(master, False)
    return process, master


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except (BlockingIOError, OSError):
        pass


def test_a_console_killed_with_sigkill_holds_the_arm_within_the_timeout(harness, plan_file):
    h = harness()
    process, fd = _console(plan_file)
    try:
        deadline = time.monotonic() + 90.0  # the console starts (Python, rclpy, Textual) and beats
        while time.monotonic() < deadline and process.poll() is None:
            h.run(0.2, beat=False)
            _drain(fd)
            if len(h.heard) > 3:
                break  # the console's UI loop is beating
        assert process.poll() is None, f"the console exited with {process.returncode}"
        assert len(h.heard) > 3, "the console's heartbeat never arrived"
        h.run(0.3, beat=False)
        h.call_reset()  # armed as the console does on confirm
        armed = time.monotonic()
        h.run(0.5, beat=False)  # only the console's heartbeat keeps it armed now
        _drain(fd)
        assert not h.deadman_records(armed + 0.05)
    finally:
        killed = time.monotonic()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        os.close(fd)
    h.run(TIMEOUT_S + 0.6, beat=False)
    _assert_held_from(h, killed)
