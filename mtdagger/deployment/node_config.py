"""Node parameter files (policy_node/config/<robot>.yaml), resolved into one dict per node.

A node config holds what a cell fixes for its nodes (the point-cloud contract, the gripper joint,
the gripper's goal threshold, ...) in ROS's parameter-file layout. ROS applies a file's `/**`
section to every node; we resolve it instead, so each node's plan lists exactly the parameters
that node receives: the launch hands the nodes dicts, `mtdagger rehearse` writes the same dicts
to its parameter file, and tests compare them field by field. A shared key therefore has to say
which nodes take it (`SHARED_PARAMETERS`); an unknown one is refused, not silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mtdagger.files import load_yaml

CONTRACT_NODES = ("pointcloud_preprocess", "policy")
# A shared (`/**`) parameter, or a prefix ending in '.', -> the nodes that declare it.
ROBOT_NODES = ("ee_state", "pointcloud_preprocess", "policy", "arm_controller", "sim_bridge", "fr3_cell")
SHARED_PARAMETERS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "robot_config": ROBOT_NODES,
    "contract_source": CONTRACT_NODES,
    "contract.": CONTRACT_NODES,
    # Part of the execution contract (mtdagger.control.execution_contract): the policy node checks
    # it against the checkpoint as the arm controller does, so both take it from one place.
    "gripper_change_threshold": ("policy", "arm_controller"),
})  # fmt: skip
SOURCE_SHARE = Path(__file__).resolve().parents[2] / "policy_node"


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameter mappings as ROS names them: {'contract': {'num_points': 1}} -> contract.num_points."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _takers(name: str) -> tuple[str, ...] | None:
    for key, nodes in SHARED_PARAMETERS.items():
        if name == key or (key.endswith(".") and name.startswith(key)):
            return nodes
    return None


@dataclass(frozen=True)
class NodeConfig:
    """A node parameter file: its `/**` parameters and its per-node sections, flattened."""

    path: str
    shared: Mapping[str, Any] = field(default_factory=dict)
    per_node: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def for_node(self, node: str) -> dict[str, Any]:
        """The parameters this file gives `node`: its share of `/**`, then its own section."""
        params = {k: v for k, v in self.shared.items() if node in (_takers(k) or ())}
        params.update(self.per_node.get(node, {}))
        return {k: list(v) if isinstance(v, list) else v for k, v in params.items()}  # no list shared


def node_config_path(share_dir: str | Path, robot: str, override: str = "") -> str:
    """The node parameter YAML: `node_config:=` if given, else <share>/config/<robot>.yaml."""
    path = Path(override).expanduser() if override else Path(share_dir) / "config" / f"{robot}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in (Path(share_dir) / "config").glob("*.yaml"))
        raise FileNotFoundError(
            f"node parameter file {path} not found (robots with shipped configs: {shipped}); "
            "pass node_config:=<yaml>"
        )
    return str(path)


def load_node_config(path: str | Path) -> NodeConfig:
    """Read and check a node parameter file (sections hold exactly `ros__parameters`)."""
    data = load_yaml(Path(path).read_text(encoding="utf-8"), f"node config {path}") or {}
    if not isinstance(data, dict):
        raise ValueError(f"node config {path}: expected a mapping of node sections")
    shared: dict[str, Any] = {}
    per_node: dict[str, dict[str, Any]] = {}
    for section, body in data.items():
        if not isinstance(body, dict) or set(body) != {"ros__parameters"}:
            raise ValueError(f"node config {path}: section {section!r} must hold exactly 'ros__parameters'")
        params = flatten(body["ros__parameters"] or {})
        if section == "/**":
            stray = sorted(k for k in params if _takers(k) is None)
            if stray:
                raise ValueError(
                    f"node config {path}: '/**' sets {stray}, which no node takes from a shared "
                    "section; move them under their node's section"
                )
            shared.update(params)
        else:
            per_node.setdefault(str(section).strip("/").split("/")[-1], {}).update(params)
    return NodeConfig(str(path), shared, per_node)


def execution_contract_for(robot: str, *, point_cloud_contract: Any, action: Any, share_dir: str | Path = ""):
    """The ExecutionContract a run with `action` (the ActionConvention its simulator executed)
    records: built from the robot config and the node config that the robot's nodes read
    (policy_node/config/<robot>.yaml; a value it leaves out is the node's declared default), so
    the numbers checked at start-up are, by construction, those training used."""
    from mtdagger.control.execution_contract import ExecutionContract
    from mtdagger.control.robot_config import load_robot_config
    from mtdagger.deployment.declarations import declared_by_node

    config = load_node_config(node_config_path(share_dir or SOURCE_SHARE, robot))
    declared = declared_by_node()

    def value(node: str, name: str) -> float:
        given = config.for_node(node)
        return float(given[name] if name in given else declared[node][name].default)

    threshold = value("arm_controller", "gripper_change_threshold")
    if value("policy", "gripper_change_threshold") != threshold:
        raise ValueError(f"node config {config.path}: gripper_change_threshold differs between policy "
                         "and arm_controller; set it once in the '/**' section")
    return ExecutionContract.from_configs(
        load_robot_config(robot),
        gripper_change_threshold=threshold,
        gripper_opening_scale=value("policy", "gripper_opening_scale"),
        point_cloud_contract=point_cloud_contract,
        control_period_s=action.control_period_s,
        trajectory_time_s=action.trajectory_time_s,
        action_frame=action.frame,
    )
