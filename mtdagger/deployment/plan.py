"""The deployment plan: from launch argument values to every node's parameters, without ROS.

`deployment_plan(launch, values)` is the ONE function that decides what each node of a launch gets:
the robot config (`robot`/`robot_config`), the camera or simulated cell, the checkpoint and every
other argument of the table (`mtdagger.deployment.launch_args`) go in; out come the nodes to start
(name, executable, the complete parameter dict, remappings, command-line arguments), the launch
files to include with their arguments, and the bag to record. The launch files only read their
arguments, call it and turn the result into launch_ros actions (policy_node/launch_actions.py);
`mtdagger rehearse` (mtdagger/rehearsal/graph.py) hands the same dicts to the same node classes;
tests compare the two field by field. Before this, real.launch.py, sim.launch.py,
rehearse.launch.py and the rehearsal each spelled the parameters out by hand, and drifted.

Parameters are resolved here, not left to ROS: the node config file's `/**` section is routed to
the nodes that take it (mtdagger.deployment.node_config), then the launch's own values override,
in the order real.launch.py always applied them (node config, then common, then per node).
Reading config files is the only side effect; nothing is started.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mtdagger.deployment.bags import bag_output_path, record_command, recorded_topics
from mtdagger.deployment.camera import (
    calibration_transform,
    camera_node_parameters,
    camera_optical_frame,
    camera_topics,
    realsense_driver_parameters,
    resolve_path,
)
from mtdagger.deployment.launch_args import LaunchValues, parse_arguments
from mtdagger.deployment.node_config import NodeConfig, load_node_config, node_config_path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The package's source folder has the installed share's layout (config/, launch/).
SOURCE_SHARE = REPO_ROOT / "policy_node"
COMMAND_INTERFACES = ("joint_trajectory", "cartesian_pose", "twist")
# The rehearsal is of a real FR3 trial: its robot is fixed, not an argument.
REHEARSAL_ROBOT = "franka_fr3"


@dataclass(frozen=True)
class SimulatorDefaults:
    """The camera and robot a simulator is run with when the caller names none."""

    camera_config: str
    robot: str

    @property
    def robot_config(self) -> str:
        return f"configs/robots/{self.robot}.yaml"


def _simulators() -> Mapping[str, SimulatorDefaults]:
    from sim_bridge.registry import DEFAULT_CAMERAS

    robots = {"metaworld": "metaworld_sawyer", "fr3": REHEARSAL_ROBOT}
    return MappingProxyType({sim: SimulatorDefaults(DEFAULT_CAMERAS[sim], r) for sim, r in robots.items()})


# Shared by sim.launch.py's defaults (tests check the table against it) and the in-process runtime.
SIMULATORS = _simulators()


def sim_calibration_id(camera_config: str, calibration_file: str | None = None) -> str:
    """The calibration id a simulated trial records: the cell's calibration file where its camera
    comes from one (the FR3 cell, as a real trial would), else the camera YAML's name."""
    if calibration_file:
        from calibration.extrinsics import load_extrinsics

        return f"sim:{load_extrinsics(resolve_path(calibration_file)).calibration_id}"
    return f"sim:{Path(camera_config).stem}"


@dataclass(frozen=True)
class NodePlan:
    """One node to start. `parameters` is complete (no parameter file besides it); `arguments`
    are command-line arguments before `--ros-args` (static_transform_publisher's pose);
    `log_level` adds `--ros-args --log-level`; `ends_launch` is the shutdown reason when the
    launch ends with this node (a simulator that has run its episodes)."""

    name: str
    executable: str
    parameters: Mapping[str, Any]
    package: str = "policy_node"
    namespace: str = ""
    remappings: tuple[tuple[str, str], ...] = ()
    arguments: tuple[str, ...] = ()
    log_level: str = ""
    ends_launch: str = ""


@dataclass(frozen=True)
class IncludePlan:
    """Another of our launches to include (a name of launch_args.LAUNCH_FILES) with its arguments."""

    launch: str
    arguments: Mapping[str, str]


@dataclass(frozen=True)
class RecordPlan:
    """`ros2 bag record` of `topics` into a new folder under `bag_dir` named after robot and label;
    `use_sim_time`: receive times on /clock, as the launch's nodes run (simulation, bag replay)."""

    bag_dir: str
    robot: str
    label: str
    topics: tuple[str, ...]
    use_sim_time: bool = False

    def command(self, now: dt.datetime | None = None) -> list[str]:
        output = bag_output_path(self.bag_dir, robot=self.robot, task=self.label, now=now)
        return record_command(output, self.topics, use_sim_time=self.use_sim_time)


@dataclass(frozen=True)
class DeploymentPlan:
    """What one launch starts, in start order."""

    launch: str
    nodes: tuple[NodePlan, ...] = ()
    includes: tuple[IncludePlan, ...] = ()
    record: RecordPlan | None = None
    arguments: LaunchValues | None = None  # the typed values it was planned from

    def node(self, name: str) -> NodePlan:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"{self.launch} starts no node {name!r}; it starts {[n.name for n in self.nodes]}")

    def parameters(self) -> dict[str, dict[str, Any]]:
        """Node name -> its parameters (a copy)."""
        return {node.name: dict(node.parameters) for node in self.nodes}


def deployment_plan(
    launch: str, arguments: Mapping[str, str], *, share_dir: str | Path | None = None
) -> DeploymentPlan:
    """The plan of `launch` (real, sim, rehearse, eval_recording, sim_rollout) for the given
    launch argument strings (the rest take the table's defaults). `share_dir`: where config/
    lives (the installed package share under ros2 launch; default: this checkout's policy_node/).
    Raises ValueError/FileNotFoundError naming the argument or file at fault."""
    values = parse_arguments(launch, arguments)
    plan = _BUILDERS[launch](values, Path(share_dir) if share_dir else SOURCE_SHARE)
    return dataclasses.replace(plan, arguments=values)


class _OurNodes:
    """Builds our nodes' plans: node config share, then the launch's common values, then its own."""

    def __init__(self, config: NodeConfig, common: Mapping[str, Any], log_level: str) -> None:
        self.config, self.common, self.log_level = config, dict(common), log_level

    def __call__(self, name: str, own: Mapping[str, Any], **plan: Any) -> NodePlan:
        parameters = {**self.config.for_node(name), **self.common, **own}
        return NodePlan(name, name, MappingProxyType(parameters), log_level=self.log_level, **plan)


def _common(values: LaunchValues, robot_ref: str) -> dict[str, Any]:
    """What every one of our processing nodes gets from the launch (sim time, the robot config)."""
    return {"use_sim_time": values["use_sim_time"], "robot_config": robot_ref}


def _robot(values: LaunchValues, share: Path):
    from mtdagger.control.robot_config import load_robot_config

    reference = values["robot_config"] or values["robot"]
    config = load_node_config(node_config_path(share, values["robot"], values["node_config"]))
    return reference, load_robot_config(reference), config


def _real(values: LaunchValues, share: Path) -> DeploymentPlan:
    """real.launch.py: camera, calibration TF, ee_state, preprocessing, policy, arm controller."""
    robot_ref, robot, config = _robot(values, share)
    interface = values["command_interface"] or robot.default_command_interface
    if interface not in COMMAND_INTERFACES:
        valid = ", ".join(COMMAND_INTERFACES)
        raise ValueError(f"robot config {robot.name!r}: command interface {interface!r} not one of {valid}")
    camera = camera_node_parameters(
        values["camera_config"], serial_no=values["serial_no"], recording_file=values["recording_file"]
    )
    depth_topic, info_topic = camera_topics(values["camera_namespace"], values["camera_name"])
    calibration = calibration_transform(
        values["calibration_file"],
        robot_base_frame=robot.base_frame,
        camera_frame=camera_optical_frame(values["camera_name"], camera["align_to_color"]),
    )
    ours = _OurNodes(config, _common(values, robot_ref), values["log_level"])
    checkpoint = values["checkpoint"]
    nodes = [
        *_camera_nodes(values, camera),
        NodePlan("camera_calibration_tf", "static_transform_publisher", MappingProxyType({}),
                 package="tf2_ros", arguments=tuple(calibration.static_transform_arguments)),
        ours("ee_state", {}),
        ours("pointcloud_preprocess", {"checkpoint": checkpoint, "depth_topic": depth_topic,
                                       "camera_info_topic": info_topic}),
        ours("policy", {"checkpoint": checkpoint, "task": values["task"],
                        "calibration_id": calibration.calibration_id,
                        "object_label": values["object_label"]}),
        # The checkpoint too: the arm controller checks its execution contract at start-up.
        ours("arm_controller", {"command_interface": interface, "checkpoint": checkpoint,
                                "deadman_timeout_s": values["deadman_timeout_s"]}),
    ]  # fmt: skip
    record = RecordPlan(values["bag_dir"], robot.name, values["task"], tuple(recorded_topics()),
                        use_sim_time=values["use_sim_time"])  # fmt: skip
    return DeploymentPlan("real", tuple(nodes), record=record if values["record"] else None)


def _camera_nodes(values: LaunchValues, camera: Mapping[str, Any]) -> list[NodePlan]:
    """The camera driver: ours (depth_camera), realsense-ros with the same settings, or none."""
    driver, name, namespace = values["camera_driver"], values["camera_name"], values["camera_namespace"]
    if driver == "none":
        return []
    if driver == "mtdagger":
        own = {"camera_name": name, "camera_namespace": namespace, "use_sim_time": values["use_sim_time"]}
        return [NodePlan("depth_camera", "depth_camera", MappingProxyType({**camera, **own}),
                         log_level=values["log_level"])]  # fmt: skip
    params = realsense_driver_parameters(
        values["camera_config"], serial_no=values["serial_no"], camera_name=name, camera_namespace=namespace
    )
    return [NodePlan(name, "realsense2_camera_node", MappingProxyType(params), package="realsense2_camera",
                     namespace=namespace, log_level=values["log_level"])]  # fmt: skip


def _sim(values: LaunchValues, share: Path) -> DeploymentPlan:
    """sim.launch.py: the sim bridge for camera and arm, then the real graph's processing nodes."""
    from sim_bridge.suites import resolve_tasks

    robot_ref, robot, config = _robot(values, share)
    tasks = resolve_tasks(values["tasks"])
    camera_config = resolve_path(values["camera_config"])
    bridge = {
        **config.for_node("sim_bridge"), "robot_config": robot_ref, "sim": values["sim"],
        "tasks": ",".join(tasks),
        "episodes_per_task": values["episodes_per_task"], "seed": values["seed"],
        "max_episode_steps": values["max_episode_steps"], "camera_config": camera_config,
        "noise": values["noise"], "randomize": values["randomize"], "lockstep": values["lockstep"],
    }  # fmt: skip
    ours = _OurNodes(config, _common(values, robot_ref), values["log_level"])
    checkpoint = values["checkpoint"]
    nodes = (
        NodePlan("sim_bridge", "sim_bridge", MappingProxyType(bridge), log_level=values["log_level"],
                 ends_launch="simulation finished"),
        ours("pointcloud_preprocess", {"checkpoint": checkpoint}),
        ours("policy", {"checkpoint": checkpoint, "task": tasks[0],
                        "calibration_id": sim_calibration_id(camera_config)}),
        # The bridge listens on MoveIt Servo's topic.
        ours("arm_controller", {"command_interface": "twist", "checkpoint": checkpoint}),
    )  # fmt: skip
    label = tasks[0] if len(tasks) == 1 else f"{len(tasks)}tasks"
    record = RecordPlan(values["bag_dir"], robot.name, label, tuple(recorded_topics(include_success=True)),
                        use_sim_time=values["use_sim_time"])  # fmt: skip
    return DeploymentPlan("sim", nodes, record=record if values["record"] else None)


def _rehearse(values: LaunchValues, share: Path) -> DeploymentPlan:
    """rehearse.launch.py: the FR3 cell and robot_state_publisher, and real.launch.py unchanged
    (FR3, joint_trajectory, no camera driver: the cell renders the camera topics, sim time)."""
    from sim_bridge.fr3.model import fr3_urdf

    calibration = resolve_path(values["calibration_file"])
    cell = {
        "robot_config": REHEARSAL_ROBOT, "tasks": values["task"], "objects": values["objects"],
        "episodes_per_task": values["episodes_per_task"], "seed": values["seed"],
        "seed_tasks": values["seed_tasks"], "max_episode_steps": values["max_episode_steps"],
        "camera_config": resolve_path(values["sim_camera_config"]), "calibration_file": calibration,
        # A full ROS 2 install: franka_gripper's action is served; ee_state and
        # robot_state_publisher run as on the robot, so the cell publishes neither.
        "gripper_interface": "action", "publish_ee_state": False, "publish_robot_description": False,
        # On its own /clock like every other node of the graph (the cell's stamps are simulated
        # time; its node clock, e.g. the gripper action server's, must be too).
        "use_sim_time": True,
    }  # fmt: skip
    real = {
        "task": values["task"], "checkpoint": values["checkpoint"], "calibration_file": calibration,
        "robot": REHEARSAL_ROBOT, "command_interface": "joint_trajectory", "camera_driver": "none",
        "use_sim_time": "true", "deadman_timeout_s": str(values["deadman_timeout_s"]),
        "record": "false",  # recorded here, with the cell's episode markers from the start
    }  # fmt: skip
    nodes = (
        NodePlan("fr3_cell", "fr3_cell", MappingProxyType(cell), ends_launch="rehearsal finished"),
        NodePlan("robot_state_publisher", "robot_state_publisher",
                 MappingProxyType({"robot_description": fr3_urdf(), "use_sim_time": True}),
                 package="robot_state_publisher"),
    )  # fmt: skip
    label = f"rehearsal_{values['task']}"
    record = RecordPlan(values["bag_dir"], REHEARSAL_ROBOT, label, tuple(recorded_topics()),
                        use_sim_time=True)  # fmt: skip
    includes = (IncludePlan("real", MappingProxyType(real)),)
    return DeploymentPlan("rehearse", nodes, includes, record if values["record"] else None)


def _eval_recording(values: LaunchValues, share: Path) -> DeploymentPlan:
    """launch/eval_recording.launch.py: real.launch.py with its arguments and recording forced on."""
    arguments = {**values.text(), "record": "true"}
    return DeploymentPlan("eval_recording", includes=(IncludePlan("real", arguments),))


def _sim_rollout(values: LaunchValues, share: Path) -> DeploymentPlan:
    """launch/sim_rollout.launch.py: sim.launch.py with its arguments, recording and lockstep on."""
    arguments = {**values.text(), "record": "true", "lockstep": "true"}
    return DeploymentPlan("sim_rollout", includes=(IncludePlan("sim", arguments),))


_BUILDERS: Mapping[str, Callable[[LaunchValues, Path], DeploymentPlan]] = MappingProxyType({
    "real": _real, "sim": _sim, "rehearse": _rehearse, "eval_recording": _eval_recording,
    "sim_rollout": _sim_rollout,
})  # fmt: skip
