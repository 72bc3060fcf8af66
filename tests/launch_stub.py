"""Run our launch files without ROS: stand-in `launch` / `launch_ros` modules that record what a
launch file declares, starts and includes.

`launch` and `launch_ros` are not on PyPI (DESIGN.md §8), so a launch file cannot run here. These
stand-ins implement only the calls our launch files make (the same names and keywords as the
Humble/Jazzy API: DeclareLaunchArgument, LaunchConfiguration, OpaqueFunction, Node,
IncludeLaunchDescription, ExecuteProcess, RegisterEventHandler/OnProcessExit/EmitEvent/Shutdown,
FindPackageShare, PathJoinSubstitution) and evaluate them the way `ros2 launch` would: defaults
for arguments not given, required arguments enforced, OpaqueFunctions called with a context,
included launch files run with the arguments passed to them. What comes out is what the launch
would start: every Node with its parameters (parameter files merged as ROS merges them), every
process, every include. Real `ros2 launch` runs are the ROS tier's job (policy_node/test).
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO / "policy_node"  # same config/ + launch/ layout as the installed share
_COUNTER = itertools.count()


class _Recorded:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


class LaunchDescription:
    def __init__(self, entities=()) -> None:
        self.entities = list(entities)


class DeclareLaunchArgument:
    def __init__(self, name: str, default_value: str | None = None, description: str = "", **_: Any) -> None:
        self.name, self.default_value, self.description = name, default_value, description


class OpaqueFunction:
    def __init__(self, function, args=None, kwargs=None) -> None:
        self.function, self.args, self.fn_kwargs = function, list(args or []), dict(kwargs or {})


class LaunchConfiguration:
    def __init__(self, name: str) -> None:
        self.name = name

    def perform(self, context: StubContext) -> str:
        if self.name not in context.configurations:
            raise KeyError(f"launch configuration {self.name!r} is not set (not declared?)")
        return context.configurations[self.name]


class FindPackageShare:
    def __init__(self, package: str) -> None:
        self.package = package

    def perform(self, context: StubContext) -> str:
        assert self.package == "policy_node", f"no share for {self.package} here"
        return str(PACKAGE_DIR)


class PathJoinSubstitution:
    def __init__(self, parts) -> None:
        self.parts = list(parts)

    def perform(self, context: StubContext) -> str:
        return str(Path(*(_perform(p, context) for p in self.parts)))


class PythonLaunchDescriptionSource:
    def __init__(self, path) -> None:
        self.path = path


@dataclass
class StubContext:
    configurations: dict[str, str]


def _perform(value: Any, context: StubContext) -> Any:
    return value.perform(context) if hasattr(value, "perform") else value


def _modules() -> dict[str, types.ModuleType]:
    names = {
        "launch": {"LaunchDescription": LaunchDescription},
        "launch.actions": {
            "DeclareLaunchArgument": DeclareLaunchArgument, "OpaqueFunction": OpaqueFunction,
            **{n: type(n, (_Recorded,), {}) for n in (
                "ExecuteProcess", "IncludeLaunchDescription", "RegisterEventHandler", "EmitEvent")},
        },
        "launch.substitutions": {
            "LaunchConfiguration": LaunchConfiguration, "PathJoinSubstitution": PathJoinSubstitution,
        },
        "launch.event_handlers": {"OnProcessExit": type("OnProcessExit", (_Recorded,), {})},
        "launch.events": {"Shutdown": type("Shutdown", (_Recorded,), {})},
        "launch.launch_description_sources": {"PythonLaunchDescriptionSource": PythonLaunchDescriptionSource},
        "launch_ros": {},
        "launch_ros.actions": {"Node": type("Node", (_Recorded,), {})},
        "launch_ros.substitutions": {"FindPackageShare": FindPackageShare},
    }  # fmt: skip
    modules = {}
    for name, members in names.items():
        module = types.ModuleType(name)
        module.__dict__.update(members)
        module.__path__ = []  # a package, so `from launch.actions import ...` resolves
        modules[name] = module
    return modules


@contextlib.contextmanager
def stub_launch():
    """Install the stand-ins (and this checkout's policy_node package) for the duration."""
    prefixes = ("launch", "launch_ros", "policy_node")
    saved = {n: m for n, m in sys.modules.items() if n.split(".")[0] in prefixes}
    for name in saved:
        del sys.modules[name]
    sys.modules.update(_modules())
    sys.path.insert(0, str(PACKAGE_DIR))
    try:
        yield
    finally:
        sys.path.remove(str(PACKAGE_DIR))
        for name in [n for n in sys.modules if n.split(".")[0] in prefixes]:
            del sys.modules[name]
        sys.modules.update(saved)


@dataclass
class NodeRecord:
    package: str
    executable: str
    name: str
    namespace: str
    parameters: dict[str, Any]  # merged as the node would receive them (files and dicts, in order)
    parameter_entries: list[Any]  # as given: dicts and parameter-file paths
    arguments: list[str]
    remappings: list[tuple[str, str]]


@dataclass
class LaunchRun:
    path: Path
    declared: dict[str, DeclareLaunchArgument]
    configurations: dict[str, str]
    nodes: list[NodeRecord] = field(default_factory=list)
    processes: list[list[str]] = field(default_factory=list)
    includes: list[tuple[str, dict[str, str], LaunchRun]] = field(default_factory=list)
    shutdown_on_exit: dict[str, str] = field(default_factory=dict)  # node name -> reason

    def node(self, name: str) -> NodeRecord:
        found = [n for n in self.all_nodes() if n.name == name]
        assert len(found) == 1, f"{self.path.name}: {len(found)} nodes named {name!r}"
        return found[0]

    def all_nodes(self) -> list[NodeRecord]:
        return self.nodes + [n for *_, run in self.includes for n in run.all_nodes()]


def run_launch(path: Path, arguments: dict[str, str] | None = None) -> LaunchRun:
    """Evaluate a launch file as `ros2 launch path name:=value ...` would (stand-ins installed)."""
    arguments = dict(arguments or {})
    spec = importlib.util.spec_from_file_location(f"launch_file_{next(_COUNTER)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entities = module.generate_launch_description().entities
    declared = {e.name: e for e in entities if isinstance(e, DeclareLaunchArgument)}
    undeclared = sorted(set(arguments) - set(declared))
    assert not undeclared, f"{path.name} does not declare {undeclared}"
    configurations = {n: d.default_value for n, d in declared.items() if d.default_value is not None}
    configurations.update(arguments)
    missing = sorted(set(declared) - set(configurations))
    if missing:
        raise ValueError(f"{path.name}: required launch arguments {missing} not given")
    run = LaunchRun(Path(path), declared, configurations)
    context = StubContext(configurations)
    _walk(run, [e for e in entities if not isinstance(e, DeclareLaunchArgument)], context)
    return run


def _walk(run: LaunchRun, actions: list, context: StubContext) -> None:
    for action in actions:
        kind = type(action).__name__
        if isinstance(action, OpaqueFunction):
            _walk(run, list(action.function(context, *action.args, **action.fn_kwargs) or []), context)
        elif kind == "Node":
            run.nodes.append(_node_record(action.kwargs, context))
        elif kind == "ExecuteProcess":
            run.processes.append([str(_perform(part, context)) for part in action.kwargs["cmd"]])
        elif kind == "IncludeLaunchDescription":
            source = action.args[0] if action.args else action.kwargs["launch_description_source"]
            target = _perform(source.path, context)
            passed = {str(_perform(k, context)): str(_perform(v, context))
                      for k, v in action.kwargs.get("launch_arguments", [])}  # fmt: skip
            run.includes.append((Path(target).name, passed, run_launch(Path(target), passed)))
        elif kind == "RegisterEventHandler":
            handler = action.args[0] if action.args else action.kwargs["event_handler"]
            target = handler.kwargs["target_action"].kwargs["name"]
            (emit,) = handler.kwargs["on_exit"]
            run.shutdown_on_exit[target] = emit.kwargs["event"].kwargs["reason"]
        else:
            raise AssertionError(f"{run.path.name}: the stand-in does not know {kind}")


def _flatten(mapping: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        flat.update(
            _flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value}
        )
    return flat


def _node_record(kwargs: dict, context: StubContext) -> NodeRecord:
    name = _perform(kwargs.get("name", kwargs["executable"]), context)
    merged: dict[str, Any] = {}
    entries = list(kwargs.get("parameters", []))
    for entry in entries:
        if isinstance(entry, dict):
            merged.update(_flatten(entry))
            continue
        sections = yaml.safe_load(Path(_perform(entry, context)).read_text())  # a parameter file
        for section in ("/**", name, f"/{name}"):
            merged.update(_flatten(sections.get(section, {}).get("ros__parameters", {})))
    return NodeRecord(
        package=kwargs["package"], executable=kwargs["executable"], name=name,
        namespace=_perform(kwargs.get("namespace", ""), context) or "", parameters=merged,
        parameter_entries=entries, arguments=[str(_perform(a, context)) for a in kwargs.get("arguments", [])],
        remappings=[tuple(r) for r in kwargs.get("remappings", [])],
    )  # fmt: skip
