"""The FR3 drawer suite: procedurally generated cabinets from an integer object id, seen/unseen split.

Why procedural: the method's sim-to-real claim is about drawers the policy has NOT seen, so the
suite needs a family of cabinets with a fixed split, not one model. An object id seeds every
geometric choice (carcass size, drawer depth and travel, handle type bar | knob | lip and its size
and placement), so id 7 is the same cabinet on every machine and in every worker. Colour plays no
part: the policy sees depth only.

Every cabinet has one top drawer whose front overlays the carcass and faces the robot (-x of
fr3_link0), with the handle near its top edge: a Franka Hand pointing down reaches behind the
handle from above without its palm touching the cabinet (the fingers are 4.5 cm long). The hook
point (a site on the drawer) is where the fingertips (the TCP) go to pull; the experts and the
privileged state use it. Per episode the cabinet is placed from the seed (`Placement`).

The split lives in configs/suites/fr3_drawers.yaml (`load_drawer_split`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtdagger.files import load_yaml
from sim_bridge.backend import UnknownTaskError

HANDLE_TYPES = ("bar", "knob", "lip")
TASKS = ("drawer-open", "drawer-close")
DEFAULT_SUITE = "configs/suites/fr3_drawers.yaml"
FRONT_THICKNESS = 0.02
# Success: the drawer joint past these fractions of the cabinet's travel.
OPEN_SUCCESS_FRACTION = 0.8
CLOSE_SUCCESS_FRACTION = 0.1
_SCENE = 'contype="0" conaffinity="2" group="0"'


@dataclass(frozen=True)
class CabinetSpec:
    """Geometry of one cabinet, in its own frame: x from the drawer front's outer face (x = 0,
    facing -x, the robot) towards the back, y centred, z up from the table."""

    object_id: int
    handle_type: str
    width: float
    height: float  # z of the carcass top = top edge of the drawer front
    depth: float
    drawer_height: float
    drawer_depth: float
    travel: float
    handle_offset_y: float
    # bar: standoff of the bar centre from the front; knob: stem length; lip: channel width (x).
    handle_reach: float
    # bar: bar length; knob: head radius; lip: channel depth below the top edge.
    handle_size: float
    handle_drop: float  # bar/knob centre below the top edge (unused by lip)

    @property
    def hook_point(self) -> np.ndarray:
        """Where the TCP goes to pull the closed drawer, in the cabinet frame."""
        # Middle of the gap between the drawer front and the handle (a bar has a 6 mm radius).
        x = -(self.handle_reach - (0.006 if self.handle_type == "bar" else 0.0)) / 2
        if self.handle_type == "lip":
            z = self.height - self.handle_size + 0.012
        else:
            z = self.height - self.handle_drop - 0.012
        return np.array([x, self.handle_offset_y, z])

    @property
    def gripper_command(self) -> float:
        """Gripper command while hooking: closed fingers form the hook, except that a knob is
        straddled with the fingers 11 mm apart each (its stem passes between them)."""
        return 0.45 if self.handle_type == "knob" else 1.0

    @property
    def front_reach(self) -> float:
        """How far the handle sticks out in front of the drawer front (m)."""
        if self.handle_type == "bar":
            return self.handle_reach + 0.006
        if self.handle_type == "knob":
            return self.handle_reach + 0.016
        return self.handle_reach + 0.01


def cabinet_spec(object_id: int) -> CabinetSpec:
    """The cabinet of `object_id` (any non-negative integer; the same id gives the same cabinet)."""
    if isinstance(object_id, bool) or not isinstance(object_id, (int, np.integer)) or object_id < 0:
        raise ValueError(f"object id must be a non-negative integer, got {object_id!r}")
    rng = np.random.default_rng([8_1000, int(object_id)])
    handle_type = HANDLE_TYPES[int(object_id) % len(HANDLE_TYPES)]
    width = rng.uniform(0.30, 0.46)
    depth = rng.uniform(0.30, 0.40)
    travel = rng.uniform(0.12, 0.20)
    drawer_depth = min(depth - 0.03, travel + rng.uniform(0.06, 0.14))
    if handle_type == "bar":
        reach, size, drop = rng.uniform(0.042, 0.05), rng.uniform(0.08, 0.2), rng.uniform(0.02, 0.028)
    elif handle_type == "knob":
        reach, size, drop = rng.uniform(0.036, 0.045), rng.uniform(0.021, 0.027), rng.uniform(0.028, 0.032)
    else:
        reach, size, drop = rng.uniform(0.036, 0.046), rng.uniform(0.03, 0.04), 0.0
    span = width / 2 - (size / 2 if handle_type == "bar" else 0.03) - 0.04
    return CabinetSpec(
        object_id=int(object_id),
        handle_type=handle_type,
        width=float(width),
        height=float(rng.uniform(0.16, 0.28)),
        depth=float(depth),
        drawer_height=float(rng.uniform(0.08, 0.13)),
        drawer_depth=float(drawer_depth),
        travel=float(travel),
        handle_offset_y=float(rng.uniform(-0.5, 0.5) * max(span, 0.0)),
        handle_reach=float(reach),
        handle_size=float(size),
        handle_drop=float(drop),
    )


@dataclass(frozen=True)
class Placement:
    """Where one episode puts the cabinet (fr3_link0 frame) and how open its drawer starts."""

    front_x: float  # x of the closed drawer front's outer face
    center_y: float
    initial_opening: float  # metres


def placement_for(spec: CabinetSpec, task: str, rng: np.random.Generator) -> Placement:
    # The open drawer's hook point must stay in the robot's workspace box (x >= 0.25).
    low = 0.29 + spec.travel + spec.handle_reach / 2
    front_x = float(rng.uniform(max(low, 0.52), max(low, 0.52) + 0.06))
    center_y = float(rng.uniform(-0.08, 0.08))
    if task == "drawer-open":
        opening = float(rng.uniform(0.0, 0.02))
    elif task == "drawer-close":
        opening = float(rng.uniform(0.6, 1.0) * spec.travel)
    else:
        raise ValueError(f"unknown drawer task {task!r}; valid: {', '.join(TASKS)}")
    return Placement(front_x, center_y, opening)


def task_success(task: str, spec: CabinetSpec, opening: float) -> bool:
    if task == "drawer-open":
        return opening >= OPEN_SUCCESS_FRACTION * spec.travel
    return opening <= CLOSE_SUCCESS_FRACTION * spec.travel


# ---------------------------------------------------------------------- MJCF


def _box(name: str, center, half, rgba: str = "0.55 0.42 0.3 1") -> str:
    c = " ".join(f"{v:.5f}" for v in center)
    h = " ".join(f"{v:.5f}" for v in half)
    return f'<geom name="{name}" type="box" pos="{c}" size="{h}" rgba="{rgba}" {_SCENE}/>'


def cabinet_mjcf(spec: CabinetSpec, placement: Placement) -> str:
    """The cabinet as a MuJoCo body named `cabinet`, with the slide joint `drawer` (0 = closed,
    positive = open towards the robot) and the site `hook` on the drawer."""
    w, h, d, t = spec.width / 2, spec.height, spec.depth, 0.01
    x0 = FRONT_THICKNESS  # carcass front edge (behind the overlay front)
    dh = spec.drawer_height
    carcass = [
        _box("carcass_top", (x0 + d / 2, 0, h - t), (d / 2, w, t)),
        _box("carcass_left", (x0 + d / 2, w - t, h / 2), (d / 2, t, h / 2)),
        _box("carcass_right", (x0 + d / 2, -w + t, h / 2), (d / 2, t, h / 2)),
        _box("carcass_back", (x0 + d - t, 0, h / 2), (t, w, h / 2)),
        _box("carcass_bottom_front", (x0 / 2 + 0.005, 0, (h - dh) / 2), (x0 / 2 + 0.005, w, (h - dh) / 2)),
        _box("carcass_shelf", (x0 + d / 2, 0, h - dh - 2 * t - 0.005), (d / 2, w - 2 * t, t)),
    ]
    inner_w = w - 2 * t - 0.004
    box_z = h - dh / 2 - t
    dd = spec.drawer_depth
    drawer = [
        _box(
            "drawer_front",
            (x0 / 2, 0, h - dh / 2 - 0.002),
            (x0 / 2, w - 0.003, dh / 2 - 0.002),
            "0.5 0.38 0.28 1",
        ),
        _box("drawer_side_l", (x0 + dd / 2, inner_w - 0.005, box_z), (dd / 2, 0.005, dh / 2 - t - 0.003)),
        _box("drawer_side_r", (x0 + dd / 2, -inner_w + 0.005, box_z), (dd / 2, 0.005, dh / 2 - t - 0.003)),
        _box("drawer_back", (x0 + dd - 0.005, 0, box_z), (0.005, inner_w, dh / 2 - t - 0.003)),
        _box("drawer_bottom", (x0 + dd / 2, 0, h - dh - t + 0.004), (dd / 2, inner_w, 0.004)),
    ]
    drawer += _handle_geoms(spec)
    hook = " ".join(f"{v:.5f}" for v in spec.hook_point)
    return f"""<body name="cabinet" pos="{placement.front_x:.5f} {placement.center_y:.5f} 0">
  {"".join(carcass)}
  <body name="drawer_body">
    <joint name="drawer" type="slide" axis="-1 0 0" range="0 {spec.travel:.5f}" damping="8"
           frictionloss="0.5" armature="0.05"/>
    <inertial pos="{x0 + dd / 2:.4f} 0 {box_z:.4f}" mass="1.0" diaginertia="0.01 0.01 0.01"/>
    {"".join(drawer)}
    <site name="hook" pos="{hook}" size="0.005" group="5"/>
  </body>
</body>"""


def _handle_geoms(spec: CabinetSpec) -> list[str]:
    y, h = spec.handle_offset_y, spec.height
    dark = "0.2 0.2 0.22 1"
    if spec.handle_type == "bar":
        z, s, half = h - spec.handle_drop, spec.handle_reach, spec.handle_size / 2
        return [
            f'<geom name="handle_bar" type="capsule" fromto="{-s:.5f} {y - half:.5f} {z:.5f} {-s:.5f} '
            f'{y + half:.5f} {z:.5f}" size="0.006" rgba="{dark}" {_SCENE}/>',
            _box("handle_leg_l", (-s / 2, y + half - 0.006, z), (s / 2, 0.006, 0.006), dark),
            _box("handle_leg_r", (-s / 2, y - half + 0.006, z), (s / 2, 0.006, 0.006), dark),
        ]
    if spec.handle_type == "knob":
        z, s, r = h - spec.handle_drop, spec.handle_reach, spec.handle_size
        return [
            f'<geom name="knob_stem" type="cylinder" fromto="0 {y:.5f} {z:.5f} {-s:.5f} {y:.5f} {z:.5f}" '
            f'size="0.007" rgba="{dark}" {_SCENE}/>',
            f'<geom name="knob_head" type="cylinder" fromto="{-s:.5f} {y:.5f} {z:.5f} {-s - 0.016:.5f} '
            f'{y:.5f} {z:.5f}" size="{r:.5f}" rgba="{dark}" {_SCENE}/>',
        ]
    gap, depth = spec.handle_reach, spec.handle_size
    half_w = spec.width / 2 - 0.02
    ledge_z = h - depth - 0.004
    return [
        _box("lip_ledge", (-(gap + 0.01) / 2, 0, ledge_z), ((gap + 0.01) / 2, half_w, 0.004), dark),
        _box(
            "lip_plate",
            (-gap - 0.005, 0, (ledge_z + h - 0.004) / 2),
            (0.005, half_w, (h - 0.004 - ledge_z) / 2),
            dark,
        ),
    ]


# ---------------------------------------------------------------------- split


@dataclass(frozen=True)
class DrawerSplit:
    seen: tuple[int, ...]
    unseen: tuple[int, ...]

    def __post_init__(self) -> None:
        overlap = sorted(set(self.seen) & set(self.unseen))
        if overlap:
            raise ValueError(f"object ids {overlap} are both seen and unseen")
        if not self.seen or not self.unseen:
            raise ValueError("the drawer split needs at least one seen and one unseen object id")

    def ids(self, objects: str) -> tuple[int, ...]:
        if objects == "seen":
            return self.seen
        if objects == "unseen":
            return self.unseen
        if objects == "all":
            return self.seen + self.unseen
        raise ValueError(f"objects must be one of seen, unseen, all; got {objects!r}")

    def label(self, object_id: int) -> str:
        return "seen" if object_id in self.seen else "unseen" if object_id in self.unseen else "other"


def _id_range(value, name: str) -> tuple[int, ...]:
    if isinstance(value, dict) and set(value) == {"first", "last"}:
        return tuple(range(int(value["first"]), int(value["last"]) + 1))
    if isinstance(value, list) and all(isinstance(v, int) and v >= 0 for v in value):
        return tuple(value)
    raise ValueError(f"drawer suite {name} must be a list of ids or {{first, last}}, got {value!r}")


def load_drawer_split(path: str | Path = DEFAULT_SUITE) -> DrawerSplit:
    from sim_bridge.camera.sim_camera import resolve_config_path

    with open(resolve_config_path(path), encoding="utf-8") as handle:
        data = load_yaml(handle, f"drawer suite {str(path)!r}")
    if not isinstance(data, dict) or "objects" not in data:
        raise ValueError(f"drawer suite {str(path)!r} needs an 'objects' mapping with seen and unseen")
    objects = data["objects"]
    return DrawerSplit(
        _id_range(objects.get("seen"), "objects.seen"), _id_range(objects.get("unseen"), "objects.unseen")
    )


def resolve_fr3_tasks(spec: str) -> list[str]:
    """'fr3_drawers' (the suite: both tasks) or comma-separated drawer task names, in that order."""
    names = (
        list(TASKS)
        if spec.strip() in ("fr3_drawers", "all")
        else [t.strip() for t in spec.split(",") if t.strip()]
    )
    for name in names:
        if name not in TASKS:
            raise UnknownTaskError(name, list(TASKS))
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"FR3 task list must be non-empty without repeats, got {spec!r}")
    return names
