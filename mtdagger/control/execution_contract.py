"""The execution contract: how the arm executed each action while the student was trained.

A displacement-per-step policy is only right on a robot that executes its steps the way the
training cell did: the same control period, the same joint-trajectory time and interpolation law
(the robot config's whole `controllers` section, so a field added there joins the contract
without code here), the same gripper goal threshold and gripper scaling (the GripperCommand
position map and the opening scale of `observation.state[3]`), the same base frame and action
frame, and the same point-cloud contract. Training records one `ExecutionContract` in the
checkpoint (built from the robot config and node config the nodes read); the policy node and
the arm controller rebuild theirs from their own configuration at start-up and refuse to start on
any difference, naming the field (`mismatches`). Another number on the robot is another dynamics,
which a policy does not fail on loudly: it just misbehaves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mtdagger.control.robot_config import RobotConfig
from mtdagger.perception.contract import PointCloudContract


@dataclass(frozen=True)
class ExecutionContract:
    control_period_s: float
    # time_from_start of each joint trajectory (0: not a joint-trajectory robot, or one period).
    trajectory_time_s: float
    controllers: Mapping[str, Any]  # the robot config's controllers section, every field
    gripper: Mapping[str, Any] | None  # GripperConfig: the command -> GripperCommand position map
    gripper_change_threshold: float  # a gripper goal only when the command moves by more
    gripper_opening_scale: float  # observation.state[3] = finger joint position x this
    base_frame: str
    action_frame: str  # ActionConvention.frame: displacements are in the base frame
    point_cloud_contract: Mapping[str, Any] | None = field(default=None)

    def __post_init__(self) -> None:
        for name in ("control_period_s", "trajectory_time_s", "gripper_change_threshold",
                     "gripper_opening_scale"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"execution_contract.{name} must be a finite number, got {value!r}")
        if self.control_period_s <= 0 or self.trajectory_time_s < 0 or self.gripper_change_threshold < 0:
            raise ValueError(
                "execution_contract: control_period_s must be > 0, trajectory_time_s and "
                "gripper_change_threshold >= 0"
            )
        for name in ("controllers", "gripper", "point_cloud_contract"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Mapping):
                raise ValueError(f"execution_contract.{name} must be a mapping, got {type(value).__name__}")
        if not isinstance(self.controllers, Mapping):
            raise ValueError("execution_contract.controllers must be a mapping")
        for name in ("base_frame", "action_frame"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"execution_contract.{name} must be a non-empty string")

    @classmethod
    def from_configs(
        cls,
        robot: RobotConfig,
        *,
        gripper_change_threshold: float,
        gripper_opening_scale: float,
        point_cloud_contract: PointCloudContract | None,
        control_period_s: float | None = None,
        trajectory_time_s: float | None = None,
        action_frame: str = "base",
    ) -> ExecutionContract:
        """The contract of `robot` with these node settings; the period and trajectory time
        default to the robot config's (training passes what its simulator executed)."""
        return cls(
            control_period_s=float(
                robot.safety.control_period_s if control_period_s is None else control_period_s
            ),
            trajectory_time_s=float(
                robot.controllers.trajectory_time_from_start_s
                if trajectory_time_s is None
                else trajectory_time_s
            ),
            controllers=_plain(asdict(robot.controllers)),
            gripper=None if robot.gripper is None else _plain(asdict(robot.gripper)),
            gripper_change_threshold=float(gripper_change_threshold),
            gripper_opening_scale=float(gripper_opening_scale),
            base_frame=robot.base_frame,
            action_frame=action_frame,
            point_cloud_contract=None if point_cloud_contract is None else point_cloud_contract.to_dict(),
        )

    def to_dict(self) -> dict[str, Any]:
        return _plain({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_dict(cls, data: Any) -> ExecutionContract:
        """Unknown or missing keys are refused with one line naming them."""
        if not isinstance(data, Mapping):
            raise ValueError(f"execution_contract must be a mapping, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = sorted(str(k) for k in data if k not in names)
        if unknown:
            raise ValueError(f"execution_contract has unknown key(s) {unknown}; known: {names}")
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"execution_contract lacks key(s) {missing}")
        return cls(**{n: data[n] for n in names})

    def mismatches(
        self, expected: ExecutionContract, only: Sequence[str] | None = None,
        sources: Mapping[str, str] | None = None,
    ) -> list[str]:
        """One line per differing field (nested ones as `controllers.x`), `only` restricting the
        fields compared (a node checks those it configures); `sources` names where the node's
        value comes from (a parameter, the robot config), for the message."""
        sources = sources or {}
        problems = []
        for name in only or [f.name for f in fields(self)]:
            for path, have, want in _differences(name, getattr(self, name), getattr(expected, name)):
                where = sources.get(name, "")
                problems.append(
                    f"checkpoint execution_contract.{path}={have!r} but this node runs {want!r}"
                    + (f" ({where})" if where else "")
                )
        return problems


def _plain(value: Any) -> Any:
    """JSON-shaped: tuples as lists, mappings as dicts (what the checkpoint sidecar stores)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    if number(a) and number(b):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _differences(path: str, have: Any, want: Any):
    """(path, stored, expected) for each differing leaf; mappings compared key by key."""
    if isinstance(have, Mapping) and isinstance(want, Mapping):
        for key in sorted(set(have) | set(want)):
            yield from _differences(f"{path}.{key}", have.get(key, "<absent>"), want.get(key, "<absent>"))
    elif not _same(_plain(have), _plain(want)):
        yield path, have, want
