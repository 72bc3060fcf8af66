"""`mtdagger bench ros`: camera stamp -> arm command latency through real rclpy, against the
in-process runtime in the same run, and the CPU each node process uses.

The graph is what `sim.launch.py` starts, one process per node (sim_bridge, pointcloud_preprocess,
policy, arm_controller) over real rclpy and Fast DDS, in lockstep on MetaWorld, in the
configuration the PyPI wheels allow (camera pose from a calibration file, gripper on the stamped
topic). A probe node in this process records when each depth image and the command answering it
(the servo twist with the image's stamp) arrive: latency = command arrival - image arrival, so it
spans image transport, preprocessing, policy, arm controller and the three hops between them
("arrival" is when the probe's callback runs: a busy probe makes both late, so on a loaded
machine the graph row reads low; compare it on an idle one).
CPU per node = user + system time of its process (/proc, Linux) over the timed window divided by
the window's wall time. The in-process row is the DeploymentLoop's control step (preprocess +
policy + safety) on the same checkpoint, tasks and seeds, measured in the same run.
The checkpoint has random weights at the requested size (latency does not depend on training).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

import numpy as np
import yaml

from mtdagger.bench.table import print_table

NODES = ("sim_bridge", "pointcloud_preprocess", "policy", "arm_controller")
ROBOT = "metaworld_sawyer"
CAMERA_CONFIG = "configs/cameras/metaworld_d435.yaml"
IMAGE_TOPIC = "/camera/camera/aligned_depth_to_color/image_raw"
COMMAND_TOPIC = "/servo_node/delta_twist_cmds"


def _node_command(name: str) -> list[str]:
    if name == "sim_bridge":
        code = "from sim_bridge.ros.bridge_node import main; raise SystemExit(main())"
    else:
        code = f"from policy_node.{name} import main; raise SystemExit(main())"
    return [sys.executable, "-c", code]


def _node_env(domain_id: int) -> dict[str, str]:
    """The nodes import `policy_node` from the installed package, else from this source checkout."""
    repo = Path(__file__).resolve().parents[2]
    path = [str(repo / "policy_node"), str(repo), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p),
        "ROS_DOMAIN_ID": str(domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    }  # fmt: skip


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _parameters(tmp: Path, checkpoint: Path, task: str, steps: int) -> Path:
    from sim_bridge.ros.bridge_node import write_sim_calibration

    calibration = write_sim_calibration(tmp / "calibration.yaml", CAMERA_CONFIG, "right_arm_base_link")
    common = {"robot_config": ROBOT, "use_sim_time": True, "contract_source": "checkpoint"}
    blocks = {
        "sim_bridge": {
            "robot_config": ROBOT, "tasks": task, "episodes_per_task": 1, "seed": 1,
            "max_episode_steps": steps, "camera_config": CAMERA_CONFIG, "gripper_interface": "topic",
            "publish_tf": False, "exit_when_done": False, "command_timeout_s": 5.0,
        },
        "pointcloud_preprocess": {
            **common, "checkpoint": str(checkpoint), "calibration_file": str(calibration),
        },
        "policy": {**common, "checkpoint": str(checkpoint), "task": task},
        "arm_controller": {
            **common, "command_interface": "twist", "gripper_interface": "topic",
            "gripper_change_threshold": 0.0,  # MetaWorld: every gripper change is a goal
        },
    }  # fmt: skip
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump({name: {"ros__parameters": values} for name, values in blocks.items()}))
    return path


def _start_nodes(
    params: Path, domain: int, tmp: Path
) -> tuple[dict[str, subprocess.Popen], dict[str, IO[str]]]:
    """Start one process per node (as the launch file would), each logging to `tmp/<node>.log`:
    the logs are what `run` prints when a node dies, so they must outlive the processes."""
    logs = {name: (tmp / f"{name}.log").open("w") for name in NODES}
    processes = {
        name: subprocess.Popen(
            [*_node_command(name), "--ros-args", "--params-file", str(params)],
            env=_node_env(domain), stdout=logs[name], stderr=subprocess.STDOUT,
        )
        for name in NODES
    }
    return processes, logs


def _stop_nodes(processes: dict[str, subprocess.Popen], logs: dict[str, IO[str]]) -> None:
    """Terminate every node first, then wait for each (so they shut down in parallel), then close
    the logs: no node may outlive the measurement and keep publishing into the next one."""
    for process in processes.values():
        process.terminate()
    for process in processes.values():
        process.wait(timeout=30)
    for log in logs.values():
        log.close()


def measure_graph(checkpoint: Path, task: str, steps: int, tmp: Path, warmup: int) -> dict:
    import rclpy
    from geometry_msgs.msg import TwistStamped
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    domain = 1 + os.getpid() % 100
    os.environ.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    params = _parameters(tmp, checkpoint, task, steps + warmup)
    processes, logs = _start_nodes(params, domain, tmp)
    images: dict[int, float] = {}
    commands: dict[int, float] = {}

    def stamp(msg) -> int:
        return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec

    rclpy.init()
    probe = rclpy.create_node("bench_probe")
    probe.create_subscription(Image, IMAGE_TOPIC, lambda m: images.setdefault(stamp(m), time.perf_counter()),
                              qos_profile_sensor_data)  # fmt: skip
    probe.create_subscription(TwistStamped, COMMAND_TOPIC,
                              lambda m: commands.setdefault(stamp(m), time.perf_counter()), 10)  # fmt: skip
    cpu_start: dict[str, float] = {}
    wall_start = wall_end = 0.0
    cpu_end: dict[str, float] = {}
    deadline = time.monotonic() + 300.0
    try:
        while len(commands) < steps + warmup and time.monotonic() < deadline:
            rclpy.spin_once(probe, timeout_sec=0.05)
            if not cpu_start and len(commands) >= warmup:
                cpu_start = {name: _cpu_seconds(p.pid) for name, p in processes.items()}
                wall_start = time.perf_counter()
            dead = [name for name, p in processes.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"node {dead[0]} exited; see {tmp / (dead[0] + '.log')}")
        cpu_end = {name: _cpu_seconds(p.pid) for name, p in processes.items()}
        wall_end = time.perf_counter()
    finally:
        probe.destroy_node()
        rclpy.try_shutdown()
        _stop_nodes(processes, logs)
    answered = sorted(s for s in commands if s in images)[warmup:]
    if len(answered) < steps // 2:
        raise RuntimeError(f"only {len(answered)} commands answered an image; see the logs in {tmp}")
    window = wall_end - wall_start
    return {
        "latency_ms": np.array([(commands[s] - images[s]) * 1e3 for s in answered]),
        "cpu": {name: (cpu_end[name] - cpu_start[name], (cpu_end[name] - cpu_start[name]) / window)
                for name in NODES},
        "window_s": window,
    }


def measure_in_process(checkpoint: Path, task: str, steps: int, warmup: int) -> np.ndarray:
    from mtdagger.runtime.session import build_sim_deployment

    with build_sim_deployment(checkpoint=str(checkpoint), tasks=task, seed=1) as session:
        session.loop.run_episode(task, 0, max_steps=warmup)
        outcome = session.loop.run_episode(task, 1, max_steps=steps)
    return outcome.control_latency_ms


def run(args) -> int:
    from mtdagger.bench.control import write_random_checkpoint
    from mtdagger.perception.contract import PointCloudContract
    from mtdagger.training.config import SimConfig
    from mtdagger.training.sim_setup import backend_config_for, describe_backend

    task, warmup = args.task, 10
    description = describe_backend(backend_config_for(SimConfig(), [task], render_depth=True))
    with tempfile.TemporaryDirectory(prefix="bench-ros-") as folder:
        tmp = Path(folder)
        checkpoint = tmp / "random-pointnet"
        write_random_checkpoint(checkpoint, [task], PointCloudContract(num_points=args.num_points),
                                description.action_convention, description.privileged_dim)  # fmt: skip
        # In-process before AND after the graph: on a shared machine the load drifts, and the
        # spread of the two in-process rows shows how far the graph row can be trusted.
        before = measure_in_process(checkpoint, task, args.steps, warmup)
        try:
            graph = measure_graph(checkpoint, task, args.steps, tmp, warmup)
        except RuntimeError as error:
            print(f"error: {error}", file=sys.stderr)
            for log in sorted(tmp.glob("*.log")):
                print(f"--- {log.name}\n{log.read_text()[-2000:]}", file=sys.stderr)
            return 1
        after = measure_in_process(checkpoint, task, args.steps, warmup)

    def row(label, values):
        return [label, len(values), *(float(np.percentile(values, q)) for q in (50, 99)), float(values.max())]

    print_table(
        f"camera stamp -> arm command latency, N={args.num_points}, {task}, lockstep",
        ["runtime", "steps", "p50 ms", "p99 ms", "max ms"],
        [row("in-process, before (DeploymentLoop: preprocess+policy+safety)", before),
         row("ROS graph (real rclpy, 4 node processes, image -> twist)", graph["latency_ms"]),
         row("in-process, after", after)],
    )  # fmt: skip
    print_table(
        f"CPU per node process over the timed {graph['window_s']:.1f} s",
        ["node", "CPU s", "CPU % of one core"],
        [[name, seconds, 100.0 * share] for name, (seconds, share) in graph["cpu"].items()],
    )
    return 0
