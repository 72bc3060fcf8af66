"""The parameters each node executable of policy_node declares, read from its source with `ast`.

Every `declare_parameter('name', default)` call is a declaration, including those of the
ros_support helpers a node calls (`declare_contract_parameters`). A console script that only
forwards to the core (sim_bridge_entry.py -> sim_bridge.ros.bridge_node) is followed to the
module it imports `main` from, so the map survives modules moving. No rclpy needed.

`mtdagger rehearse --set NODE.PARAM=VALUE` is checked against these declarations before any node
starts (deployment/overrides.py `apply_overrides`); the launch-plan tests use the same map to check
that every parameter a plan gives is declared (tests/test_launch_plan.py).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO / "policy_node"
NODE_DIR = PACKAGE_DIR / "policy_node"
UNKNOWN = object()  # a default that is not a literal (computed from a constant elsewhere)
# Every rclpy node has it without declaring it.
IMPLICIT = frozenset({"use_sim_time"})


@dataclass(frozen=True)
class Declared:
    required: bool  # declared with a type (Parameter.Type.X) instead of a value
    default: Any  # the literal default, or UNKNOWN


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


@cache
def console_scripts() -> dict[str, str]:
    """Executable name -> module, from setup.py's entry_points strings."""
    pattern = re.compile(r"^\s*(\w+)\s*=\s*([\w.]+):(\w+)\s*$")
    scripts = {}
    texts = [n.value for n in ast.walk(_parse(PACKAGE_DIR / "setup.py")) if isinstance(n, ast.Constant)]
    for match in (pattern.match(t) for t in texts if isinstance(t, str)):
        if match:
            scripts[match.group(1)] = match.group(2)
    return scripts


def module_file(module: str) -> Path:
    parts = module.split(".")
    root = PACKAGE_DIR if parts[0] == "policy_node" else REPO
    path = root.joinpath(*parts)
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _declarations(tree: ast.AST) -> dict[str, Declared]:
    found = {}
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and _name(n) == "declare_parameter"):
        if not call.args or not isinstance(call.args[0], ast.Constant):
            continue  # a name computed at run time (a loop over a table): not a literal declaration
        name = call.args[0].value
        default = call.args[1] if len(call.args) > 1 else None
        required = isinstance(default, ast.Attribute) and isinstance(default.value, ast.Attribute)
        try:
            value = ast.literal_eval(default) if default is not None and not required else UNKNOWN
        except ValueError:
            value = UNKNOWN
        found[name] = Declared(required and default.value.attr == "Type", value)
    return found


def node_source(executable: str) -> Path:
    """The module that declares the node's parameters (shims followed to the core)."""
    path = module_file(console_scripts()[executable])
    tree = _parse(path)
    if _declarations(tree):
        return path
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(a.name == "main" for a in node.names):
            return module_file(node.module)
    raise LookupError(f"{executable}: {path} declares no parameters and forwards to no main")


@cache
def declared_by_node() -> dict[str, dict[str, Declared]]:
    """Executable (= node name in our launches) -> parameter name -> Declared."""
    support = _parse(NODE_DIR / "ros_support.py").body
    helpers = {f.name: _declarations(f) for f in support if isinstance(f, ast.FunctionDef)}
    result = {}
    for executable in console_scripts():
        tree = _parse(node_source(executable))
        declared = _declarations(tree)
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            declared.update(helpers.get(_name(call), {}))
        result[executable] = declared
    return result
