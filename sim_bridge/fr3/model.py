"""The Franka Research 3 + Franka Hand, written here from one kinematic table: MJCF and URDF.

Why a model of our own and no meshes: no Franka asset can be vendored into this repository, and
the policy never sees the arm's surface detail at a 160x120 decimated depth stream, while the
KINEMATICS decide whether a trained displacement lands where the real arm would put it. So the
joint origins are Franka's published FR3 kinematics (franka_description, robots/fr3: the same
origins as the FER/Panda), the joint limits are the FR3 datasheet's (franka_description
robots/fr3/joint_limits.yaml), the Franka Hand sits on the flange rotated -45 degrees about z,
with two prismatic fingers 0..0.04 m and the TCP `fr3_hand_tcp` 0.1034 m past the flange. The
links are capsules and boxes of roughly the real size: cheap to render on CPU, exact where it
matters.

BOTH descriptions come from `FR3_JOINTS`: the MJCF the simulator runs and the URDF the arm
controller's IK (`mtdagger.control.kinematics`, ikpy) reads, so the IK cannot drift from the
simulated arm. A test checks MuJoCo's forward kinematics against the URDF's.

Collision bits: arm geoms have contype=2/conaffinity=0 and scene geoms contype=0/conaffinity=2,
so the arm collides with the scene and the scene's parts (a drawer inside its carcass) and the
arm's overlapping capsules never collide among themselves.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

BASE_LINK = "fr3_link0"
TCP_LINK = "fr3_hand_tcp"
ARM_JOINTS = tuple(f"fr3_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("fr3_finger_joint1", "fr3_finger_joint2")
FINGER_MAX_M = 0.04  # per finger: the Franka Hand opens 0.08 m
FLANGE_TO_TCP_M = 0.1034
HAND_YAW_RAD = -math.pi / 4
FINGER_BASE_Z_M = 0.0584  # finger joints' origin in the hand frame
# Franka's "ready" pose (franka_ros2 / MoveIt named state): TCP about 0.31 m ahead, 0.49 m up.
HOME_Q = (0.0, -math.pi / 4, 0.0, -3 * math.pi / 4, 0.0, math.pi / 2, math.pi / 4)
HALF_PI = math.pi / 2


@dataclass(frozen=True)
class JointSpec:
    """One joint of the kinematic table: URDF origin (xyz, rpy) of `child` in `parent`."""

    name: str
    parent: str
    child: str
    xyz: tuple[float, float, float]
    rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)
    kind: str = "revolute"  # revolute | prismatic | fixed
    axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
    lower: float = 0.0
    upper: float = 0.0
    velocity: float = 0.0
    effort: float = 0.0
    radius: float = 0.0  # capsule radius of the child link (0: no capsule)


# franka_description robots/fr3 kinematics + joint_limits.yaml (lower, upper, velocity, effort).
FR3_JOINTS: tuple[JointSpec, ...] = (
    JointSpec(
        "fr3_joint1",
        "fr3_link0",
        "fr3_link1",
        (0, 0, 0.333),
        (0, 0, 0),
        lower=-2.7437,
        upper=2.7437,
        velocity=2.62,
        effort=87.0,
        radius=0.06,
    ),
    JointSpec(
        "fr3_joint2",
        "fr3_link1",
        "fr3_link2",
        (0, 0, 0),
        (-HALF_PI, 0, 0),
        lower=-1.7837,
        upper=1.7837,
        velocity=2.62,
        effort=87.0,
        radius=0.06,
    ),
    JointSpec(
        "fr3_joint3",
        "fr3_link2",
        "fr3_link3",
        (0, -0.316, 0),
        (HALF_PI, 0, 0),
        lower=-2.9007,
        upper=2.9007,
        velocity=2.62,
        effort=87.0,
        radius=0.055,
    ),
    JointSpec(
        "fr3_joint4",
        "fr3_link3",
        "fr3_link4",
        (0.0825, 0, 0),
        (HALF_PI, 0, 0),
        lower=-3.0421,
        upper=-0.1518,
        velocity=2.62,
        effort=87.0,
        radius=0.055,
    ),
    JointSpec(
        "fr3_joint5",
        "fr3_link4",
        "fr3_link5",
        (-0.0825, 0.384, 0),
        (-HALF_PI, 0, 0),
        lower=-2.8065,
        upper=2.8065,
        velocity=5.26,
        effort=12.0,
        radius=0.05,
    ),
    JointSpec(
        "fr3_joint6",
        "fr3_link5",
        "fr3_link6",
        (0, 0, 0),
        (HALF_PI, 0, 0),
        lower=0.5445,
        upper=4.5169,
        velocity=4.18,
        effort=12.0,
        radius=0.045,
    ),
    JointSpec(
        "fr3_joint7",
        "fr3_link6",
        "fr3_link7",
        (0.088, 0, 0),
        (HALF_PI, 0, 0),
        lower=-3.0159,
        upper=3.0159,
        velocity=5.26,
        effort=12.0,
        radius=0.04,
    ),
    JointSpec("fr3_joint8", "fr3_link7", "fr3_link8", (0, 0, 0.107), kind="fixed"),
    JointSpec("fr3_hand_joint", "fr3_link8", "fr3_hand", (0, 0, 0), (0, 0, HAND_YAW_RAD), kind="fixed"),
    JointSpec("fr3_hand_tcp_joint", "fr3_hand", TCP_LINK, (0, 0, FLANGE_TO_TCP_M), kind="fixed"),
    JointSpec(
        "fr3_finger_joint1",
        "fr3_hand",
        "fr3_leftfinger",
        (0, 0, FINGER_BASE_Z_M),
        kind="prismatic",
        axis=(0, 1, 0),
        lower=0.0,
        upper=FINGER_MAX_M,
        velocity=0.2,
        effort=100.0,
    ),
    JointSpec(
        "fr3_finger_joint2",
        "fr3_hand",
        "fr3_rightfinger",
        (0, 0, FINGER_BASE_Z_M),
        kind="prismatic",
        axis=(0, -1, 0),
        lower=0.0,
        upper=FINGER_MAX_M,
        velocity=0.2,
        effort=100.0,
    ),
)


def _fmt(values) -> str:
    return " ".join(f"{float(v):.9g}" for v in values)


def _quat_wxyz(rpy) -> tuple[float, ...]:
    x, y, z, w = Rotation.from_euler("xyz", rpy).as_quat()  # URDF rpy: fixed-axis roll, pitch, yaw
    return (w, x, y, z)


# ---------------------------------------------------------------------- URDF


def fr3_urdf() -> str:
    """The URDF of the arm + hand (kinematics and limits only; no visual meshes)."""
    robot = ET.Element("robot", name="fr3")
    links = [BASE_LINK] + [joint.child for joint in FR3_JOINTS]
    for link in links:
        ET.SubElement(robot, "link", name=link)
    for joint in FR3_JOINTS:
        element = ET.SubElement(robot, "joint", name=joint.name, type=joint.kind)
        ET.SubElement(element, "origin", xyz=_fmt(joint.xyz), rpy=_fmt(joint.rpy))
        ET.SubElement(element, "parent", link=joint.parent)
        ET.SubElement(element, "child", link=joint.child)
        if joint.kind != "fixed":
            ET.SubElement(element, "axis", xyz=_fmt(joint.axis))
            ET.SubElement(
                element,
                "limit",
                lower=f"{joint.lower:.9g}",
                upper=f"{joint.upper:.9g}",
                velocity=f"{joint.velocity:.9g}",
                effort=f"{joint.effort:.9g}",
            )
        if joint.name == "fr3_finger_joint2":
            ET.SubElement(element, "mimic", joint="fr3_finger_joint1")
    return ET.tostring(robot, encoding="unicode")


# ---------------------------------------------------------------------- MJCF

_ARM_GEOM = 'contype="2" conaffinity="0" group="1"'
_ARM_RGBA = "0.92 0.92 0.92 1"


def _children(parent: str) -> list[JointSpec]:
    return [joint for joint in FR3_JOINTS if joint.parent == parent]


def _link_capsule(link: str, radius: float) -> str:
    """A capsule from the link's origin to its (first) child joint's origin."""
    nxt = [joint for joint in _children(link) if joint.kind == "revolute" or joint.child == "fr3_link8"]
    if not nxt or radius <= 0:
        return ""
    end = np.asarray(nxt[0].xyz, dtype=np.float64)
    if np.linalg.norm(end) < 1e-6:  # coincident origins (joints 2 and 6): a short stub along z
        return f'<geom type="sphere" size="{radius}" rgba="{_ARM_RGBA}" {_ARM_GEOM}/>'
    return f'<geom type="capsule" fromto="0 0 0 {_fmt(end)}" size="{radius}" rgba="{_ARM_RGBA}" {_ARM_GEOM}/>'


def _hand_geoms() -> str:
    # Hand body: 0.2 m along the finger axis (y), 0.06 m across, up to the finger bases.
    return (
        f'<geom type="box" pos="0 0 0.03" size="0.03 0.1 0.026" rgba="{_ARM_RGBA}" {_ARM_GEOM}/>'
        f'<geom type="cylinder" pos="0 0 0.005" size="0.045 0.005" rgba="0.2 0.2 0.2 1" {_ARM_GEOM}/>'
    )


def _finger_geom(sign: float) -> str:
    # A finger: 2 cm wide (x), 1.2 cm thick (y), from its base to the TCP plane; inner face at q.
    half_length = (FLANGE_TO_TCP_M - FINGER_BASE_Z_M) / 2
    return (
        f'<geom type="box" pos="0 {sign * 0.006:.4f} {half_length:.4f}" size="0.01 0.006 {half_length:.4f}" '
        f'friction="1.5 0.01 0.001" rgba="0.25 0.25 0.25 1" {_ARM_GEOM}/>'
    )


def _body_xml(joint: JointSpec) -> str:
    pos, quat = _fmt(joint.xyz), _fmt(_quat_wxyz(joint.rpy))
    parts = [f'<body name="{joint.child}" pos="{pos}" quat="{quat}" gravcomp="1">']
    if joint.kind == "revolute":
        parts.append(
            f'<joint name="{joint.name}" type="hinge" axis="{_fmt(joint.axis)}" '
            f'range="{joint.lower:.9g} {joint.upper:.9g}" armature="0.1" damping="1"/>'
        )
        parts.append('<inertial pos="0 0 0" mass="2" diaginertia="0.02 0.02 0.02"/>')
    elif joint.kind == "prismatic":
        parts.append(
            f'<joint name="{joint.name}" type="slide" axis="{_fmt(joint.axis)}" '
            f'range="{joint.lower:.9g} {joint.upper:.9g}" damping="10" armature="0.01"/>'
        )
        parts.append('<inertial pos="0 0 0.02" mass="0.05" diaginertia="1e-5 1e-5 1e-5"/>')
        parts.append(_finger_geom(1.0 if joint.axis[1] > 0 else -1.0))
    elif joint.child == "fr3_hand":
        parts.append('<inertial pos="0 0 0.03" mass="0.7" diaginertia="0.002 0.001 0.002"/>')
        parts.append(_hand_geoms())
    elif joint.child == TCP_LINK:
        parts.append(f'<site name="{TCP_LINK}" size="0.004" group="5"/>')
    if joint.radius:
        parts.append(_link_capsule(joint.child, joint.radius))
    for child in _children(joint.child):
        parts.append(_body_xml(child))
    parts.append("</body>")
    return "".join(parts)


def fr3_arm_mjcf_body() -> str:
    """The `<body name="fr3_link0">` subtree (place it in a worldbody)."""
    base_geom = f'<geom type="cylinder" pos="0 0 0.07" size="0.09 0.07" rgba="{_ARM_RGBA}" {_ARM_GEOM}/>'
    children = "".join(_body_xml(joint) for joint in _children(BASE_LINK))
    return f'<body name="{BASE_LINK}" pos="0 0 0">{base_geom}{children}</body>'


def fr3_actuators_mjcf() -> str:
    """Servos: per arm joint a position actuator (name = joint) and a velocity actuator
    (`<joint>_velocity`) that takes the setpoint's rate, as a joint_trajectory_controller's PD
    with velocity feed-forward; position servos on the fingers."""
    parts = []
    for joint in FR3_JOINTS:
        if joint.kind == "revolute":
            kp = 4000.0 if joint.effort > 50 else 1500.0
            force = f'forcerange="{-joint.effort * 4:g} {joint.effort * 4:g}"'
            parts.append(
                f'<position name="{joint.name}" joint="{joint.name}" kp="{kp:g}" '
                f'ctrlrange="{joint.lower:.9g} {joint.upper:.9g}" {force}/>'
            )
            # Velocity feed-forward + damping (a PD on position AND velocity error), so a moving
            # setpoint is tracked without the lag of a pure position servo's damping term.
            velocity = f'name="{joint.name}_velocity" joint="{joint.name}" kv="{kp / 20:g}"'
            parts.append(f"<velocity {velocity} {force}/>")
        elif joint.kind == "prismatic":
            parts.append(
                f'<position name="{joint.name}" joint="{joint.name}" kp="2000" kv="40" '
                f'ctrlrange="0 {FINGER_MAX_M}" forcerange="-70 70"/>'
            )
    return "".join(parts)


def scene_mjcf(scene_bodies: str = "", timestep: float = 0.002) -> str:
    """A complete MJCF: table top at z = 0 of fr3_link0 (the arm stands on it), the arm, `scene_bodies`."""
    return f"""<mujoco model="fr3_cell">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{timestep}" integrator="implicitfast"/>
  <visual><global offwidth="1280" offheight="960"/></visual>
  <worldbody>
    <light pos="0.4 0 1.5" dir="0 0 -1" directional="true"/>
    <geom name="table" type="box" pos="0.45 0 -0.025" size="0.75 0.8 0.025" rgba="0.6 0.5 0.4 1"
          contype="0" conaffinity="2"/>
    {fr3_arm_mjcf_body()}
    {scene_bodies}
  </worldbody>
  <actuator>{fr3_actuators_mjcf()}</actuator>
</mujoco>"""
