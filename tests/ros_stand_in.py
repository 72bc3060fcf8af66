"""An in-process stand-in for rclpy, the message packages and tf2_ros: runs the real node code here.

ROS 2 cannot be installed on this machine, so without this the node modules would never execute
before they reach a robot. This is NOT rclpy: it provides just the API surface the nodes use, with
a FIFO "bus" delivering published messages to subscriptions of the same topic, timers and
services called by hand, and messages built by mtdagger's RclpyLikeFactory, which applies Humble
rclpy's field checks (a float where an int belongs fails here as it would there). It catches
plumbing faults (topic names, message fields, conversions, call order); QoS, discovery, threads
and timing are real-ROS matters, tested by policy_node/test/ on a ROS machine.

Used only by tests/test_ros_nodes_stand_in.py, which runs each scenario in a subprocess so the
fake modules (`rclpy`, `sensor_msgs`, ...) never leak into other tests.
"""

from __future__ import annotations

import enum
import sys
import time
import types
from collections import defaultdict, deque
from pathlib import Path

from mtdagger.messages.factory import RclpyLikeFactory

FACTORY = RclpyLikeFactory("humble")
OVERRIDES: dict[str, dict] = {}
UNSET = object()


class Bus:
    def __init__(self):
        self.subs = defaultdict(list)
        self.queue = deque()
        self.log = defaultdict(list)
        self.sim_time_ns = 0
        self.static_tf = {}
        self.action_servers = {}
        self.nodes = []

    def publish(self, topic, msg):
        self.log[topic].append(msg)
        if topic == "/clock":
            self.sim_time_ns = msg.clock.sec * 1_000_000_000 + msg.clock.nanosec
        for cb in self.subs[topic]:
            self.queue.append((cb, msg))

    def spin_until_idle(self, limit=100_000):
        delivered = 0
        while self.queue and delivered < limit:
            callback, msg = self.queue.popleft()
            callback(msg)
            delivered += 1
        return delivered


BUS = Bus()


def _module(name):
    module = types.ModuleType(name)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def _msg_class(type_name):
    class Msg:
        def __new__(cls, **fields):
            return FACTORY.new(type_name, **fields)

    Msg.__name__ = type_name.rsplit("/", 1)[-1]
    Msg._type = type_name
    return Msg


MSG_TYPES = {
    "std_msgs": ["String", "Float64", "Bool", "Header"],
    "sensor_msgs": ["Image", "CameraInfo", "PointCloud2", "PointField", "JointState"],
    "geometry_msgs": [
        "TwistStamped",
        "Twist",
        "PoseStamped",
        "Pose",
        "Point",
        "Quaternion",
        "Vector3",
        "TransformStamped",
        "Transform",
    ],
    "trajectory_msgs": ["JointTrajectory", "JointTrajectoryPoint"],
    "builtin_interfaces": ["Time", "Duration"],
    "rosgraph_msgs": ["Clock"],
    "control_msgs": ["GripperCommand"],
    "tf2_msgs": ["TFMessage"],
    "rcl_interfaces": ["SetParametersResult", "ParameterDescriptor"],
}


class Bag:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def install():
    for package, names in MSG_TYPES.items():
        _module(package)
        msg = _module(f"{package}.msg")
        for name in names:
            setattr(msg, name, _msg_class(f"{package}/msg/{name}"))
    # services / actions
    srv = _module("std_srvs")
    srv = _module("std_srvs.srv")

    class Trigger:
        class Request(Bag):
            pass

        class Response(Bag):
            success = False
            message = ""

    class SetBool:
        class Request(Bag):
            data = False

        class Response(Bag):
            success = False
            message = ""

    srv.Trigger, srv.SetBool = Trigger, SetBool
    action = _module("control_msgs.action")

    class GripperCommand:
        class Goal:
            def __init__(self):
                self.command = FACTORY.new("control_msgs/msg/GripperCommand")

        class Result:
            def __init__(self):
                self.position, self.effort, self.stalled, self.reached_goal = 0.0, 0.0, False, False

    action.GripperCommand = GripperCommand

    # ---------------------------------------------------------------- rclpy
    rclpy = _module("rclpy")
    state = {"ok": False}

    def init(args=None):
        state["ok"] = True

    def try_shutdown():
        state["ok"] = False

    rclpy.init, rclpy.try_shutdown, rclpy.shutdown = init, try_shutdown, try_shutdown
    rclpy.ok = lambda: state["ok"]

    qos = _module("rclpy.qos")
    for enum_name, members in {
        "DurabilityPolicy": ["TRANSIENT_LOCAL", "VOLATILE"],
        "HistoryPolicy": ["KEEP_LAST"],
        "ReliabilityPolicy": ["RELIABLE", "BEST_EFFORT"],
    }.items():
        setattr(qos, enum_name, enum.Enum(enum_name, members))
    qos.QoSProfile = lambda **kw: Bag(**kw)
    qos.qos_profile_sensor_data = Bag(depth=5)

    parameter = _module("rclpy.parameter")

    class Parameter:
        class Type(enum.Enum):
            STRING = 4
            INTEGER = 2
            DOUBLE = 3
            BOOL = 1

        def __init__(self, name, type_=None, value=None):
            self.name, self.type_, self.value = name, type_, value

    parameter.Parameter = Parameter

    class Logger:
        def __init__(self, name):
            self.name = name

        def _log(self, level, text, **kw):
            print(f"[{level}] [{self.name}] {text}")

        def info(self, text, **kw):
            self._log("INFO", text, **kw)

        def warn(self, text, **kw):
            self._log("WARN", text, **kw)

        warning = warn

        def error(self, text, **kw):
            self._log("ERROR", text, **kw)

        def fatal(self, text, **kw):
            self._log("FATAL", text, **kw)

        def debug(self, text, **kw):
            pass

    logging_mod = _module("rclpy.logging")
    logging_mod.get_logger = Logger

    class TimeObj:
        def __init__(self, ns):
            self.nanoseconds = ns

        def to_msg(self):
            return FACTORY.new(
                "builtin_interfaces/msg/Time", sec=self.nanoseconds // 10**9, nanosec=self.nanoseconds % 10**9
            )

    class NodeClock:
        def __init__(self, node):
            self.node = node

        def now(self):
            sim = self.node._params.get("use_sim_time", False)
            return TimeObj(BUS.sim_time_ns if sim else time.time_ns())

    class Publisher:
        def __init__(self, topic):
            self.topic = topic

        def publish(self, msg):
            BUS.publish(self.topic, msg)

        def get_subscription_count(self):
            return len(BUS.subs[self.topic])

    class Node:
        def __init__(self, name, **kw):
            self._name = name
            self._params = {}
            self._overrides = dict(OVERRIDES.get(name, {}))
            self._callbacks = []
            self.timers = []
            self.services = {}
            self._pub_topics = []
            self._params["use_sim_time"] = self._overrides.get("use_sim_time", False)
            BUS.nodes.append(self)

        def get_name(self):
            return self._name

        def declare_parameter(self, name, value=None, descriptor=None):
            if name in self._overrides:
                value = self._overrides[name]
            elif isinstance(value, Parameter.Type):
                value = UNSET
            self._params[name] = value
            return Parameter(name, None, value)

        def get_parameter(self, name):
            if name not in self._params:
                raise KeyError(f"parameter {name} not declared")
            if self._params[name] is UNSET:
                raise sys.modules["rclpy.exceptions"].ParameterUninitializedException(name)
            return Parameter(name, None, self._params[name])

        def set_parameters(self, params):
            for cb in self._callbacks:
                result = cb(params)
                if not result.successful:
                    return [result]
            for p in params:
                self._params[p.name] = p.value
            return [FACTORY.new("rcl_interfaces/msg/SetParametersResult", successful=True)]

        def add_on_set_parameters_callback(self, cb):
            self._callbacks.append(cb)

        def get_logger(self):
            return Logger(self._name)

        def get_clock(self):
            return NodeClock(self)

        def create_publisher(self, msg_type, topic, qos):
            self._pub_topics.append(topic)
            return Publisher(topic)

        def create_subscription(self, msg_type, topic, cb, qos):
            BUS.subs[topic].append(cb)
            return (topic, cb)

        def destroy_subscription(self, sub):
            BUS.subs[sub[0]].remove(sub[1])

        def create_service(self, srv_type, name, cb):
            self.services[name] = (srv_type, cb)

        def create_timer(self, period, cb, clock=None):
            self.timers.append((period, cb))
            return cb

        def count_publishers(self, topic):
            return sum(topic in n._pub_topics for n in BUS.nodes)

        def destroy_node(self):
            pass

    node_mod = _module("rclpy.node")
    node_mod.Node = Node
    rclpy.create_node = lambda name, **kw: Node(name)

    exceptions = _module("rclpy.exceptions")
    exceptions.ParameterUninitializedException = type("ParameterUninitializedException", (Exception,), {})
    executors = _module("rclpy.executors")
    executors.ExternalShutdownException = type("ExternalShutdownException", (Exception,), {})
    executors.SingleThreadedExecutor = object
    executors.MultiThreadedExecutor = object

    duration = _module("rclpy.duration")
    duration.Duration = lambda seconds=0.0, nanoseconds=0: Bag(seconds=seconds)
    time_mod = _module("rclpy.time")
    time_mod.Time = lambda *a, **k: Bag(latest=True)
    clock = _module("rclpy.clock")
    clock.ClockType = enum.Enum("ClockType", ["STEADY_TIME", "ROS_TIME", "SYSTEM_TIME"])
    clock.Clock = lambda clock_type=None: Bag(clock_type=clock_type)

    action_mod = _module("rclpy.action")

    class GoalHandle:
        def __init__(self, request):
            self.request = request
            self.succeeded = False

        def succeed(self):
            self.succeeded = True

    class ActionServer:
        def __init__(self, node, action_type, name, execute_callback):
            BUS.action_servers[name] = execute_callback

    class ActionClient:
        def __init__(self, node, action_type, name):
            self.name = name
            self.sent = []

        def server_is_ready(self):
            return self.name in BUS.action_servers

        def send_goal_async(self, goal):
            self.sent.append(goal)
            BUS.queue.append((lambda g: BUS.action_servers[self.name](GoalHandle(g)), goal))

    action_mod.ActionServer, action_mod.ActionClient = ActionServer, ActionClient

    # ---------------------------------------------------------------- tf2_ros
    tf2 = _module("tf2_ros")
    tf2.TransformException = type("TransformException", (Exception,), {})

    class Buffer:
        def lookup_transform(self, target, source, when, timeout=None):
            key = (target, source)
            if key not in BUS.static_tf:
                raise tf2.TransformException(f"no {target} <- {source}")
            return BUS.static_tf[key]

    class StaticTransformBroadcaster:
        def __init__(self, node):
            pass

        def sendTransform(self, msg):
            BUS.static_tf[(msg.header.frame_id, msg.child_frame_id)] = msg

    tf2.Buffer = Buffer
    tf2.TransformListener = lambda buffer, node: None
    tf2.StaticTransformBroadcaster = StaticTransformBroadcaster


# ====================================================================== scenarios
REPO = Path(__file__).resolve().parents[1]


def _setup_paths():
    for path in (REPO / "policy_node", REPO / "policy_node" / "test"):
        sys.path.insert(0, str(path))


def scenario_sim_graph(tmp: Path) -> dict:
    """sim_bridge (MetaWorld) + pointcloud_preprocess + policy + arm_controller, lockstep, 2 tasks."""
    from tiny_checkpoint import save_tiny_checkpoint

    checkpoint = save_tiny_checkpoint(tmp / "ckpt", tasks=("reach-v3", "drawer-open-v3"), num_points=64)
    common = {"robot_config": "metaworld_sawyer", "use_sim_time": True}
    OVERRIDES["pointcloud_preprocess"] = {
        **common,
        "checkpoint": str(checkpoint),
        "contract_source": "checkpoint",
    }
    OVERRIDES["policy"] = {
        **common, "checkpoint": str(checkpoint), "task": "reach-v3", "follow_episode_task": True,
        "calibration_id": "sim:test",
    }  # fmt: skip
    OVERRIDES["arm_controller"] = {**common, "command_interface": "twist", "gripper_change_threshold": 0.05}
    OVERRIDES["sim_bridge"] = {
        "robot_config": "metaworld_sawyer", "tasks": "reach-v3,drawer-open-v3", "episodes_per_task": 1,
        "max_episode_steps": 5, "camera_config": "configs/cameras/metaworld_d435.yaml", "settle_s": 0.0,
    }  # fmt: skip
    import rclpy
    from policy_node.arm_controller import ArmControllerNode
    from policy_node.pointcloud_preprocess import PointCloudPreprocessNode
    from policy_node.policy import PolicyNode

    from sim_bridge.ros_bridge_node import SimBridgeNode

    bridge = SimBridgeNode(rclpy.create_node)  # first, like a launch where it wins the race
    tick = bridge.node.timers[0][1]
    tick()  # nobody listens yet: the bridge must wait, not publish into the void
    started_early = bool(BUS.log.get("/mtdagger/episode"))
    nodes = [PointCloudPreprocessNode(), PolicyNode(), ArmControllerNode()]
    ticks = 0
    try:
        while not bridge.core.finished and ticks < 500:
            tick()
            BUS.spin_until_idle()
            ticks += 1
    finally:
        bridge.close()
    import json

    twist = BUS.log["/servo_node/delta_twist_cmds"]
    images = BUS.log["/camera/camera/aligned_depth_to_color/image_raw"]
    return {
        "started_early": started_early,
        "finished": bridge.core.finished,
        "exit_code": bridge.exit_code,
        "counts": {topic: len(msgs) for topic, msgs in BUS.log.items()},
        "markers": [json.loads(m.data) for m in BUS.log["/mtdagger/episode"]],
        "policy_task": nodes[1]._stage.task,
        "safety": sorted({json.loads(m.data)["status"] for m in BUS.log["/mtdagger/safety"]}),
        "twist_stamps": [t.header.stamp.sec * 10**9 + t.header.stamp.nanosec for t in twist],
        "image_stamps": [i.header.stamp.sec * 10**9 + i.header.stamp.nanosec for i in images],
        "image_encoding": images[0].encoding,
        "cloud": [
            BUS.log["/mtdagger/point_cloud"][0].width,
            BUS.log["/mtdagger/point_cloud"][0].header.frame_id,
        ],
        "static_tf": sorted(f"{parent}->{child}" for parent, child in BUS.static_tf),
        "metadata": json.loads(BUS.log["/mtdagger/metadata"][0].data),
    }


def _three_dof_urdf() -> str:
    def joint(name, parent, child, xyz, axis, kind="revolute"):
        extra = f'<axis xyz="{axis}"/><limit lower="-2.8" upper="2.8" effort="1" velocity="1"/>'
        return (
            f'<joint name="{name}" type="{kind}"><parent link="{parent}"/><child link="{child}"/>'
            f'<origin xyz="{xyz}"/>{extra if kind != "fixed" else ""}</joint>'
        )

    links = "".join(f'<link name="{n}"/>' for n in ("base", "a", "b", "c", "tip"))
    joints = (
        joint("yaw", "base", "a", "0 0 0.2", "0 0 1")
        + joint("shoulder", "a", "b", "0 0 0", "0 1 0")
        + joint("elbow", "b", "c", "0 0 0.4", "0 1 0")
        + joint("tip_joint", "c", "tip", "0 0 0.3", "", kind="fixed")
    )
    return f"<robot name='arm'>{links}{joints}</robot>"


def scenario_real_graph(tmp: Path) -> dict:
    """depth_camera (synthetic librealsense recording) + ee_state + preprocess + policy (explicit
    contract) + arm_controller (joint_trajectory, then cartesian_pose) + the services."""
    import json

    import numpy as np
    import yaml
    from tiny_checkpoint import save_tiny_checkpoint

    from mtdagger.control.kinematics import ArmKinematics
    from mtdagger.messages.convert import (
        float64_msg,
        joint_state_msg,
        transform_stamped_msg,
        twist_stamped_msg,
    )
    from mtdagger.runtime.realsense_recording import SyntheticStream, write_synthetic_depth_recording

    robot = yaml.safe_load((REPO / "configs" / "robots" / "franka_fr3.yaml").read_text())
    robot.update(name="test_arm", base_frame="base", ee_frame="tip", joint_names=["yaw", "shoulder", "elbow"])
    robot["safety"].update(workspace_min=[-1, -1, -0.2], workspace_max=[1, 1, 1.5], control_period_s=0.0125)
    (tmp / "test_arm.yaml").write_text(yaml.safe_dump(robot))
    checkpoint = save_tiny_checkpoint(tmp / "ckpt", tasks=("reach-v3",), num_points=64)
    contract = {
        "contract_source": "parameters", "contract.num_points": 64,
        "contract.workspace_min": [-0.6, 0.25, 0.015], "contract.workspace_max": [0.6, 0.97, 0.6],
        "contract.min_depth_m": 0.1, "contract.max_depth_m": 2.5, "contract.voxel_size_m": 0.01,
    }  # fmt: skip
    # A flat wall 1 m in front of a camera 0.3 m up, looking along +y of the base: in the workspace.
    stream = SyntheticStream(64, 48, 50.0, 50.0, 31.5, 23.5)
    recording = write_synthetic_depth_recording(
        tmp / "wall.db3", [np.full((48, 64), 1000, np.uint16)] * 4, stream, fps=30
    )
    T_base_camera = np.eye(4)
    T_base_camera[:3, :3] = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]
    T_base_camera[:3, 3] = [0.0, -0.3, 0.3]
    BUS.static_tf[("base", "camera_depth_optical_frame")] = transform_stamped_msg(
        FACTORY, T_base_camera, "base", "camera_depth_optical_frame", 0
    )
    urdf = _three_dof_urdf()
    common = {"robot_config": str(tmp / "test_arm.yaml")}
    OVERRIDES["depth_camera"] = {"recording_file": str(recording), "decimation": 0, "align_to_color": False}
    OVERRIDES["pointcloud_preprocess"] = {**common, "checkpoint": str(checkpoint), **contract}
    OVERRIDES["policy"] = {
        **common, "checkpoint": str(checkpoint), "task": "reach-v3", "gripper_joint": "finger",
        "gripper_opening_scale": 25.0, **contract,
    }  # fmt: skip
    OVERRIDES["arm_controller"] = {
        **common,
        "command_interface": "joint_trajectory",
        "robot_description": urdf,
    }
    OVERRIDES["ee_state"] = dict(common)

    from policy_node.arm_controller import ArmControllerNode
    from policy_node.depth_camera import DepthCameraNode
    from policy_node.ee_state import EeStateNode
    from policy_node.pointcloud_preprocess import PointCloudPreprocessNode
    from policy_node.policy import PolicyNode

    kinematics = ArmKinematics(urdf, "base", "tip")
    joints = np.array([0.0, 0.6, 1.0])
    preprocess, policy, arm, ee = PointCloudPreprocessNode(), PolicyNode(), ArmControllerNode(), EeStateNode()

    def robot_state():
        """What the robot's drivers would publish: joint states and TF base -> tip, stamped now."""
        now = time.time_ns()
        BUS.publish("/joint_states", joint_state_msg(FACTORY, ["yaw", "shoulder", "elbow", "finger"],
                                                     [*joints, 0.02], now))  # fmt: skip
        BUS.static_tf[("base", "tip")] = transform_stamped_msg(
            FACTORY, kinematics.forward(joints), "base", "tip", now
        )
        ee.timers[0][1]()
        BUS.spin_until_idle()

    srv = sys.modules["std_srvs.srv"]
    result: dict = {}
    robot_state()
    result["start"] = policy.services["~/start_episode"][1](
        srv.Trigger.Request(), srv.Trigger.Response()
    ).message
    camera = DepthCameraNode()
    deadline = time.monotonic() + 10.0
    while not BUS.log.get("/camera/camera/aligned_depth_to_color/image_raw") or camera._thread.is_alive():
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    camera.close()
    result["camera_exit_code"] = camera.exit_code
    robot_state()  # fresh proprioception for the queued frames
    BUS.spin_until_idle()
    clouds = BUS.log["/mtdagger/point_cloud"]
    result["clouds"] = len(clouds)
    result["cloud_frame"] = clouds[0].header.frame_id if clouds else None
    result["actions"] = len(BUS.log["/mtdagger/action"])
    # A known action straight to the arm controller: joint_trajectory through IK.
    robot_state()
    BUS.publish("/mtdagger/action/gripper", float64_msg(FACTORY, 1.0))
    BUS.publish(
        "/mtdagger/action", twist_stamped_msg(FACTORY, [0.4, 0.0, 0.0], [0, 0, 0], time.time_ns(), "base")
    )
    BUS.spin_until_idle()
    trajectory = BUS.log["/fr3_arm_controller/joint_trajectory"][-1]
    point = trajectory.points[0]
    result["trajectory"] = {
        "joint_names": list(trajectory.joint_names),
        "reached": kinematics.forward(np.array(point.positions))[:3, 3].tolist(),
        "start": kinematics.forward(joints)[:3, 3].tolist(),
        "velocities": list(point.velocities),
        "time_from_start_ns": point.time_from_start.sec * 10**9 + point.time_from_start.nanosec,
        "verdict": json.loads(BUS.log["/mtdagger/safety"][-1].data),
    }
    result["end"] = policy.services["~/end_episode"][1](
        srv.SetBool.Request(data=True), srv.SetBool.Response()
    ).message
    result["markers"] = [json.loads(m.data) for m in BUS.log["/mtdagger/episode"]]
    parameter = sys.modules["rclpy.parameter"].Parameter
    result["task_change"] = policy.set_parameters([parameter("task", None, "push-v3")])[0].reason
    time.sleep(0.15)  # > max_action_age_s 0.1 of the test arm: the next timer tick holds
    arm.timers[0][1]()
    BUS.spin_until_idle()
    result["after_tick"] = json.loads(BUS.log["/mtdagger/safety"][-1].data)
    result["stop"] = arm.services["~/stop"][1](srv.Trigger.Request(), srv.Trigger.Response()).message
    result["after_stop"] = json.loads(BUS.log["/mtdagger/safety"][-1].data)
    result["reset"] = arm.services["~/reset"][1](srv.Trigger.Request(), srv.Trigger.Response()).message
    # cartesian_pose: the orientation held is the measured one at the episode start, not identity.
    OVERRIDES["arm_controller"] = {**common, "command_interface": "cartesian_pose"}
    ArmControllerNode()
    robot_state()
    BUS.publish(
        "/mtdagger/action", twist_stamped_msg(FACTORY, [0.0, 0.4, 0.0], [0, 0, 0], time.time_ns(), "base")
    )
    BUS.spin_until_idle()
    pose = BUS.log["/cartesian_impedance_example_controller/equilibrium_pose"][-1]
    q = pose.pose.orientation
    result["pose"] = {"frame": pose.header.frame_id, "orientation": [q.x, q.y, q.z, q.w]}
    rotation = transform_stamped_msg(FACTORY, kinematics.forward(joints), "base", "tip", 0).transform.rotation
    result["expected_orientation"] = [rotation.x, rotation.y, rotation.z, rotation.w]
    del preprocess
    return result


def scenario_startup_failures(tmp: Path) -> dict:
    """Each node refuses to start, with a message, on the bad input it can meet."""
    from policy_node.arm_controller import ArmControllerNode
    from policy_node.depth_camera import DepthCameraNode
    from policy_node.pointcloud_preprocess import PointCloudPreprocessNode
    from policy_node.policy import PolicyNode
    from policy_node.ros_support import StartupError
    from tiny_checkpoint import save_tiny_checkpoint

    checkpoint = str(save_tiny_checkpoint(tmp / "ckpt", num_points=64))
    sim = {"robot_config": "metaworld_sawyer"}
    policy, camera = ("policy", PolicyNode), ("depth_camera", DepthCameraNode)
    arm, preprocess = (
        ("arm_controller", ArmControllerNode),
        ("pointcloud_preprocess", PointCloudPreprocessNode),
    )
    good = {**sim, "checkpoint": checkpoint, "task": "reach-v3"}
    cases = {
        "policy_missing": (*policy, sim),
        "policy_no_checkpoint": (*policy, {**good, "checkpoint": str(tmp / "none")}),
        "policy_period": (*policy, {**good, "robot_config": "franka_fr3"}),
        "policy_contract": (*policy, {**good, "contract_source": "parameters", "contract.num_points": 128}),
        "policy_task": (*policy, {**good, "task": "push-v3"}),
        "camera_serial": (*camera, {"serial_no": "123456789012"}),
        "camera_file": (*camera, {"recording_file": str(tmp / "missing.db3")}),
        "camera_decimation": (*camera, {"decimation": 11}),
        "preprocess_robot": (*preprocess, {"robot_config": "no_such_robot"}),
        "arm_interface": (*arm, {**sim, "command_interface": "joint_trajectory"}),
        "arm_unknown": (*arm, {**sim, "command_interface": "velocity"}),
    }
    messages = {}
    for label, (name, node_class, overrides) in cases.items():
        OVERRIDES[name] = overrides
        try:
            node_class()
            messages[label] = None
        except StartupError as error:
            messages[label] = str(error)
    return messages


SCENARIOS = {
    "sim_graph": scenario_sim_graph,
    "real_graph": scenario_real_graph,
    "startup_failures": scenario_startup_failures,
}


if __name__ == "__main__":
    import json
    import tempfile

    install()
    _setup_paths()
    with tempfile.TemporaryDirectory() as folder:
        summary = SCENARIOS[sys.argv[1]](Path(folder))
    print("RESULT " + json.dumps(summary, default=str))
