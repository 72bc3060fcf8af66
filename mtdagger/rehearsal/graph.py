"""The rehearsal graph: the real FR3 trial's nodes, in their real configuration, over real rclpy.

Nodes (each the real class, one process, one executor; messages still go through rclpy and DDS):
`ee_state`, `pointcloud_preprocess`, `policy`, `arm_controller` with the parameters real.launch.py
gives them when rehearse.launch.py includes it (robot franka_fr3, joint_trajectory, no camera
driver, sim time), the FR3 cell (`sim_bridge/ros/fr3_cell_node.py`: franka_ros2 and the camera
driver in one) with rehearse.launch.py's, and a bag recorder standing in for `ros2 bag record
--use-sim-time` (receive times on the simulated clock, as the launch records).
Both sets come from the ONE function the launch files call,
`mtdagger.deployment.plan.deployment_plan` ('rehearse', then 'real' with its include arguments),
so the rehearsal cannot drift from the launch; only the seams below are changed, by name
(`pypi_seams`, checked key by key by tests/test_launch_plan.py).

Where the PyPI wheels force a seam (each also stated in the bag's notes and the docs):
- no tf2_ros: the calibration reaches `pointcloud_preprocess` as `calibration_file` (the same
  YAML the launch hands to static_transform_publisher), and the bag gets its transform from it;
- no robot_state_publisher: the cell publishes the latched `/robot_description` (the same URDF);
  `ee_state` computes the EE pose from it and /joint_states exactly as under the launch;
- no control_msgs: the gripper goal goes on the arm controller's stamped topic, not as a
  GripperCommand action;
- sim time is NOT a seam: the launch runs every node on the cell's /clock too (lockstep: a step
  waits for the command of its observation, however slow the machine is);
- one graph runs several tasks: the policy follows the cell's episode markers
  (`follow_episode_task`); on the robot each task is its own launch (`task:=`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mtdagger.deployment.overrides import apply_overrides
from mtdagger.deployment.plan import REHEARSAL_ROBOT, SOURCE_SHARE, DeploymentPlan, deployment_plan

REPO_ROOT = Path(__file__).resolve().parents[2]
ROBOT = REHEARSAL_ROBOT
NODE_CONFIG = SOURCE_SHARE / "config" / f"{ROBOT}.yaml"
# The real graph's nodes the rehearsal runs; real.launch.py's other one is replaced by a seam
# (camera_calibration_tf: the calibration file, no tf2_ros).
REAL_NODES = ("ee_state", "pointcloud_preprocess", "policy", "arm_controller")
CELL = "fr3_cell"
RECORDER = "rehearsal_recorder"


@dataclass(frozen=True)
class RehearsalSettings:
    checkpoint: str
    bag: str  # new bag directory
    tasks: tuple[str, ...] = ("drawer-open",)
    objects: str = "both"
    episodes_per_task: int = 1
    seed: int = 0
    seed_tasks: tuple[str, ...] = ()  # the checkpoint's task list: numbers the seeds as eval does
    max_episode_steps: int = 120
    calibration_file: str = "configs/calibration/fr3_cell.yaml"
    camera_config: str = "configs/cameras/fr3_d435.yaml"
    node_config: str = str(NODE_CONFIG)
    # Extra per-node parameters over the real ones, e.g. {"arm_controller": {...}}: reported in the bag.
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeout_s: float = 3600.0


def launch_plans(settings: RehearsalSettings) -> tuple[DeploymentPlan, DeploymentPlan]:
    """(rehearse.launch.py's plan, real.launch.py's plan as rehearse.launch.py includes it) for
    these settings: the launch arguments `ros2 launch policy_node rehearse.launch.py` would get."""
    rehearse = deployment_plan("rehearse", {
        "checkpoint": settings.checkpoint, "task": settings.tasks[0], "objects": settings.objects,
        "episodes_per_task": str(settings.episodes_per_task), "seed": str(settings.seed),
        "seed_tasks": ",".join(settings.seed_tasks),
        "max_episode_steps": str(settings.max_episode_steps),
        "calibration_file": settings.calibration_file, "sim_camera_config": settings.camera_config,
        "record": "false",  # the recorder below stands in for the launch's `ros2 bag record`
    })  # fmt: skip
    (include,) = rehearse.includes
    real = deployment_plan(include.launch, {**include.arguments, "node_config": settings.node_config})
    return rehearse, real


def pypi_seams(settings: RehearsalSettings, calibration_file: str) -> dict[str, dict[str, Any]]:
    """What the PyPI wheels change in the launch's parameters (see the module docstring), by node.
    `calibration_file`: the one the launch publishes as the static transform."""
    return {
        "pointcloud_preprocess": {"calibration_file": calibration_file},  # no tf2_ros: no static TF
        "policy": {"follow_episode_task": True},  # one graph, several tasks
        "arm_controller": {"gripper_interface": "topic"},  # no control_msgs: no GripperCommand
        CELL: {
            "tasks": ",".join(settings.tasks), "gripper_interface": "topic",
            "publish_robot_description": True,  # no robot_state_publisher on PyPI
            "exit_when_done": False,  # the recorder drains the last messages first
        },
        # `ros2 bag record --use-sim-time` of the launch: receive times on the cell's /clock
        RECORDER: {"use_sim_time": True},
    }  # fmt: skip


def rehearsal_parameters(settings: RehearsalSettings) -> dict[str, dict[str, Any]]:
    """Node name -> parameters: the launch plans' dicts, the PyPI seams, then `settings.overrides`."""
    rehearse, real = launch_plans(settings)
    blocks = {name: dict(real.node(name).parameters) for name in REAL_NODES}
    blocks[CELL] = dict(rehearse.node(CELL).parameters)
    calibration = rehearse.includes[0].arguments["calibration_file"]
    for node, values in pypi_seams(settings, calibration).items():
        blocks.setdefault(node, {}).update(values)
    # Checked against what each node declares (unknown, ignored or mistyped: refused, named).
    return apply_overrides(blocks, settings.overrides)


def parameter_file(blocks: dict[str, dict[str, Any]]) -> str:
    """The `--params-file` YAML text: one section per node name. Written without YAML anchors: a
    value shared by two nodes (the contract's box) would become an alias, which rcl refuses."""

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    sections = {name: {"ros__parameters": values} for name, values in blocks.items()}
    return yaml.dump(sections, Dumper=Dumper, sort_keys=False)


@dataclass
class RehearsalResult:
    bag: Path
    episodes: list[dict[str, Any]]  # the cell's end markers
    exit_code: int
    topic_counts: dict[str, int]
    trajectories: int  # JointTrajectory messages the cell played
    wall_s: float


def ensure_policy_node_importable() -> None:
    """The ROS package's Python (policy_node/policy_node) from this checkout, as colcon would
    install it; the repository root's `policy_node/` folder would otherwise shadow it."""
    import sys

    package_root = str(REPO_ROOT / "policy_node")
    module = sys.modules.get("policy_node")
    if module is not None and getattr(module, "__file__", None) is None:
        del sys.modules["policy_node"]  # the folder imported as a namespace package
    if package_root not in sys.path:
        sys.path.insert(0, package_root)


def run_rehearsal(settings: RehearsalSettings, params_dir: Path, log=print) -> RehearsalResult:
    """Build the graph, run every episode of the cell's schedule, close the bag."""
    ensure_policy_node_importable()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from calibration.extrinsics import load_extrinsics
    from mtdagger.rehearsal.bag_recorder import BagRecorder
    from sim_bridge.ros.fr3_cell_node import FR3CellNode

    extrinsics = load_extrinsics(settings.calibration_file)
    params_dir.mkdir(parents=True, exist_ok=True)
    params = params_dir / "rehearsal_parameters.yaml"
    blocks = rehearsal_parameters(settings)
    params.write_text(parameter_file(blocks))
    args = ["--ros-args", "--params-file", str(params)]
    started = time.monotonic()
    rclpy.init(args=args)
    cell = recorder = None
    nodes: list[Any] = []
    try:
        cell = FR3CellNode(rclpy.create_node)
        probe = rclpy.create_node(RECORDER)
        recorder = BagRecorder(probe, settings.bag)
        recorder.write_static_transform(
            extrinsics.T_base_camera, extrinsics.base_frame, extrinsics.camera_frame
        )
        trajectories = _count(probe, cell)
        nodes = [probe, *_real_nodes(with_ee_state=not blocks[CELL].get("publish_ee_state")), cell.node]
        executor = SingleThreadedExecutor()
        for node in nodes:
            executor.add_node(node)
        deadline = started + settings.timeout_s
        reported = 0
        while not cell.done and time.monotonic() < deadline and rclpy.ok():
            executor.spin_once(timeout_sec=0.01)
            for end in cell.core.results[reported:]:
                log(_episode_line(end))
            reported = len(cell.core.results)
        drain = time.monotonic() + 1.0  # the last markers and commands reach the recorder
        while time.monotonic() < drain:
            executor.spin_once(timeout_sec=0.01)
        exit_code = cell.exit_code if cell.done else 1
        if not cell.done:
            log(f"error: the rehearsal did not finish within {settings.timeout_s:.0f} s")
        return RehearsalResult(
            bag=Path(settings.bag), episodes=list(cell.core.results), exit_code=exit_code,
            topic_counts=dict(recorder.counts), trajectories=trajectories[0],
            wall_s=time.monotonic() - started,
        )  # fmt: skip
    finally:
        if recorder is not None:
            recorder.close()
        for node in nodes:
            node.destroy_node()
        if cell is not None:
            cell.close()
        rclpy.try_shutdown()


def _real_nodes(with_ee_state: bool) -> list[Any]:
    """The real graph's nodes (REAL_NODES), built from the parameter file. ee_state as under the
    launch, unless the cell publishes the pose itself (`--set fr3_cell.publish_ee_state=true`:
    the pose straight from the simulator)."""
    from policy_node.arm_controller import ArmControllerNode
    from policy_node.ee_state import EeStateNode
    from policy_node.pointcloud_preprocess import PointCloudPreprocessNode
    from policy_node.policy import PolicyNode

    ee_state = [EeStateNode()] if with_ee_state else []
    return [*ee_state, PointCloudPreprocessNode(), PolicyNode(), ArmControllerNode()]


def _episode_line(end: dict[str, Any]) -> str:
    """One line per finished episode, as the cell's end marker reports it."""
    outcome = "success" if end["success"] else "failure"
    return (
        f"episode {end['episode']}: {end['task']} {end['object']} ({end['object_split']}) {outcome} "
        f"in {end['num_steps']} steps, drawer at {end['drawer_opening_m']:.3f} m"
    )


def _count(probe, cell) -> list[int]:
    """How many JointTrajectory messages went out on the arm's topic (seen by a third party)."""
    from trajectory_msgs.msg import JointTrajectory

    count = [0]

    def callback(_msg) -> None:
        count[0] += 1

    probe.create_subscription(JointTrajectory, cell.trajectory_topic, callback, 100)
    return count
