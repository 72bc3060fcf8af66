"""What the `arm_controller` node decides, without ROS: safety filtering, holds, command shaping.

Kept out of the node (which only converts messages) so that it runs and is tested on machines
without ROS (tests/test_arm_command.py). Imports numpy and mtdagger only.

Semantics, because a displacement-per-step action must be executed exactly once:
- `on_action` runs every received action through the `SafetyFilter` once, with the stamp of the
  observation it came from and its arrival time, and returns the command to send.
- `on_tick` (a timer at the control rate) never re-executes an action. It only notices that the
  last action has gone stale (older than the robot's max_action_age_s / max_observation_age_s)
  and then returns ONE hold, so a dead policy or camera stops the arm even when no message
  arrives (MoveIt Servo's incoming_command_timeout, in our filter).
- `stop()` latches the filter's stop and returns a hold; `reset()` clears it (services).
- `start_episode()` forgets the velocity memory (the arm is at rest at the start of an episode),
  and captures the orientation to hold for the episode.

Commands per interface (`command_interface`):
- 'twist': linear velocity = applied displacement / period (MoveIt Servo, `speed_units`); a hold
  is a zero twist.
- 'cartesian_pose': the filter's target position with the orientation held since the episode
  start (an impedance controller's equilibrium pose); a hold is the measured position.
- 'joint_trajectory': joint positions from IK of the target, seeded with the measured joints and
  holding the episode's orientation; a hold is the measured joints. An unreachable target is a
  hold with the reason 'ik_unreachable' (and the filter's velocity memory is reset, since the
  arm did not move as the filter assumed).
Joint-limit margins (robot config `safety.joint_limit_margin_rad`, per joint) are enforced before
any command leaves: the joint-trajectory IK refuses answers within a margin ('joint_limit_margin');
with a robot description and joint states, the twist and Cartesian interfaces solve the IK of the
filter's target from the measured joints and hold on the same rule, and when that IK finds no
answer they hold if the measured joints themselves are within a margin (the robot's own servo
does the kinematics then, so an IK miss alone is not a reason to hold).
Gripper goals are produced only when the command moves by more than `gripper_change_threshold`
(a GripperCommand goal is a whole grasp, not a stream).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from mtdagger.control.action import ACTION_DIM
from mtdagger.control.joint_limits import REASON_HOLD, limit_target
from mtdagger.control.kinematics import ArmKinematics, JointLimitMarginError, KinematicsError
from mtdagger.control.robot_config import COMMAND_INTERFACES, RobotConfig
from mtdagger.control.safety import STATUS_HELD, AppliedCommand, SafetyFilter
from mtdagger.control.trajectory_execution import TrajectoryExecution, TrajectoryPoint, command_points

# A gap between commands longer than this: the controller's trajectory has long ended, the arm rests.
_MIRROR_RESTART_S = 1.0
_Shaped = tuple[AppliedCommand, np.ndarray | None]


@dataclass(frozen=True)
class ArmControlSettings:
    command_interface: str
    gripper_change_threshold: float = 0.1
    # Joint trajectories reach their point after this long (0: the robot config's
    # controllers.trajectory_time_from_start_s, and if that is 0 one control period).
    trajectory_time_from_start_s: float = 0.0

    def __post_init__(self) -> None:
        if self.command_interface not in COMMAND_INTERFACES:
            raise ValueError(
                f"command_interface {self.command_interface!r} is not one of {', '.join(COMMAND_INTERFACES)}"
            )
        if not (math.isfinite(self.gripper_change_threshold) and self.gripper_change_threshold >= 0):
            raise ValueError(f"gripper_change_threshold must be >= 0, got {self.gripper_change_threshold!r}")
        if not (math.isfinite(self.trajectory_time_from_start_s) and self.trajectory_time_from_start_s >= 0):
            raise ValueError(
                f"trajectory_time_from_start_s must be >= 0, got {self.trajectory_time_from_start_s!r}"
            )


@dataclass(frozen=True)
class ArmCommand:
    """One command for the robot, in every form the node may need to send or record."""

    applied: AppliedCommand  # what the safety filter let through (the bag's applied_command)
    linear_velocity_m_s: np.ndarray  # (3,) applied displacement / period: the 'twist' command
    target_position: np.ndarray  # (3,) base frame: the 'cartesian_pose' position
    orientation_xyzw: np.ndarray | None  # held orientation for 'cartesian_pose'
    joint_positions: np.ndarray | None  # 'joint_trajectory' point (robot joint order), if any
    gripper_position_m: float | None  # a GripperCommand goal to send now, else None

    @property
    def is_hold(self) -> bool:
        return not self.applied.moved


class ArmControlCore:
    def __init__(self, robot: RobotConfig, settings: ArmControlSettings) -> None:
        if (
            settings.command_interface == "joint_trajectory"
            and robot.controllers.joint_trajectory_topic is None
        ):
            raise ValueError(
                f"robot {robot.name!r} has no joint_trajectory_topic for command_interface joint_trajectory"
            )
        if settings.command_interface == "cartesian_pose" and robot.controllers.cartesian_pose_topic is None:
            raise ValueError(
                f"robot {robot.name!r} has no cartesian_pose_topic for command_interface cartesian_pose"
            )
        if settings.command_interface == "twist" and robot.controllers.servo_twist_topic is None:
            raise ValueError(f"robot {robot.name!r} has no servo_twist_topic for command_interface twist")
        self.robot = robot
        self.settings = settings
        self.limits = robot.safety
        self.period_s = robot.safety.control_period_s
        self.safety = SafetyFilter(robot.safety)
        self.kinematics: ArmKinematics | None = None
        self._ee_position: np.ndarray | None = None
        self._ee_stamp_s = -math.inf
        self._ee_orientation: np.ndarray | None = None
        self._joints: np.ndarray | None = None
        self._held_orientation: np.ndarray | None = None  # xyzw, for cartesian_pose
        self._held_rotation: np.ndarray | None = None  # 3x3, for IK
        self._episode_started = False
        self._last_action: np.ndarray | None = None
        self._last_observation_s = -math.inf
        self._last_arrival_s = -math.inf
        self._holding = True  # nothing to hold before the first action: send nothing
        self._last_gripper_sent: float | None = None
        # The controller's execution as the arm controller commanded it (joint_trajectory): what the
        # joint limits are checked against (mtdagger.control.joint_limits).
        self.execution_law = robot.execution_law(settings.trajectory_time_from_start_s or None)
        self._execution: TrajectoryExecution | None = None
        self._execution_s = -math.inf
        self._now_s = 0.0

    def trajectory_points(self, joint_positions) -> tuple[TrajectoryPoint, ...]:
        """The JointTrajectory points to send for a joint target (trajectory_execution.command_points)."""
        return command_points(joint_positions, self.execution_law)

    @property
    def trajectory_time_s(self) -> float:
        return (
            self.settings.trajectory_time_from_start_s
            or self.robot.controllers.trajectory_time_from_start_s
            or self.period_s
        )

    # ------------------------------------------------------------------ measurements
    def set_kinematics(self, kinematics: ArmKinematics) -> None:
        missing = [name for name in kinematics.joint_names if name not in self.robot.joint_names]
        if missing:
            raise KinematicsError(
                f"IK chain {kinematics.base_link} -> {kinematics.tip_link} has joints {missing} "
                f"that robot {self.robot.name!r} does not list ({', '.join(self.robot.joint_names)})"
            )
        kinematics.set_joint_margins([self.limits.margin_for(name) for name in kinematics.joint_names])
        self.kinematics = kinematics

    def on_ee_pose(self, position, stamp_s: float, orientation_xyzw=None) -> None:
        """The measured EE pose (base frame). Its stamp counts as part of the observation's age:
        a frozen pose stream makes every later action stale, as a frozen camera does."""
        position = np.asarray(position, dtype=np.float64)
        if position.shape == (3,) and np.all(np.isfinite(position)):
            self._ee_position = position
            self._ee_stamp_s = float(stamp_s)
        if orientation_xyzw is not None:
            quaternion = np.asarray(orientation_xyzw, dtype=np.float64)
            norm = float(np.linalg.norm(quaternion)) if quaternion.shape == (4,) else 0.0
            if math.isfinite(norm) and abs(norm - 1.0) < 1e-3:
                self._ee_orientation = quaternion / norm

    def on_joint_state(self, names, positions) -> None:
        """Keeps the chain's joints (IK seed, holds); ignores a state that lacks some of them."""
        if self.kinematics is None:
            return
        try:
            self._joints = self.kinematics.joints_from_state(list(names), list(positions))
        except (KinematicsError, ValueError):
            return

    # ------------------------------------------------------------------ episode and stop
    def start_episode(self) -> bool:
        """Reset the filter at the measured pose; False while the EE pose is still unknown."""
        if self._ee_position is None:
            return False
        self.safety.reset(self._ee_position)
        self._held_orientation = self._ee_orientation
        self._held_rotation = None
        if (
            self.kinematics is not None
            and self._joints is not None
            and self.kinematics.settings.hold_orientation
        ):
            self._held_rotation = self.kinematics.forward(self._joints)[:3, :3]
        self._episode_started = True
        self._execution = None  # the arm is at rest at the start of an episode
        return True

    def stop(self, now_s: float, reason: str = "explicit_stop") -> ArmCommand | None:
        self.safety.stop(reason)
        return self._hold_now(now_s)

    def reset(self) -> bool:
        self.safety.clear_stop()
        return self.start_episode()

    # ------------------------------------------------------------------ the control step
    def on_action(self, action, observation_stamp_s: float, now_s: float) -> ArmCommand | None:
        """Filter and shape one policy action (None: no EE pose yet, nothing can be sent)."""
        if not self._episode_started and not self.start_episode():
            return None
        self._last_action = np.asarray(action, dtype=np.float64).reshape(-1)
        # The observation is the cloud and the proprioception: it is as old as the older one,
        # unless one is stamped in the future (a clock problem), which the filter must see: taking
        # the older one would hide a camera stamp ahead of `now` behind a fresh pose.
        stamps = (float(observation_stamp_s), self._ee_stamp_s)
        ahead = [s for s in stamps if s > now_s + self.limits.future_stamp_tolerance_s]
        self._last_observation_s = max(ahead) if ahead else min(stamps)
        self._last_arrival_s = float(now_s)
        self._now_s = float(now_s)
        applied = self.safety.filter(
            self._last_action,
            ee_position=self._ee_position,
            now_s=now_s,
            observation_stamp_s=self._last_observation_s,
            action_stamp_s=now_s,
        )
        command = self._shape(applied)
        self._holding = command.is_hold
        return command

    def on_tick(self, now_s: float) -> ArmCommand | None:
        """A hold when the last action has just gone stale (once), else None."""
        if self._holding or self._last_action is None:
            return None
        action_age = now_s - self._last_arrival_s
        observation_age = now_s - self._last_observation_s
        if (
            action_age <= self.limits.max_action_age_s
            and observation_age <= self.limits.max_observation_age_s
        ):
            return None
        # The filter itself classifies the staleness (and latches the hold's velocity memory).
        self._now_s = float(now_s)
        applied = self.safety.filter(
            self._last_action,
            ee_position=self._ee_position,
            now_s=now_s,
            observation_stamp_s=self._last_observation_s,
            action_stamp_s=self._last_arrival_s,
        )
        self._holding = True
        return self._shape(applied)

    def fault_hold(self, now_s: float, reason: str) -> ArmCommand | None:
        """A hold after an exception in the command path (the node's callbacks): the arm stays
        where it is and the reason is recorded; None when not even a hold can be shaped."""
        try:
            if not self._episode_started:
                self.start_episode()  # the failure came first: hold where the arm is measured
            command = self._hold_now(now_s)
        except Exception:  # the caller is already handling a failure: never raise from here
            return None
        if command is None:
            return None
        applied = replace(command.applied, status=STATUS_HELD, reasons=(*command.applied.reasons, reason))
        return replace(command, applied=applied)

    def _hold_now(self, now_s: float) -> ArmCommand | None:
        if self._ee_position is None or not self._episode_started:
            return None
        self._now_s = float(now_s)
        hold_action = np.zeros(ACTION_DIM)
        hold_action[3] = self.safety.last_gripper
        applied = self.safety.filter(
            hold_action,
            ee_position=self._ee_position,
            now_s=now_s,
            observation_stamp_s=now_s,
            action_stamp_s=now_s,
        )
        self._holding = True
        return self._shape(applied)

    # ------------------------------------------------------------------ shaping
    def _shape(self, applied: AppliedCommand) -> ArmCommand:
        joints = None
        interface = self.settings.command_interface
        if interface == "joint_trajectory":
            applied, joints = self._joint_target(applied)
        elif interface == "cartesian_pose" and self._held_orientation is None and applied.moved:
            applied = self._as_hold(applied, "no_ee_orientation")
        if interface != "joint_trajectory" and applied.moved and self._near_joint_limit(applied):
            applied = self._as_hold(applied, "joint_limit_margin")
        velocity = np.asarray(applied.action[:3], dtype=np.float64) / self.period_s
        return ArmCommand(
            applied=applied,
            linear_velocity_m_s=velocity,
            target_position=np.asarray(applied.target_position, dtype=np.float64),
            orientation_xyzw=self._held_orientation,
            joint_positions=joints,
            gripper_position_m=self._gripper_goal(float(applied.action[3])),
        )

    def _joint_target(self, applied: AppliedCommand) -> tuple[AppliedCommand, np.ndarray | None]:
        if self.kinematics is None or self._joints is None:
            reason = "no_robot_description" if self.kinematics is None else "no_joint_state"
            return self._as_hold(applied, reason), None
        target = None  # None: stop (a hold)
        if applied.moved:
            try:
                solution = self.kinematics.solve(applied.target_position, self._joints, self._held_rotation)
                target = solution.joint_positions
            except JointLimitMarginError:
                applied = self._as_hold(applied, "joint_limit_margin")
            except KinematicsError:
                applied = self._as_hold(applied, "ik_unreachable")
            except (ValueError, ArithmeticError) as error:  # a NaN answer: a hold, never a raise
                applied = self._as_hold(applied, f"ik_error: {error}")
            if target is not None and not np.all(np.isfinite(target)):
                target, applied = None, self._as_hold(applied, "ik_error: non-finite joint positions")
        return self._within_joint_limits(applied, target)

    def _within_joint_limits(self, applied: AppliedCommand, target) -> _Shaped:
        """The joint target that may leave: checked on the trajectory as the controller executes it
        (scaled, or None = send nothing; mtdagger.control.joint_limits). Without joint limits in the
        robot config, a hold is the measured joints, as before."""
        limits = self.robot.joint_limits
        if limits is None:
            return applied, (self._joints.copy() if target is None else target)
        execution = self._execution_now()
        verdict = limit_target(execution, target, limits, self.kinematics.joint_names)
        if verdict.reason == REASON_HOLD and applied.moved:
            applied = self._as_hold(applied, REASON_HOLD)
        elif verdict.reason is not None:
            applied = replace(applied, reasons=(*applied.reasons, verdict.reason))
        if verdict.positions is not None:
            execution.receive(self.trajectory_points(verdict.positions))
        return applied, verdict.positions

    def _execution_now(self) -> TrajectoryExecution:
        """The controller's state now: the mirror advanced to `now`, or at rest at the measured joints."""
        elapsed = self._now_s - self._execution_s
        if self._execution is None or not 0 <= elapsed <= _MIRROR_RESTART_S:
            self._execution = TrajectoryExecution(self.execution_law, self._joints)
            self._execution_s = self._now_s
        elif elapsed > 0:
            self._execution.advance(elapsed)
            dt = self.execution_law.update_period_s
            self._execution_s += round(elapsed / dt) * dt
        return self._execution

    def _near_joint_limit(self, applied: AppliedCommand) -> bool:
        """Twist / Cartesian: would the target put a joint within its margin? (False without a URDF.)"""
        if self.kinematics is None or self._joints is None:
            return False
        try:
            self.kinematics.solve(applied.target_position, self._joints, self._held_rotation)
        except JointLimitMarginError:
            return True
        except KinematicsError:
            return bool(self.kinematics.margin_problems(self._joints))
        except (ValueError, ArithmeticError):  # a NaN answer: hold (conservative)
            return True
        return False

    def _gripper_goal(self, command: float) -> float | None:
        if self.robot.gripper is None:
            return None
        last = self._last_gripper_sent
        if last is not None and abs(command - last) <= self.settings.gripper_change_threshold:
            return None
        self._last_gripper_sent = command
        return self.robot.gripper.position_m(command)

    @property
    def gripper_goal_m(self) -> float | None:
        """The gripper goal in force (m per finger): the last one sent, as a gripper server holds
        it until the next goal; None before the first. What a lockstep simulator must execute."""
        if self.robot.gripper is None or self._last_gripper_sent is None:
            return None
        return self.robot.gripper.position_m(self._last_gripper_sent)

    def forget_gripper_goal(self) -> None:
        """The last gripper goal could not be delivered: send the next command's goal regardless."""
        self._last_gripper_sent = None

    def _as_hold(self, applied: AppliedCommand, reason: str) -> AppliedCommand:
        """The command turned into a hold where the arm is (gripper kept), with an extra reason.

        The filter believed the arm moves; it does not, so its velocity memory is reset (the next
        command accelerates from rest, which is the conservative reading)."""
        if applied.moved and self._ee_position is not None:
            self.safety.reset(self._ee_position)
        action = np.asarray(applied.action, dtype=np.float32).copy()
        action[:3] = 0.0
        target = self._ee_position.copy() if self._ee_position is not None else applied.target_position
        return replace(
            applied,
            action=action,
            target_position=target,
            status=STATUS_HELD,
            reasons=(*applied.reasons, reason),
        )
