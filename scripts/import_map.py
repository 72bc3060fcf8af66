"""Print the structure map of the first-party code: rooms, arrows, floors, circles, arrows back up.

    python scripts/import_map.py [--root DIR]

Words used here:
- a *room* is a sub-package (`mtdagger.perception`, `sim_bridge.fr3`) or a top-level module of a
  package that has sub-packages (`mtdagger.keys`, `sim_bridge.registry`); a package without
  sub-packages (`calibration`, `policy_node`) is one room.
- an *arrow* A -> B: some module of room A imports a module of room B, at module level or inside a
  function (both count: a lazy import is still a dependency).
- *floors*: the rooms layered by their arrows (floor 0 imports no other room; a room sits one floor
  above the highest room it imports). Rooms in one import circle share a floor.
- an *import circle*: rooms that reach each other through arrows (a strongly connected component
  of more than one room).
- an *arrow back up*: A -> B where B is declared in a higher layer than A in `LAYERS` below.

Only the standard library is used (`ast`), so the map runs without the project installed.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

# The intended layer order, lowest first, by room name. A room may import rooms of its own layer
# or lower ones. A room missing here is reported (and fails tests/test_import_map.py): place it.
LAYERS: list[tuple[str, ...]] = [
    ("mtdagger.keys", "mtdagger.stats", "mtdagger.provenance", "mtdagger.testing_hooks", "mtdagger.files",
     "mtdagger.episode_seeds"),  # episode_seeds: the scene an evaluation episode resets
    ("mtdagger.config_validation", "mtdagger.config_choice"),  # typed config loading, "field: reason"
    ("mtdagger.perception",),  # the point-cloud contract (section 3), camera model, depth frames
    ("mtdagger.messages",),  # topic names, ROS message conversion
    ("mtdagger.control",),
    ("calibration",),  # extrinsics, hand-eye: uses perception, never a simulator
    ("mtdagger.camera",),  # the RealSense driver
    ("mtdagger.data",),
    ("mtdagger.policy",),
    ("mtdagger.recording",),
    ("mtdagger.scheduling",),
    # the interface, what the lockstep cells share, the simulated depth camera + noise
    ("sim_bridge.backend", "sim_bridge.lockstep", "sim_bridge.camera"),
    ("sim_bridge.suites",),
    ("sim_bridge.metaworld", "sim_bridge.fr3"),  # the backends
    ("sim_bridge.registry",),  # backend selection by name (imports backends lazily)
    ("sim_bridge", "sim_bridge.ros"),  # the rclpy bridge nodes (and the flat package, before rooms)
    ("mtdagger.deployment",),  # the deployment plan: launch arguments, camera, node config, bags
    ("mtdagger.runtime",),  # the deployment stages in one process
    ("mtdagger.training",),
    ("mtdagger.trial",),  # a real trial's plan, console logic and rclpy adapter (policy_node reads its spec)
    ("mtdagger.distributed",),  # Ray rollout actors, DDP: adapts training's pieces to the engines
    ("policy_node",),  # the ROS nodes: the top of the deployed stack
    ("mtdagger.rehearsal",),  # runs the nodes' graph in one process (a launch file in Python)
    ("mtdagger.bench",),
    ("mtdagger.commands",),
    # `mtdagger <command>` (its argument modules) and the package's own __init__
    ("mtdagger.cli", "mtdagger.cli_types", "mtdagger.cli_calibrate", "mtdagger"),
]

# Top-level packages and where they live under the root (launch files are not scanned).
PACKAGES = {
    "mtdagger": "mtdagger",
    "sim_bridge": "sim_bridge",
    "calibration": "calibration",
    "policy_node": "policy_node/policy_node",
}


@dataclass
class ImportMap:
    rooms: dict[str, list[str]]  # room -> its modules
    arrows: dict[tuple[str, str], list[str]]  # (from room, to room) -> sites "path:line"
    floors: list[list[str]] = field(default_factory=list)
    circles: list[list[str]] = field(default_factory=list)
    back_up: list[tuple[str, str]] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)  # rooms LAYERS does not name


def discover_modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every first-party .py file under `root`."""
    modules: dict[str, Path] = {}
    for package, rel in PACKAGES.items():
        base = root / rel
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if "__pycache__" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


def room_of(module: str, modules: dict[str, Path]) -> str:
    parts = module.split(".")
    package = parts[0]
    has_subpackages = any(m.count(".") >= 2 and m.startswith(package + ".") for m in modules)
    if not has_subpackages or len(parts) == 1:
        return package
    return ".".join(parts[:2])


def imported_modules(path: Path, module: str, is_package: bool, modules: dict[str, Path]):
    """(line, first-party module) for each import in the file, module-level or nested."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known_prefix(alias.name, modules)
                if target:
                    yield node.lineno, target
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against this module's package
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                target = _known_prefix(f"{base}.{alias.name}", modules) or _known_prefix(base, modules)
                if target:
                    yield node.lineno, target


def _known_prefix(name: str, modules: dict[str, Path]) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def layer_of(room: str) -> int | None:
    for index, names in enumerate(LAYERS):
        if room in names:
            return index
    return None


def strongly_connected(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; components come out in reverse topological order (sinks first)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(edges.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in nodes:
        if node not in index:
            visit(node)
    return components


def build_map(root: str | Path) -> ImportMap:
    root = Path(root)
    modules = discover_modules(root)
    rooms: dict[str, list[str]] = {}
    for module in modules:
        rooms.setdefault(room_of(module, modules), []).append(module)
    arrows: dict[tuple[str, str], list[str]] = {}
    for module, path in modules.items():
        source = room_of(module, modules)
        for line, target in imported_modules(path, module, path.name == "__init__.py", modules):
            dest = room_of(target, modules)
            site = f"{path.relative_to(root)}:{line}"
            if dest != source and site not in arrows.setdefault((source, dest), []):
                arrows[(source, dest)].append(site)
    edges: dict[str, set[str]] = {}
    for source, dest in arrows:
        edges.setdefault(source, set()).add(dest)

    result = ImportMap(rooms=dict(sorted(rooms.items())), arrows=dict(sorted(arrows.items())))
    components = strongly_connected(sorted(rooms), edges)
    result.circles = [c for c in components if len(c) > 1]
    component_of = {room: i for i, c in enumerate(components) for room in c}
    floor_of_component: dict[int, int] = {}
    for i, component in enumerate(components):  # sinks first, so every import is placed already
        below = {component_of[d] for r in component for d in edges.get(r, ())} - {i}
        floor_of_component[i] = 1 + max((floor_of_component[j] for j in below), default=-1)
    result.floors = [[] for _ in range(1 + max(floor_of_component.values(), default=-1))]
    for room in sorted(rooms):
        result.floors[floor_of_component[component_of[room]]].append(room)
    result.unplaced = [room for room in sorted(rooms) if layer_of(room) is None]
    for source, dest in result.arrows:
        low, high = layer_of(source), layer_of(dest)
        if low is not None and high is not None and high > low:
            result.back_up.append((source, dest))
    return result


def render(result: ImportMap) -> str:
    lines = [f"rooms ({len(result.rooms)}):"]
    for room, members in result.rooms.items():
        layer = layer_of(room)
        lines.append(f"  {room:32s} layer {'?' if layer is None else layer:>2}  {len(members)} modules")
    lines.append(f"arrows ({len(result.arrows)}):")
    for (source, dest), sites in result.arrows.items():
        more = " ..." if len(sites) > 3 else ""
        lines.append(f"  {source} -> {dest}  ({len(sites)}: {', '.join(sites[:3])}{more})")
    lines.append(f"floors ({len(result.floors)}), lowest first:")
    for number, floor in enumerate(result.floors):
        lines.append(f"  {number}: {', '.join(floor)}")
    lines.append(f"import circles ({len(result.circles)}):")
    for circle in result.circles:
        lines.append(f"  {' <-> '.join(circle)}")
    lines.append(f"arrows back up ({len(result.back_up)}):")
    for source, dest in result.back_up:
        sites = result.arrows[(source, dest)]
        where = ", ".join(sites)
        lines.append(f"  {source} (layer {layer_of(source)}) -> {dest} (layer {layer_of(dest)})  {where}")
    if result.unplaced:
        lines.append(f"rooms missing from LAYERS ({len(result.unplaced)}): {', '.join(result.unplaced)}")
    lines.append(
        f"summary: rooms={len(result.rooms)} arrows={len(result.arrows)} floors={len(result.floors)} "
        f"circles={len(result.circles)} back_up={len(result.back_up)} unplaced={len(result.unplaced)}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="repository root")
    args = parser.parse_args(argv)
    print(render(build_map(args.root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
