"""Arm kinematics for the joint-trajectory command interface (ROS-free core).

Why this exists: the policy speaks base-frame end-effector displacements (DESIGN.md §4), but a
ros2_control JointTrajectoryController only accepts joint positions. The arm controller node turns
the safety filter's target position into joint positions with `ArmKinematics.solve`, seeded with
the measured joints so the solver stays on the current IK branch, and holds the end-effector
orientation the arm already has (the policy does not command orientation).

The URDF comes from the `robot_description` parameter/topic at run time, so nothing here knows a
particular robot. The numerical work is done by ikpy (a maintained IK library that reads URDF);
this module only cuts the base→tip chain out of the full robot description, maps joint names,
and refuses answers that would move the arm somewhere else than asked.

Joint-limit margins (the robot config's `safety.joint_limit_margin_rad`, set with
`set_joint_margins`): the solver searches only inside the margins (a joint already inside one may
stay or move out, never go deeper), so a redundant arm such as the FR3 finds another configuration
rather than stopping; an answer that still lies within a margin of a hard URDF limit (deeper than
the seed) is refused, and a miss caused by a joint held at its margin is reported as such
(`JointLimitMarginError`). An arm pushed into a margin can be commanded out of it, never further
toward the stop. The seed is never clipped: a measured joint outside its hard limit is an error (the joint
state or the URDF is wrong, and IK from a fictitious seed would command a jump).
"""

from __future__ import annotations

import io
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

_MOVABLE_JOINT_TYPES = ("revolute", "continuous", "prismatic")
_SUPPORTED_JOINT_TYPES = (*_MOVABLE_JOINT_TYPES, "fixed")


class KinematicsError(ValueError):
    """Base class: the kinematics cannot produce a safe joint target."""


class UrdfChainError(KinematicsError):
    """The robot description has no usable chain between the requested base and tip links."""


class UnreachableTargetError(KinematicsError):
    """IK found no joint configuration that reaches the target closely enough: the arm must hold.

    The reached position and its error travel with the exception so the caller can log them.
    """

    def __init__(self, message: str, target: np.ndarray, reached: np.ndarray, error_m: float) -> None:
        super().__init__(message)
        self.target = target
        self.reached = reached
        self.error_m = error_m


class JointLimitMarginError(KinematicsError):
    """The joints are (or the IK answer would be) within the margin of a hard joint limit."""


@dataclass(frozen=True)
class IkSettings:
    """Acceptance rules for an IK answer.

    A least-squares solver always returns *something*; these tolerances decide whether that
    something is the asked-for pose or the closest the arm can get (which must not be executed).
    """

    position_tolerance_m: float = 1e-3
    # Used only when an orientation is held; a 6-D target a 3-DoF arm cannot meet is reported.
    orientation_tolerance_rad: float = 0.02
    # Hold the seed's end-effector orientation (the policy commands position only).
    hold_orientation: bool = True
    # Largest change of any joint in one solve: larger means the solver jumped to another IK
    # branch, which the trajectory controller would execute as a fast swing.
    max_joint_step_rad: float = 0.5
    # Solver effort per call (function evaluations); small targets converge in a few dozen.
    optimizer_budget: int = 200

    def __post_init__(self) -> None:
        if self.position_tolerance_m <= 0 or self.orientation_tolerance_rad <= 0:
            raise ValueError("IK tolerances must be positive")
        if self.max_joint_step_rad <= 0:
            raise ValueError("max_joint_step_rad must be positive")
        if self.optimizer_budget <= 0:
            raise ValueError("optimizer_budget must be positive")


@dataclass(frozen=True)
class IkSolution:
    joint_positions: np.ndarray  # (n,) float64, in ArmKinematics.joint_names order
    reached_position: np.ndarray  # (3,) base frame, from forward kinematics of joint_positions
    position_error_m: float
    orientation_error_rad: float  # 0.0 when no orientation was requested


def _rotation_angle_between(R_a: np.ndarray, R_b: np.ndarray) -> float:
    """The angle (rad, in [0, π]) of the rotation taking R_a to R_b."""
    return float(Rotation.from_matrix(R_a.T @ R_b).magnitude())


def _chain_elements(root: ET.Element, base_link: str, tip_link: str) -> list[ET.Element]:
    """The URDF <joint> elements from base_link down to tip_link, in order."""
    link_names = {link.attrib["name"] for link in root.findall("link")}
    for role, name in (("base", base_link), ("tip", tip_link)):
        if name not in link_names:
            known = ", ".join(sorted(link_names))
            raise UrdfChainError(f"{role} link {name!r} is not in the robot description; links: {known}")
    joint_by_child: dict[str, ET.Element] = {}
    for joint in root.findall("joint"):
        child = joint.find("child")
        if child is not None:
            joint_by_child[child.attrib["link"]] = joint
    path: list[ET.Element] = []
    link = tip_link
    while link != base_link:
        joint = joint_by_child.get(link)
        if joint is None:
            raise UrdfChainError(
                f"tip link {tip_link!r} is not below base link {base_link!r} in the URDF tree"
            )
        path.append(joint)
        link = joint.find("parent").attrib["link"]  # type: ignore[union-attr]
    path.reverse()
    if not path:
        raise UrdfChainError(f"base link and tip link are the same ({base_link!r}); there is no chain")
    for joint in path:
        if joint.attrib.get("type") not in _SUPPORTED_JOINT_TYPES:
            raise UrdfChainError(
                f"joint {joint.attrib.get('name')!r} has type {joint.attrib.get('type')!r}; "
                f"supported: {', '.join(_SUPPORTED_JOINT_TYPES)}"
            )
    return path


def _chain_only_urdf(path: list[ET.Element], base_link: str) -> str:
    """A URDF holding only the chain: ikpy follows the first child it finds after the last named
    element, so a full description (fingers, camera mounts) must not be handed to it."""
    robot = ET.Element("robot", name="chain")
    ET.SubElement(robot, "link", name=base_link)
    for joint in path:
        ET.SubElement(robot, "link", name=joint.find("child").attrib["link"])  # type: ignore[union-attr]
        robot.append(joint)
    return ET.tostring(robot, encoding="unicode")


class ArmKinematics:
    """Forward and inverse kinematics of one serial chain (base_link → tip_link) of a URDF."""

    def __init__(
        self, urdf_xml: str, base_link: str, tip_link: str, settings: IkSettings | None = None
    ) -> None:
        # ikpy is imported here so that modules importing this one for its types stay light.
        from ikpy.chain import Chain

        try:
            root = ET.fromstring(urdf_xml)
        except ET.ParseError as exc:
            raise UrdfChainError(f"robot description is not valid XML: {exc}") from exc
        if root.tag != "robot":
            raise UrdfChainError(f"robot description root element is <{root.tag}>, expected <robot>")
        path = _chain_elements(root, base_link, tip_link)
        self.settings = settings or IkSettings()
        self.base_link = base_link
        self.tip_link = tip_link
        # The origin link ikpy prepends is fixed, and a zero-length fixed tip is appended so the
        # last real joint stays active (ikpy always deactivates the last element of a chain).
        movable = [joint.attrib["type"] in _MOVABLE_JOINT_TYPES for joint in path]
        mask = [False, *movable, False]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ikpy warns about the fixed links we deliberately keep
            self._chain = Chain.from_urdf_file(
                io.StringIO(_chain_only_urdf(path, base_link)),
                base_elements=[base_link],
                last_link_vector=np.zeros(3),
                active_links_mask=mask,
                symbolic=False,
                name=f"{base_link}->{tip_link}",
            )
        self._active = np.asarray(mask, dtype=bool)
        self.joint_names: tuple[str, ...] = tuple(j.attrib["name"] for j, m in zip(path, movable) if m)
        if not self.joint_names:
            raise UrdfChainError(f"the chain {base_link!r} -> {tip_link!r} has no movable joint")
        bounds = [link.bounds for link, active in zip(self._chain.links, mask) if active]
        self.joint_limits = np.asarray(bounds, dtype=np.float64)  # (n, 2), ±inf where unlimited
        self.joint_margins = np.zeros(len(self.joint_names))

    def set_joint_margins(self, margins: Sequence[float] | np.ndarray) -> None:
        """Distance (rad, or m for prismatic joints) to keep from each hard limit, chain order."""
        values = np.asarray(margins, dtype=np.float64).reshape(-1)
        if values.shape != (self.num_joints,) or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise KinematicsError(
                f"joint margins must be {self.num_joints} finite numbers >= 0, got {margins!r}")
        lo, hi = self.joint_limits[:, 0], self.joint_limits[:, 1]
        narrow = [n for n, a, b, m in zip(self.joint_names, lo, hi, values) if a + m >= b - m]
        if narrow:
            raise KinematicsError(f"joint_limit_margin_rad leaves no room between the limits of {narrow}")
        self.joint_margins = values

    def margin_depth(self, joint_positions: Sequence[float] | np.ndarray) -> np.ndarray:
        """Per joint, how far it lies inside its margin (0 where it is clear of both limits)."""
        q = np.asarray(joint_positions, dtype=np.float64)
        lo, hi = self.joint_limits[:, 0], self.joint_limits[:, 1]
        with np.errstate(invalid="ignore"):  # inf - inf for unlimited joints
            depth = np.maximum(lo + self.joint_margins - q, q - (hi - self.joint_margins))
        return np.maximum(np.nan_to_num(depth, nan=0.0, neginf=0.0), 0.0)

    def margin_problems(
        self, joint_positions: Sequence[float] | np.ndarray, reference: np.ndarray | None = None
    ) -> list[str]:
        """Joints within their margin (and, given `reference`, not moving out of it): messages."""
        q = np.asarray(joint_positions, dtype=np.float64)
        depth = self.margin_depth(q)
        allowed = np.zeros_like(depth) if reference is None else self.margin_depth(reference)
        return [
            f"joint {name} = {value:.4f} is within {margin:.3f} of its limit "
            f"[{lo:.4f}, {hi:.4f}]"
            for name, value, margin, (lo, hi), d, a in zip(
                self.joint_names, q, self.joint_margins, self.joint_limits, depth, allowed
            )
            if d > 0.0 and d > a
        ]

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def _full(self, q: np.ndarray) -> np.ndarray:
        full = np.zeros(len(self._active))
        full[self._active] = q
        return full

    def _checked_joints(self, q: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        if q.shape != (self.num_joints,):
            names = ", ".join(self.joint_names)
            raise ValueError(f"{what} needs {self.num_joints} joint values ({names}), got {q.size}")
        if not np.all(np.isfinite(q)):
            raise ValueError(f"{what} has non-finite joint values: {q}")
        return q

    def forward(self, joint_positions: Sequence[float] | np.ndarray) -> np.ndarray:
        """4x4 pose of the tip link in the base link frame."""
        q = self._checked_joints(joint_positions, "forward kinematics")
        return np.asarray(self._chain.forward_kinematics(self._full(q)), dtype=np.float64)

    def joints_from_state(self, names: Sequence[str], positions: Sequence[float]) -> np.ndarray:
        """Chain-ordered joint vector from a JointState's (names, positions), which may list the
        joints in any order and carry extra joints (fingers). A missing chain joint is an error:
        guessing its value would command a wrong trajectory."""
        if len(names) != len(positions):
            raise ValueError(f"joint state has {len(names)} names but {len(positions)} positions")
        index = {name: i for i, name in enumerate(names)}
        missing = [name for name in self.joint_names if name not in index]
        if missing:
            raise KinematicsError(f"joint state lacks chain joints: {', '.join(missing)}")
        return np.asarray([positions[index[name]] for name in self.joint_names], dtype=np.float64)

    def solve(
        self,
        target_position: Sequence[float] | np.ndarray,
        seed: Sequence[float] | np.ndarray,
        target_rotation: np.ndarray | None = None,
    ) -> IkSolution:
        """Joint positions that put the tip at `target_position` (base frame, metres).

        The orientation held is `target_rotation` if given, else (with `hold_orientation`) the tip
        orientation at `seed`. Raises UnreachableTargetError when the answer misses the target,
        the orientation, or needs a joint jump larger than `max_joint_step_rad`.
        """
        target = np.asarray(target_position, dtype=np.float64).reshape(-1)
        if target.shape != (3,) or not np.all(np.isfinite(target)):
            raise ValueError(f"IK target must be 3 finite numbers, got {target_position!r}")
        q_seed = self._checked_seed(seed)
        rotation = target_rotation
        if rotation is None and self.settings.hold_orientation:
            rotation = self.forward(q_seed)[:3, :3]
        frame = np.eye(4)
        frame[:3, 3] = target
        if rotation is not None:
            frame[:3, :3] = np.asarray(rotation, dtype=np.float64)
        # The solver searches only where an answer is acceptable: inside the margins, or (for a
        # joint already in one) no deeper than the seed. A redundant arm then finds another
        # configuration instead of being refused; the checks below still have the last word.
        lo, hi = self.joint_limits[:, 0], self.joint_limits[:, 1]
        safe_low = np.minimum(lo + self.joint_margins, q_seed)
        safe_high = np.maximum(hi - self.joint_margins, q_seed)
        q = self._inverse_within(frame, q_seed, safe_low, safe_high, orientation=rotation is not None)
        reached = self.forward(q)
        position_error = float(np.linalg.norm(reached[:3, 3] - target))
        orientation_error = 0.0
        if rotation is not None:
            orientation_error = _rotation_angle_between(reached[:3, :3], frame[:3, :3])
        problems = self._answer_problems(position_error, orientation_error, float(np.max(np.abs(q - q_seed))))
        pinned = self._pinned_at_margin(q, safe_low, safe_high)
        if problems and pinned:
            raise JointLimitMarginError(
                f"IK for {np.round(target, 4).tolist()}: {'; '.join(problems)} with joint(s) "
                f"{', '.join(pinned)} held at joint_limit_margin_rad from their limits"
            )
        if problems:
            where = np.round(target, 4).tolist()
            raise UnreachableTargetError(
                f"IK cannot reach {where} from the current joints: {'; '.join(problems)}",
                target=target,
                reached=reached[:3, 3].copy(),
                error_m=position_error,
            )
        margin = self.margin_problems(q, reference=q_seed)
        if margin:
            raise JointLimitMarginError(f"IK answer for {np.round(target, 4).tolist()}: {'; '.join(margin)}")
        return IkSolution(q, reached[:3, 3].copy(), position_error, orientation_error)

    def _checked_seed(self, seed: Sequence[float] | np.ndarray) -> np.ndarray:
        """The measured joints, refused when outside their hard limits: the joint state or the
        URDF is wrong then, and IK from a clipped (fictitious) seed would command a jump."""
        q_seed = self._checked_joints(seed, "IK seed")
        lo, hi = self.joint_limits[:, 0], self.joint_limits[:, 1]
        outside = [f"{n} = {v:.4f} not in [{a:.4f}, {b:.4f}]"
                   for n, v, a, b in zip(self.joint_names, q_seed, lo, hi) if not a <= v <= b]
        if outside:
            raise JointLimitMarginError(f"measured joints outside their hard limits: {'; '.join(outside)}")
        return q_seed

    def _inverse_within(
        self, frame: np.ndarray, q_seed: np.ndarray, low: np.ndarray, high: np.ndarray, *, orientation: bool
    ) -> np.ndarray:
        """ikpy's answer for `frame` searched only within [low, high] per joint: ikpy takes its
        search bounds from the chain's links, so they are narrowed for this call and always put
        back (the hard URDF limits stay what `joint_limits` and later calls see)."""
        links = [link for link, active in zip(self._chain.links, self._active) if active]
        hard_bounds = [link.bounds for link in links]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                for link, lower, upper in zip(links, low, high):
                    link.bounds = (float(lower), float(upper))
                full = self._chain.inverse_kinematics_frame(
                    frame,
                    initial_position=self._full(q_seed),
                    orientation_mode="all" if orientation else None,
                    optimizer_budget=self.settings.optimizer_budget,
                )
            finally:
                for link, bounds in zip(links, hard_bounds):
                    link.bounds = bounds
        return np.asarray(full, dtype=np.float64)[self._active]

    def _answer_problems(self, position_error: float, orientation_error: float, jump: float) -> list[str]:
        """Why an IK answer must not be executed (empty: acceptable), per the IkSettings tolerances."""
        s = self.settings
        problems = []
        if position_error > s.position_tolerance_m:
            problems.append(
                f"position error {position_error * 1000:.1f} mm > {s.position_tolerance_m * 1000:.1f} mm"
            )
        if orientation_error > s.orientation_tolerance_rad:
            problems.append(
                f"orientation error {orientation_error:.3f} rad > {s.orientation_tolerance_rad:.3f} rad"
            )
        if jump > s.max_joint_step_rad:
            problems.append(f"joint jump {jump:.3f} rad > {s.max_joint_step_rad:.3f} rad")
        return problems

    def _pinned_at_margin(self, q: np.ndarray, safe_low: np.ndarray, safe_high: np.ndarray) -> list[str]:
        """Joints the answer left at a margin-narrowed search bound (not at a hard limit): when the
        answer misses, these are why, and the error says so rather than "unreachable"."""
        tol = 1e-6
        lo, hi = self.joint_limits[:, 0], self.joint_limits[:, 1]
        bounds = zip(self.joint_names, q, safe_low, safe_high, lo, hi)
        return [name for name, value, low, high, a, b in bounds
                if (value <= low + tol and low > a + tol) or (value >= high - tol and high < b - tol)]
