"""The KEY test: the ROS graph and the in-process runtime (`mtdagger deploy`) are the same system.

The sim bridge, preprocessing, policy and arm controller nodes run over real rclpy in lockstep on
fixed tasks and seeds; the in-process DeploymentLoop runs the same checkpoint on the same tasks and
seeds. Every step's policy action and applied command must agree, and so must every episode's
success.

Tolerance (ACTION_ATOL): the graph's camera pose travels as a quaternion (calibration YAML),
its EE position as float64 (the in-process loop hands the safety filter float32), and the
twist as velocity = displacement / period: each is a float rounding (< 1e-7 relative), never a
different computation. 1e-6 m on a displacement of up to 1e-2 m is far below that of any real
disagreement (a skipped or shifted step, another observation, a lost gripper command: >= 1e-4).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from graph_harness import Recorder, qos_edges, sim_parameters, spin_until, stamp_ns, write_params

TASKS = ("reach-v3", "drawer-close-v3", "button-press-topdown-v3")
STEPS = 25
SEED = 7
ACTION_ATOL = 1e-6


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from tiny_checkpoint import save_tiny_checkpoint

    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", tasks=TASKS, num_points=64)


def run_graph(tmp, checkpoint, tasks=TASKS, steps=STEPS, seed=SEED, episodes=1) -> dict:
    """The graph over real rclpy; every action, twist, gripper command and marker it published."""
    import rclpy
    from geometry_msgs.msg import TwistStamped
    from policy_node.arm_controller import ArmControllerNode
    from policy_node.pointcloud_preprocess import PointCloudPreprocessNode
    from policy_node.policy import PolicyNode
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image, JointState, PointCloud2
    from std_msgs.msg import String

    from sim_bridge.ros.bridge_node import SimBridgeNode

    params = sim_parameters(tmp, checkpoint, ",".join(tasks), episodes=episodes, steps=steps, seed=seed)
    rclpy.init(args=["--ros-args", "--params-file", str(write_params(tmp / "params.yaml", params))])
    bridge = None
    nodes = []
    try:
        bridge = SimBridgeNode(rclpy.create_node)
        nodes = [PointCloudPreprocessNode(), PolicyNode(), ArmControllerNode(), rclpy.create_node("probe")]
        recorder = Recorder()
        recorder.attach(nodes[-1], {
            "/mtdagger/action/command": JointState, "/servo_node/delta_twist_cmds": TwistStamped,
            "/mtdagger/gripper_command": JointState, "/mtdagger/episode": String,
            "/camera/camera/aligned_depth_to_color/image_raw": Image, "/mtdagger/point_cloud": PointCloud2,
            "/mtdagger/metadata": String,
        })  # fmt: skip
        executor = SingleThreadedExecutor()
        for node in [bridge.node, *nodes]:
            executor.add_node(node)
        limit_s = 180.0 + 0.5 * steps * len(tasks) * episodes
        finished = spin_until(executor, lambda: bridge.core.finished, timeout_s=limit_s)
        markers = recorder.messages["/mtdagger/episode"]
        ends = lambda: sum(json.loads(m.data)["event"] == "end" for _, m in markers)  # noqa: E731
        spin_until(executor, lambda: ends() == len(tasks) * episodes, timeout_s=5.0)
        graph_nodes = {"sim_bridge", "pointcloud_preprocess", "policy", "arm_controller"}
        return {
            "finished": finished, "exit_code": bridge.exit_code, "messages": recorder.messages,
            "qos": qos_edges(nodes[-1], graph_nodes),
        }  # fmt: skip
    finally:
        for node in nodes:
            node.destroy_node()
        if bridge is not None:
            bridge.close()
            bridge.node.destroy_node()
        rclpy.try_shutdown()


def run_in_process(checkpoint, tasks=TASKS, steps=STEPS, seed=SEED, episodes=1) -> dict:
    """`mtdagger deploy`'s runtime on the same tasks and seeds; every action and applied command."""
    from mtdagger.runtime.session import build_sim_deployment

    actions, applied = [], []
    successes = []
    with build_sim_deployment(checkpoint=str(checkpoint), tasks=",".join(tasks), seed=seed) as deployment:
        loop = deployment.loop
        act, step = loop.policy.act, loop.backend.step

        def recording_act(points, state):
            output = act(points, state)
            actions.append(np.asarray(output.value, dtype=np.float64))
            return output

        def recording_step(action):
            applied.append(np.asarray(action, dtype=np.float64))
            return step(action)

        loop.policy.act, loop.backend.step = recording_act, recording_step
        # The bridge's schedule: each task `episodes` times in a row, episode i with seed + i.
        for index, task in enumerate(t for t in tasks for _ in range(episodes)):
            outcome = loop.run_episode(task, seed + index, max_steps=steps, episode_index=index)
            successes.append(outcome.success)
    return {"actions": np.array(actions), "applied": np.array(applied), "successes": successes}


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory, checkpoint):
    return run_graph(tmp_path_factory.mktemp("graph"), checkpoint)


def compare(graph: dict, reference: dict) -> dict:
    """Step-by-step differences between the graph's and the in-process runtime's actions."""
    messages = graph["messages"]
    commands = [m for _, m in messages["/mtdagger/action/command"]]
    twists = {stamp_ns(m): m for _, m in messages["/servo_node/delta_twist_cmds"]}
    grippers = {stamp_ns(m): m.position[0] for _, m in messages["/mtdagger/gripper_command"]}
    period = 0.0125
    applied = np.array([
        [*(np.array([t.twist.linear.x, t.twist.linear.y, t.twist.linear.z]) * period),
         2.0 * grippers[stamp] - 1.0]  # metaworld_sawyer gripper: 0 m open .. 1 m closed
        for stamp, t in sorted(twists.items())
    ])  # fmt: skip
    ends = [json.loads(m.data) for _, m in messages["/mtdagger/episode"]]
    ends = [m for m in ends if m["event"] == "end"]
    assert len(commands) == len(reference["actions"]), (len(commands), len(reference["actions"]))
    assert applied.shape == reference["applied"].shape, (applied.shape, reference["applied"].shape)
    actions = np.array([m.position for m in commands])
    return {
        "steps": len(commands),
        "action_error": float(np.max(np.abs(actions - reference["actions"]))),
        "applied_error": float(np.max(np.abs(applied - reference["applied"]))),
        "graph_successes": [m["success"] for m in ends],
        "ends": ends,
    }


def test_graph_actions_and_successes_equal_the_in_process_runtime(graph_run, checkpoint):
    assert graph_run["finished"] and graph_run["exit_code"] == 0
    reference = run_in_process(checkpoint)
    result = compare(graph_run, reference)
    print(f"\nmax |action difference| over {result['steps']} steps: policy {result['action_error']:.3g}, "
          f"applied {result['applied_error']:.3g}; successes graph {result['graph_successes']} "
          f"in-process {reference['successes']}")  # fmt: skip
    assert result["steps"] == len(TASKS) * STEPS
    assert result["action_error"] <= ACTION_ATOL
    assert result["applied_error"] <= ACTION_ATOL
    assert [m["task"] for m in result["ends"]] == list(TASKS)
    assert [m["num_steps"] for m in result["ends"]] == [STEPS] * len(TASKS)
    assert result["graph_successes"] == reference["successes"]


def test_graph_wiring_lockstep_and_qos(graph_run):
    """What the graph carries (the retired stand-in's sim checks) and every edge's QoS."""
    messages = graph_run["messages"]
    images = [m for _, m in messages["/camera/camera/aligned_depth_to_color/image_raw"]]
    twists = [m for _, m in messages["/servo_node/delta_twist_cmds"]]
    # Lockstep: one command per observation, stamped with the observation it answers.
    assert sorted({stamp_ns(m) for m in twists}) == sorted({stamp_ns(m) for m in images})
    assert len(twists) == len(TASKS) * STEPS
    assert images[0].encoding == "32FC1"
    cloud = messages["/mtdagger/point_cloud"][0][1]
    assert (cloud.width * cloud.height, cloud.header.frame_id) == (64, "right_arm_base_link")
    metadata = json.loads(messages["/mtdagger/metadata"][0][1].data)
    assert metadata["robot"] == "metaworld_sawyer" and metadata["control_period_s"] == 0.0125
    starts = [json.loads(m.data) for _, m in messages["/mtdagger/episode"]]
    assert [(m["event"], m["task"]) for m in starts] == [(e, t) for t in TASKS for e in ("start", "end")]
    edges = graph_run["qos"]
    expected = {
        ("/mtdagger/point_cloud", "pointcloud_preprocess", "policy"),
        ("/mtdagger/action/command", "policy", "arm_controller"),
        ("/servo_node/delta_twist_cmds", "arm_controller", "sim_bridge"),
        ("/mtdagger/gripper_command", "arm_controller", "sim_bridge"),
        ("/camera/camera/aligned_depth_to_color/image_raw", "sim_bridge", "pointcloud_preprocess"),
        ("/mtdagger/ee_state", "sim_bridge", "policy"),
        ("/mtdagger/ee_state", "sim_bridge", "arm_controller"),
        ("/mtdagger/episode", "sim_bridge", "arm_controller"),
        ("/clock", "sim_bridge", "policy"),
    }
    assert expected <= {edge[:3] for edge in edges}, sorted(edges)
    bad = [edge for edge in edges if edge[3] != "ok"]
    assert not bad, bad
