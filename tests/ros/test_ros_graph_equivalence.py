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


def run_graph(tmp, checkpoint) -> dict:
    import rclpy
    from geometry_msgs.msg import TwistStamped
    from policy_node.arm_controller import ArmControllerNode
    from policy_node.pointcloud_preprocess import PointCloudPreprocessNode
    from policy_node.policy import PolicyNode
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image, JointState, PointCloud2
    from std_msgs.msg import String

    from sim_bridge.ros_bridge_node import SimBridgeNode

    params = sim_parameters(tmp, checkpoint, ",".join(TASKS), episodes=1, steps=STEPS, seed=SEED)
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
        finished = spin_until(executor, lambda: bridge.core.finished, timeout_s=180.0)
        markers = recorder.messages["/mtdagger/episode"]
        ends = lambda: sum(json.loads(m.data)["event"] == "end" for _, m in markers)  # noqa: E731
        spin_until(executor, lambda: ends() == len(TASKS), timeout_s=5.0)
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


def run_in_process(checkpoint) -> dict:
    from mtdagger.runtime.session import build_sim_deployment

    actions, applied = [], []
    successes = []
    with build_sim_deployment(checkpoint=str(checkpoint), tasks=",".join(TASKS), seed=SEED) as deployment:
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
        for index, task in enumerate(TASKS):
            outcome = loop.run_episode(task, SEED + index, max_steps=STEPS, episode_index=index)
            successes.append(outcome.success)
    return {"actions": np.array(actions), "applied": np.array(applied), "successes": successes}


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory, checkpoint):
    return run_graph(tmp_path_factory.mktemp("graph"), checkpoint)


def test_graph_actions_and_successes_equal_the_in_process_runtime(graph_run, checkpoint):
    graph = graph_run
    assert graph["finished"] and graph["exit_code"] == 0
    messages = graph["messages"]
    commands = [m for _, m in messages["/mtdagger/action/command"]]
    twists = {stamp_ns(m): m for _, m in messages["/servo_node/delta_twist_cmds"]}
    grippers = {stamp_ns(m): m.position[0] for _, m in messages["/mtdagger/gripper_command"]}
    graph_actions = np.array([list(m.position) for m in commands])
    period = 0.0125
    graph_applied = np.array([
        [*(np.array([t.twist.linear.x, t.twist.linear.y, t.twist.linear.z]) * period),
         2.0 * grippers[stamp] - 1.0]  # metaworld_sawyer gripper: 0 m open .. 1 m closed
        for stamp, t in sorted(twists.items())
    ])  # fmt: skip
    markers = [json.loads(m.data) for _, m in messages["/mtdagger/episode"]]
    ends = [m for m in markers if m["event"] == "end"]

    reference = run_in_process(checkpoint)
    assert len(commands) == len(TASKS) * STEPS == len(reference["actions"])
    assert graph_applied.shape == reference["applied"].shape
    action_error = float(np.max(np.abs(graph_actions - reference["actions"])))
    applied_error = float(np.max(np.abs(graph_applied - reference["applied"])))
    print(f"\nmax |action difference| over {len(commands)} steps: policy {action_error:.3g}, "
          f"applied {applied_error:.3g}; successes graph {[m['success'] for m in ends]} "
          f"in-process {reference['successes']}")  # fmt: skip
    assert action_error <= ACTION_ATOL
    assert applied_error <= ACTION_ATOL
    assert [m["task"] for m in ends] == list(TASKS)
    assert [m["num_steps"] for m in ends] == [STEPS] * len(TASKS)
    assert [m["success"] for m in ends] == reference["successes"]


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
