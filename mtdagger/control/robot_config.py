"""Robot descriptions loaded from configs/robots/<robot>.yaml.

One YAML per robot says everything the deployment needs that is specific to the arm: the safety
limits (`SafetyLimits`, enforced by the same `SafetyFilter` in-process and in the ROS node), the
frames and joint names, where its controllers listen, and how the convention's gripper command in
[-1, 1] becomes a `control_msgs/GripperCommand` position. Keeping these in data, not code, is what
lets the same nodes drive the simulated Sawyer and a real Franka FR3.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mtdagger.config_validation import Bounds, validate_fields
from mtdagger.control.joint_limits import JointLimits
from mtdagger.control.safety_limits import SafetyLimits
from mtdagger.control.trajectory_execution import POINT_FIELDS, START_STATES, ExecutionLaw
from mtdagger.files import load_yaml

COMMAND_INTERFACES = ("joint_trajectory", "cartesian_pose", "twist")
# configs/robots/ of a source checkout (editable install); bare robot names are looked up here.
ROBOT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "robots"


_METRES = "metres in the robot base frame, not millimetres"
# Plausibility bounds: a value outside them is a unit mistake or a typo, not a robot we drive.
# Fields not listed still have their type checked (from the annotation) by the generic validator.
PLAUSIBLE_BOUNDS: dict[tuple[type, str], Bounds] = {
    (SafetyLimits, "workspace_min"): Bounds(ge=-5, le=5, why=_METRES),
    (SafetyLimits, "workspace_max"): Bounds(ge=-5, le=5, why=_METRES),
    (SafetyLimits, "max_speed_m_s"): Bounds(gt=0, le=5, why="m/s; no arm end effector we drive is faster"),
    (SafetyLimits, "max_accel_m_s2"): Bounds(gt=0, le=1000, why="m/s^2"),
    (SafetyLimits, "max_observation_age_s"): Bounds(gt=0, le=10, why="seconds, not milliseconds"),
    (SafetyLimits, "max_action_age_s"): Bounds(gt=0, le=10, why="seconds, not milliseconds"),
    (SafetyLimits, "control_period_s"): Bounds(gt=0, le=1, why="seconds, not milliseconds"),
    (SafetyLimits, "future_stamp_tolerance_s"): Bounds(ge=0, le=1, why="seconds"),
}


@dataclass(frozen=True)
class ControllerTopics:
    """Where the robot's controllers take commands; None where this robot has no such controller."""

    # ros2_control joint_trajectory_controller: topic (fire-and-forget) and action.
    joint_trajectory_topic: str | None = None
    follow_joint_trajectory_action: str | None = None
    # Cartesian impedance controller's equilibrium pose (geometry_msgs/PoseStamped).
    cartesian_pose_topic: str | None = None
    # MoveIt Servo twist input (geometry_msgs/TwistStamped); the sim bridge listens here too.
    servo_twist_topic: str | None = None
    # control_msgs/action/GripperCommand server.
    gripper_action: str | None = None
    joint_states_topic: str = "/joint_states"
    # time_from_start of the arm controller's one-point joint trajectories (0: one control period).
    # A robot property, not a node setting: how far the arm gets in one step depends on it, so a
    # checkpoint is trained with it (ActionConvention.trajectory_time_s) and refused without it.
    trajectory_time_from_start_s: float = 0.0
    # Which JointTrajectoryPoint fields the arm controller fills (the JTC's interpolation follows:
    # positions -> linear, + velocities -> cubic, + accelerations -> quintic) and which state a new
    # trajectory starts from: 'measured' (JTC default) or 'desired' (its
    # interpolate_from_desired_state). mtdagger.control.trajectory_execution executes exactly this.
    trajectory_point_fields: str = "positions_velocities"
    trajectory_start_state: str = "measured"

    def __post_init__(self) -> None:
        if self.trajectory_point_fields not in POINT_FIELDS:
            raise ValueError(f"trajectory_point_fields must be one of {POINT_FIELDS}, "
                             f"got {self.trajectory_point_fields!r}")
        if self.trajectory_start_state not in START_STATES:
            raise ValueError(f"trajectory_start_state must be one of {START_STATES}, "
                             f"got {self.trajectory_start_state!r}")


PLAUSIBLE_BOUNDS[(ControllerTopics, "trajectory_time_from_start_s")] = Bounds(
    ge=0, le=2, why="seconds, not milliseconds"
)


@dataclass(frozen=True)
class GripperConfig:
    """Maps the convention's gripper command (-1 open .. +1 closed) to a GripperCommand goal."""

    open_position_m: float
    closed_position_m: float
    max_effort_n: float

    def __post_init__(self) -> None:
        if self.max_effort_n < 0:
            raise ValueError(f"gripper max_effort_n must be >= 0, got {self.max_effort_n}")
        if self.open_position_m == self.closed_position_m:
            raise ValueError("gripper open and closed positions must differ")

    def position_m(self, command: float) -> float:
        """Linear map: -1 -> open_position_m, +1 -> closed_position_m (command clipped to [-1, 1])."""
        closed_fraction = (min(max(float(command), -1.0), 1.0) + 1.0) / 2.0
        return self.open_position_m + closed_fraction * (self.closed_position_m - self.open_position_m)


PLAUSIBLE_BOUNDS.update(
    {
        (GripperConfig, "open_position_m"): Bounds(ge=-1, le=1, why="metres, not millimetres"),
        (GripperConfig, "closed_position_m"): Bounds(ge=-1, le=1, why="metres, not millimetres"),
        (GripperConfig, "max_effort_n"): Bounds(ge=0, le=10_000, why="newtons"),
    }
)


@dataclass(frozen=True)
class RobotConfig:
    name: str
    base_frame: str  # REP 105 base of the arm: the frame every policy quantity is expressed in
    ee_frame: str
    joint_names: tuple[str, ...]
    safety: SafetyLimits
    controllers: ControllerTopics = field(default_factory=ControllerTopics)
    gripper: GripperConfig | None = None
    default_command_interface: str = "twist"
    description: str = ""
    # Joint position/velocity/acceleration/jerk limits checked on the executed trajectory before a
    # joint trajectory leaves (mtdagger.control.joint_limits); None: no such check for this robot.
    joint_limits: JointLimits | None = None

    def execution_law(self, trajectory_time_s: float | None = None) -> ExecutionLaw:
        """How this robot's trajectory controller executes the arm controller's trajectories."""
        controllers = self.controllers
        time_s = trajectory_time_s or controllers.trajectory_time_from_start_s or self.safety.control_period_s
        return ExecutionLaw(
            trajectory_time_s=float(time_s),
            point_fields=self.controllers.trajectory_point_fields,
            start_state=self.controllers.trajectory_start_state,
        )

    def __post_init__(self) -> None:
        if not self.name or not self.base_frame or not self.ee_frame:
            raise ValueError("robot config needs a name, base_frame and ee_frame")
        if not self.joint_names or len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f"joint_names must be non-empty and unique, got {self.joint_names}")
        margins = self.safety.joint_limit_margin_rad
        named = {name for name, _ in margins} if isinstance(margins, tuple) else set()
        unknown = sorted(named - set(self.joint_names))
        if unknown:
            raise ValueError(f"safety.joint_limit_margin_rad names joint(s) {unknown} that joint_names "
                             f"does not list ({', '.join(self.joint_names)})")
        limited = [name for name, _ in self.joint_limits.joints] if self.joint_limits is not None else None
        if limited is not None and limited != list(self.joint_names):
            raise ValueError(f"joint_limits names {limited} are not joint_names {list(self.joint_names)}")
        if self.default_command_interface not in COMMAND_INTERFACES:
            raise ValueError(f"default_command_interface must be one of {COMMAND_INTERFACES}, "
                             f"got {self.default_command_interface!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "robot config") -> RobotConfig:
        data = dict(data)
        _reject_unknown(data, cls, source)
        try:
            if isinstance(data.get("safety"), dict):
                validate_fields(SafetyLimits, data["safety"], "safety", PLAUSIBLE_BOUNDS)
            safety = SafetyLimits.from_dict(dict(data.pop("safety")))
            controllers = data.pop("controllers", None) or {}
            _reject_unknown(controllers, ControllerTopics, f"{source}: controllers")
            validate_fields(ControllerTopics, controllers, "controllers", PLAUSIBLE_BOUNDS)
            gripper = data.pop("gripper", None)
            if gripper is not None:
                _reject_unknown(gripper, GripperConfig, f"{source}: gripper")
                validate_fields(GripperConfig, gripper, "gripper", PLAUSIBLE_BOUNDS)
                gripper = GripperConfig(**{k: float(v) for k, v in gripper.items()})
            joint_names = tuple(str(n) for n in data.pop("joint_names", ()))
            limits = data.pop("joint_limits", None)
            if limits is not None:
                limits = JointLimits.from_dict(limits, joint_names)
            return cls(
                safety=safety,
                controllers=ControllerTopics(**controllers),
                gripper=gripper,
                joint_names=joint_names,
                joint_limits=limits,
                **data,
            )
        except KeyError as missing:
            raise ValueError(f"{source}: missing key {missing}") from None
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source}: {error}") from None


def _reject_unknown(data: Any, cls: type, source: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {unknown}; known: {sorted(known)}")


def resolve_robot_config_path(path_or_name: str | Path) -> Path:
    """A YAML path as given, or a bare robot name ('franka_fr3') looked up in configs/robots/."""
    path = Path(path_or_name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return ROBOT_CONFIG_DIR / f"{path_or_name}.yaml"


def load_robot_config(path_or_name: str | Path) -> RobotConfig:
    path = resolve_robot_config_path(path_or_name)
    if not path.is_file():
        available = sorted(p.stem for p in ROBOT_CONFIG_DIR.glob("*.yaml"))
        raise FileNotFoundError(
            f"robot config {str(path)!r} not found (robots in configs/robots: {available})")
    with path.open() as stream:
        data = load_yaml(stream, f"robot config {str(path)!r}")
    if not isinstance(data, dict):
        raise ValueError(f"robot config {str(path)!r}: expected a YAML mapping at the top level")
    return RobotConfig.from_dict(data, source=f"robot config {str(path)!r}")
