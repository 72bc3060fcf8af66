"""The rehearsal graph: the real FR3 trial's nodes, in their real configuration, over real rclpy.

Nodes (each the real class, one process, one executor; messages still go through rclpy and DDS):
`pointcloud_preprocess`, `policy`, `arm_controller` with the parameters `real.launch.py
robot:=franka_fr3` gives them (the node config policy_node/config/franka_fr3.yaml as the first
`--params-file`, then the launch's own per-node values: checkpoint, task, calibration id,
`command_interface:=joint_trajectory`), the FR3 cell (`sim_bridge/fr3_cell_node.py`: franka_ros2,
the camera driver and `ee_state` in one), and a bag recorder standing in for `ros2 bag record`.

Where the PyPI wheels force a seam (each also stated in the bag's notes and the docs):
- no tf2_ros: the calibration reaches `pointcloud_preprocess` as `calibration_file` (the same
  YAML the launch hands to static_transform_publisher), and the bag gets its transform from it;
- no control_msgs: the gripper goal goes on the arm controller's stamped topic, not as a
  GripperCommand action;
- sim time: every node runs with use_sim_time on the cell's /clock (lockstep: a step waits for
  the command of its observation, however slow this machine is);
- one graph runs several tasks: the policy follows the cell's episode markers
  (`follow_episode_task`); on the robot each task is its own launch (`task:=`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_CONFIG = REPO_ROOT / "policy_node" / "config" / "franka_fr3.yaml"
ROBOT = "franka_fr3"


@dataclass(frozen=True)
class RehearsalSettings:
    checkpoint: str
    bag: str  # new bag directory
    tasks: tuple[str, ...] = ("drawer-open",)
    objects: str = "both"
    episodes_per_task: int = 1
    seed: int = 0
    max_episode_steps: int = 120
    calibration_file: str = "configs/calibration/fr3_cell.yaml"
    camera_config: str = "configs/cameras/fr3_d435.yaml"
    node_config: str = str(NODE_CONFIG)
    # Extra per-node parameters over the real ones, e.g. {"arm_controller": {...}}: reported in the bag.
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeout_s: float = 3600.0


def overrides_file(settings: RehearsalSettings, calibration_id: str) -> dict[str, dict]:
    """The second --params-file: what real.launch.py sets per node, plus the PyPI seams."""
    blocks: dict[str, dict[str, Any]] = {
        "/**": {"use_sim_time": True, "robot_config": ROBOT},
        "pointcloud_preprocess": {
            "checkpoint": settings.checkpoint, "calibration_file": settings.calibration_file,
        },
        "policy": {
            "checkpoint": settings.checkpoint, "task": settings.tasks[0], "calibration_id": calibration_id,
            "follow_episode_task": True,
        },
        "arm_controller": {"command_interface": "joint_trajectory", "gripper_interface": "topic"},
        "fr3_cell": {
            "tasks": ",".join(settings.tasks), "objects": settings.objects,
            "episodes_per_task": settings.episodes_per_task, "seed": settings.seed,
            "max_episode_steps": settings.max_episode_steps, "camera_config": settings.camera_config,
            "calibration_file": settings.calibration_file, "exit_when_done": False,
        },
    }  # fmt: skip
    for node, values in settings.overrides.items():
        blocks.setdefault(node, {}).update(values)
    return {name: {"ros__parameters": values} for name, values in blocks.items()}


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
    from policy_node.arm_controller import ArmControllerNode
    from policy_node.pointcloud_preprocess import PointCloudPreprocessNode
    from policy_node.policy import PolicyNode
    from rclpy.executors import SingleThreadedExecutor

    from calibration.extrinsics import load_extrinsics
    from mtdagger.rehearsal.bag_recorder import BagRecorder
    from sim_bridge.fr3_cell_node import FR3CellNode

    extrinsics = load_extrinsics(settings.calibration_file)
    params_dir.mkdir(parents=True, exist_ok=True)
    overrides = params_dir / "rehearsal_overrides.yaml"
    overrides.write_text(yaml.safe_dump(overrides_file(settings, extrinsics.calibration_id), sort_keys=False))
    args = ["--ros-args", "--params-file", settings.node_config, "--params-file", str(overrides)]
    started = time.monotonic()
    rclpy.init(args=args)
    cell = recorder = None
    nodes: list[Any] = []
    try:
        cell = FR3CellNode(rclpy.create_node)
        probe = rclpy.create_node("rehearsal_recorder")
        recorder = BagRecorder(probe, settings.bag)
        recorder.write_static_transform(
            extrinsics.T_base_camera, extrinsics.base_frame, extrinsics.camera_frame
        )
        trajectories = _count(probe, cell)
        nodes = [probe, PointCloudPreprocessNode(), PolicyNode(), ArmControllerNode(), cell.node]
        executor = SingleThreadedExecutor()
        for node in nodes:
            executor.add_node(node)
        deadline = started + settings.timeout_s
        reported = 0
        while not cell.done and time.monotonic() < deadline and rclpy.ok():
            executor.spin_once(timeout_sec=0.01)
            for end in cell.core.results[reported:]:
                log(
                    f"episode {end['episode']}: {end['task']} {end['object']} ({end['object_split']}) "
                    f"{'success' if end['success'] else 'failure'} in {end['num_steps']} steps, "
                    f"drawer at {end['drawer_opening_m']:.3f} m"
                )
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


def _count(probe, cell) -> list[int]:
    """How many JointTrajectory messages went out on the arm's topic (seen by a third party)."""
    from trajectory_msgs.msg import JointTrajectory

    count = [0]

    def callback(_msg) -> None:
        count[0] += 1

    probe.create_subscription(JointTrajectory, cell.trajectory_topic, callback, 100)
    return count
