"""`mtdagger rehearse --set NODE.PARAM=VALUE`: overrides of the planned node parameters, checked
before anything starts.

The deployment plan (plan.py) gives every node its complete parameters; an override is checked
against what the node declares (declarations.py reads the nodes' `declare_parameter` calls), so a
parameter ROS would drop without a word (`pointcloud_preprocess.num_points`: the node declares
`contract.num_points`), a value rclpy would refuse at start-up (a string for a float), a
`contract.*` value the node ignores (its contract_source is 'checkpoint') or one that splits the
contract the preprocessing and the policy share, is a one-line ValueError naming `--set node.param`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def apply_overrides(
    parameters: Mapping[str, Mapping[str, Any]], overrides: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """`parameters` (node name -> its planned parameters) with `overrides` applied, each checked
    first against what the node declares (mtdagger.deployment.declarations): a node that is not
    in the plan, a parameter the node does not declare (ROS would drop it without a word), a value
    of another type than the declared default's, or a `contract.*` value the node ignores (its
    contract_source is 'checkpoint') or cannot build a contract from, is a ValueError naming
    `--set node.param`, raised before anything starts."""
    from difflib import get_close_matches

    from mtdagger.deployment.declarations import IMPLICIT, declared_by_node

    declared_nodes = declared_by_node()
    merged = {node: dict(values) for node, values in parameters.items()}
    for node, values in overrides.items():
        if node not in merged:
            raise ValueError(f"--set {node}.*: no node {node!r} in this graph; nodes: {', '.join(merged)}")
        declared = {**dict.fromkeys(IMPLICIT), **declared_nodes.get(node, {})}
        for name, value in values.items():
            if name not in declared:
                close = get_close_matches(name, list(declared), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; it declares {sorted(declared)}"
                raise ValueError(f"--set {node}.{name}: {node} declares no parameter {name!r}{hint}")
            merged[node][name] = _typed_override(f"{node}.{name}", value, declared[name])
        _check_contract_overrides(node, merged[node], values)
    _check_one_contract(merged, overrides)
    return merged


def _check_one_contract(merged: Mapping[str, Mapping[str, Any]], overrides: Mapping[str, Any]) -> None:
    """The preprocessing and the policy share one contract (node_config's `/**` block): an
    override that makes them differ would feed the policy clouds it refuses, once running."""
    from mtdagger.deployment.node_config import CONTRACT_NODES

    touched = [
        f"{node}.{name}" for node, values in overrides.items() if node in CONTRACT_NODES
        for name in values if name == "contract_source" or name.startswith("contract.")
    ]  # fmt: skip
    nodes = [node for node in CONTRACT_NODES if node in merged]
    if not touched or len(nodes) < 2:
        return
    shared = [
        {k: v for k, v in merged[node].items() if k == "contract_source" or k.startswith("contract.")}
        for node in nodes
    ]
    if any(part != shared[0] for part in shared[1:]):
        raise ValueError(
            f"--set {touched[0]}: the point-cloud contract is shared by {' and '.join(nodes)}; "
            "set the same value on each of them"
        )


def _typed_override(where: str, value: Any, declared: Any) -> Any:
    """`value` as the declared parameter's type (an integer for a float parameter becomes a float:
    rclpy refuses 1 where 1.0 was declared); another type is a ValueError naming `--set where`."""
    from mtdagger.deployment.declarations import UNKNOWN

    default = getattr(declared, "default", UNKNOWN)
    if default is UNKNOWN or default is None:
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    kind = bool if isinstance(default, bool) else type(default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(
            f"--set {where}={value!r}: expected a {kind.__name__} like the node's default {default!r}"
        )
    return value


def contract_of(parameters: Mapping[str, Any], meta: Any = None) -> Any:
    """The PointCloudContract a node with these parameters works with (policy_node/ros_support.py
    `contract_from_parameters`, without ROS): its `contract.*` parameters when its contract_source
    is 'parameters', else the checkpoint's (`meta`, a CheckpointMeta). ValueError if invalid."""
    from mtdagger.perception.contract import PointCloudContract

    if parameters.get("contract_source", "parameters") != "parameters":
        if meta is None or meta.point_cloud_contract is None:
            raise ValueError("contract_source is 'checkpoint' but no point-cloud checkpoint was given")
        return PointCloudContract.from_dict(meta.point_cloud_contract)
    prefix = "contract."
    fields = {name.removeprefix(prefix): v for name, v in parameters.items() if name.startswith(prefix)}
    return PointCloudContract.from_dict({**PointCloudContract().to_dict(), **fields})


def _check_contract_overrides(node: str, merged: Mapping[str, Any], given: Mapping[str, Any]) -> None:
    """A `contract.*` override must be used (contract_source 'parameters') and make a valid contract."""
    changed = sorted(name for name in given if name.startswith("contract."))
    if not changed:
        return
    if merged.get("contract_source", "parameters") != "parameters":
        raise ValueError(
            f"--set {node}.{changed[0]}: ignored, {node}'s contract_source is "
            f"{merged.get('contract_source', 'checkpoint')!r} (the contract comes from the checkpoint)"
        )
    try:
        contract_of(merged)
    except (TypeError, ValueError) as error:
        raise ValueError(f"--set {node}.{changed[0]}: {error}") from None
