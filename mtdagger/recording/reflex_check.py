"""Reflex check of a recorded bag: would the arm's commanded motion trip the FR3's joint-motion
limits? The bag's commanded trajectories are executed by the one trajectory-execution model
(`mtdagger.control.trajectory_execution`, the robot config's JTC law) at 1 kHz, and the peak joint
velocity, acceleration and jerk (and the position range) per joint are compared with the robot
config's `joint_limits` (`mtdagger.control.joint_limits.peaks`/`violations`, the same measures
the arm controller enforces before sending).

Where the commands come from, named in the report's `source`:
- 'recorded': JointTrajectory messages on the robot config's joint_trajectory_topic, when the bag
  has that topic (taken at their receive time, as a JTC takes a header stamp 0);
- 'replayed': the evaluation bag layout does not record that topic, so the arm controller's own
  core (`ArmControlCore`, joint_trajectory mode, with the robot's URDF) is replayed on the inputs
  the bag did record: the policy's action (/mtdagger/action), the EE pose and the joint states,
  at the action's stamp. Same code and inputs, so the same trajectories, up to message timing.
A new episode (marker) or a gap of more than a second restarts the model at rest at the measured
joints: the cell resets the arm between episodes, which is no commanded motion.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtdagger.control.joint_limits import peaks, violations
from mtdagger.control.robot_config import RobotConfig
from mtdagger.control.trajectory_execution import TrajectoryExecution, TrajectoryPoint
from mtdagger.messages import topics
from mtdagger.messages.convert import joint_state_from_msg, pose_from_msg, twist_from_msg
from mtdagger.recording.bag_files import BagError, has_footer, iter_anyreader, iter_mcap_stream, locate_bag

_RESTART_GAP_S = 1.0
PEAK_KEYS = ("velocity", "acceleration", "jerk")
_POINT_FIELDS = ("positions", "velocities", "accelerations")


@dataclass(frozen=True)
class Commanded:
    """One trajectory the arm controller sent (robot joint order), at `time_s`; or an episode start."""

    time_s: float
    points: tuple[TrajectoryPoint, ...] | None  # None: an episode starts, `start` are the joints
    start: np.ndarray | None = None


@dataclass(frozen=True)
class ReflexReport:
    bag: str
    source: str
    trajectories: int
    episodes: int
    joint_names: tuple[str, ...]
    peaks: dict[str, np.ndarray]
    limits: dict[str, np.ndarray]
    violations: tuple[str, ...]


def _messages(path: Path):
    bag_dir, files = locate_bag(path)
    if (bag_dir / "metadata.yaml").is_file() and all(has_footer(f) for f in files):
        return iter_anyreader(bag_dir)
    return iter_mcap_stream(files, [])


def _arm_joints(msg, names) -> np.ndarray | None:
    reading = joint_state_from_msg(msg)
    if not all(name in reading.names for name in names) or reading.positions.size != len(reading.names):
        return None
    return np.array([reading.positions[reading.names.index(name)] for name in names])


def _recorded_points(msg, names) -> tuple[TrajectoryPoint, ...]:
    order = [list(msg.joint_names).index(name) for name in names]
    out = []
    for point in msg.points:
        fields = [np.asarray(getattr(point, f), dtype=np.float64) for f in _POINT_FIELDS]
        fields = [None if f.size == 0 else f[order] for f in fields]
        tfs = point.time_from_start.sec + point.time_from_start.nanosec * 1e-9
        out.append(TrajectoryPoint(fields[0], tfs, fields[1], fields[2]))
    return tuple(out)


class _Replay:
    """The arm controller core fed with the bag's recorded inputs (see the module doc)."""

    def __init__(self, robot: RobotConfig, kinematics) -> None:
        from mtdagger.control.arm_command import ArmControlCore, ArmControlSettings

        self._make = lambda: ArmControlCore(robot, ArmControlSettings("joint_trajectory"))
        self.kinematics = kinematics
        self.period_s = robot.safety.control_period_s
        self.core = None

    def new_episode(self) -> None:
        self.core = self._make()
        self.core.set_kinematics(self.kinematics)

    def on_action(self, msg, ee, joints, names) -> Commanded | None:
        if self.core is None or ee is None or joints is None:
            return None
        stamp_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.core.on_ee_pose(ee[0], stamp_s, ee[1])
        self.core.on_joint_state(names, joints)
        action = np.append(twist_from_msg(msg)[0] * self.period_s, 0.0)
        command = self.core.on_action(action, stamp_s, stamp_s)
        if command is None or command.joint_positions is None:
            return None
        return Commanded(stamp_s, self.core.trajectory_points(command.joint_positions), joints.copy())


def read_commands(path: str | Path, robot: RobotConfig, kinematics=None) -> tuple[str, list[Commanded]]:
    """('recorded' | 'replayed', the commanded trajectories and episode starts in time order)."""
    names = list(robot.joint_names)
    topic = robot.controllers.joint_trajectory_topic
    replay = None if kinematics is None else _Replay(robot, kinematics)
    recorded, replayed = [], []
    ee = joints = None
    try:
        for name, stamp_ns, decode in _messages(Path(path)):
            if name == topic:
                recorded.append(Commanded(stamp_ns * 1e-9, _recorded_points(decode(), names), joints))
            elif name == topics.EE_STATE_TOPIC:
                ee = pose_from_msg(decode())
            elif name == topics.JOINT_STATES_TOPIC:
                reading = _arm_joints(decode(), names)
                joints = joints if reading is None else reading
            elif name == topics.EPISODE_TOPIC and json.loads(decode().data).get("event") == "start":
                ee = None
                if replay is not None:
                    replay.new_episode()
                recorded.append(Commanded(stamp_ns * 1e-9, None))
                replayed.append(Commanded(stamp_ns * 1e-9, None))
            elif name == topics.ACTION_TOPIC and replay is not None:
                command = replay.on_action(decode(), ee, joints, names)
                if command is not None:
                    replayed.append(command)
    except BagError:
        raise
    except Exception as error:  # rosbags/mcap raise many types for a damaged file
        raise BagError(f"{path}: cannot read bag: {type(error).__name__}: {error}") from error
    if any(c.points for c in recorded):
        return "recorded", recorded
    if replay is None:
        raise BagError(f"{path}: no {topic} messages; give the robot's URDF to replay the arm controller")
    return "replayed", replayed


def execute(commands: list[Commanded], robot: RobotConfig) -> tuple[dict, int, int]:
    """Run the commands through the model at 1 kHz: (per-joint peaks, trajectories, episodes)."""
    law = robot.execution_law()
    dt = law.update_period_s
    execution, last_s, previous = None, -math.inf, np.zeros(len(robot.joint_names))
    totals: dict[str, np.ndarray] = {}
    count = episodes = 0

    def run(duration):
        nonlocal previous
        samples = execution.advance(duration)
        if len(samples.times_s):
            for key, value in peaks(samples, previous, dt).items():
                reduce = np.minimum if key == "position_min" else np.maximum
                totals[key] = value if key not in totals else reduce(totals[key], value)
            previous = samples.accelerations[-1]

    for command in commands:
        if command.points is None or execution is None or command.time_s - last_s > _RESTART_GAP_S:
            if execution is not None:
                run(law.trajectory_time_s + 0.05)  # the last trajectory plays out to rest
            if command.points is None:
                episodes += 1
                execution = None
                continue
            start = command.start if command.start is not None else command.points[0].positions
            execution, previous = TrajectoryExecution(law, start), np.zeros(len(start))
            last_s = command.time_s
        run(max(0.0, command.time_s - last_s))
        last_s = command.time_s
        execution.receive(command.points)
        count += 1
    if execution is not None:
        run(law.trajectory_time_s + 0.05)
    return totals, count, episodes


def check_bag(path: str | Path, robot: RobotConfig, kinematics=None) -> ReflexReport:
    """The reflex check of one bag (see the module doc); `kinematics` (an ArmKinematics of the
    robot's URDF) is needed only when the bag lacks the JointTrajectory topic."""
    if robot.joint_limits is None:
        raise ValueError(f"robot {robot.name!r} has no joint_limits in its robot config")
    source, commands = read_commands(path, robot, kinematics)
    totals, count, episodes = execute(commands, robot)
    if not count:
        raise BagError(f"{path}: no commanded joint trajectory to check")
    names = tuple(robot.joint_names)
    limits = {key: robot.joint_limits.array(key, names) for key in ("lower", "upper", *PEAK_KEYS)}
    found = violations(totals, robot.joint_limits, names, tolerance=1e-6)
    return ReflexReport(str(path), source, count, episodes, names, totals, limits, tuple(found))


def format_report(report: ReflexReport) -> str:
    """Markdown: per joint, peak vs limit (and the fraction of the limit used)."""
    lines = [
        f"# Reflex check: {report.bag}",
        "",
        f"{report.trajectories} commanded trajectories ({report.source}) in {report.episodes} episode(s), "
        "executed by the robot config's trajectory controller model at 1 kHz.",
        "",
        "| joint | position range (rad) | limits | peak velocity (rad/s) | peak acceleration (rad/s^2) "
        "| peak jerk (rad/s^3) |",
        "|---|---|---|---|---|---|",
    ]
    p, lim = report.peaks, report.limits
    for i, name in enumerate(report.joint_names):
        cells = [f"{p[k][i]:.3g} / {lim[k][i]:g} ({p[k][i] / lim[k][i]:.0%})" for k in PEAK_KEYS]
        lines.append(f"| {name} | {p['position_min'][i]:.3f} .. {p['position_max'][i]:.3f} "
                     f"| {lim['lower'][i]:g} .. {lim['upper'][i]:g} | " + " | ".join(cells) + " |")
    lines += ["", "violations: " + ("; ".join(report.violations) if report.violations else "none")]
    return "\n".join(lines)
