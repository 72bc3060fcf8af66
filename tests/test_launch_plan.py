"""One trial plan: every launch file, `mtdagger rehearse` and the runtime agree on what each node gets.

The launch files are run here against stand-in `launch`/`launch_ros` modules (tests/launch_stub.py,
since neither is on PyPI), so what is checked is what `ros2 launch` would start, not a copy:
(a) the rehearsal graph's node parameters equal, field by field, what rehearse.launch.py and the
real.launch.py it includes give, except for the named PyPI seams; (b) each launch file declares
exactly its rows of the argument table and reads all of them; (c) every parameter a plan gives a
node is one that node declares (read from the node sources with ast), required ones included;
(d) the numbers that must agree between stages agree: the point-cloud contract, frames and
camera topics, the control period, and the simulator/cell defaults.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from launch_stub import REPO, run_launch, stub_launch
from node_declarations import IMPLICIT, declared_by_node

from mtdagger.control.robot_config import load_robot_config
from mtdagger.deployment.launch_args import ARGUMENTS_BY_NAME, LAUNCH_FILES, REQUIRED, arguments_for
from mtdagger.deployment.plan import SIMULATORS, deployment_plan
from mtdagger.messages import topics

CAL = "configs/calibration/fr3_cell.yaml"
FR3_CAMERA = "configs/cameras/fr3_d435.yaml"
# The least each launch needs: its REQUIRED rows (test_required_arguments_are_the_tables keeps this honest).
MINIMAL = {
    "real": {"task": "drawer-open", "checkpoint": "/ckpt/fr3", "calibration_file": CAL},
    "sim": {"tasks": "reach-v3", "checkpoint": "/ckpt/mw"},
    "rehearse": {"checkpoint": "/ckpt/fr3"},
    "eval_recording": {"task": "drawer-open", "checkpoint": "/ckpt/fr3", "calibration_file": CAL},
    "sim_rollout": {"tasks": "reach-v3", "checkpoint": "/ckpt/mw"},
}
# Where the PyPI rehearsal may differ from the launch files, and only there (graph.py's docstring).
PYPI_SEAMS = {
    "ee_state": set(),  # as under the launch (no TF: forward kinematics of /joint_states)
    "pointcloud_preprocess": {"calibration_file"},  # no tf2_ros
    "policy": {"follow_episode_task"},  # several tasks in one graph
    "arm_controller": {"gripper_interface"},  # no control_msgs
    "fr3_cell": {"tasks", "gripper_interface", "publish_robot_description", "exit_when_done"},
    "rehearsal_recorder": {"use_sim_time"},  # stands in for `ros2 bag record --use-sim-time`
}  # fmt: skip
# Nodes of other packages a plan may start; their parameters are upstream's.
EXTERNAL = {("tf2_ros", "static_transform_publisher"), ("realsense2_camera", "realsense2_camera_node"),
            ("robot_state_publisher", "robot_state_publisher")}  # fmt: skip
PLAN_CASES = {
    "real": ("real", MINIMAL["real"]),
    "real-realsense": ("real", {**MINIMAL["real"], "camera_driver": "realsense2_camera", "record": "true"}),
    "real-no-camera": ("real", {**MINIMAL["real"], "camera_driver": "none", "use_sim_time": "true"}),
    "sim": ("sim", {**MINIMAL["sim"], "tasks": "reach-v3,push-v3", "record": "true"}),
    "rehearse": ("rehearse", MINIMAL["rehearse"]),
}
_ABSENT = "<absent>"


def _run(launch: str, arguments: dict[str, str]):
    with stub_launch():
        return run_launch(REPO / LAUNCH_FILES[launch], arguments)


def _diff(expected: dict, actual: dict, left: str, right: str) -> list[str]:
    """One line per field that differs, both values shown."""
    keys = sorted(set(expected) | set(actual))
    return [
        f"  {key}: {left} {expected.get(key, _ABSENT)!r} != {right} {actual.get(key, _ABSENT)!r}"
        for key in keys
        if expected.get(key, _ABSENT) != actual.get(key, _ABSENT)
    ]


# ------------------------------------------------------------------ (a) rehearsal == launch files


def _rehearsal_settings():
    from mtdagger.rehearsal.graph import RehearsalSettings

    return RehearsalSettings(
        checkpoint="/ckpt/fr3", bag="unused", tasks=("drawer-open", "drawer-close"), objects="unseen",
        episodes_per_task=3, seed=7, max_episode_steps=40, calibration_file=CAL, camera_config=FR3_CAMERA,
    )  # fmt: skip


def _rehearse_launch_run(settings):
    return _run("rehearse", {
        "checkpoint": settings.checkpoint, "task": settings.tasks[0], "objects": settings.objects,
        "episodes_per_task": str(settings.episodes_per_task), "seed": str(settings.seed),
        "max_episode_steps": str(settings.max_episode_steps), "calibration_file": settings.calibration_file,
        "sim_camera_config": settings.camera_config, "record": "false",
    })  # fmt: skip


def test_rehearsal_node_parameters_equal_the_launch_files_field_by_field():
    from mtdagger.rehearsal.graph import rehearsal_parameters

    settings = _rehearsal_settings()
    rehearsal = rehearsal_parameters(settings)
    run = _rehearse_launch_run(settings)
    assert [target for target, *_ in run.includes] == ["real.launch.py"]
    launch = {node.name: node.parameters for node in run.all_nodes()}
    assert set(rehearsal) == set(PYPI_SEAMS), "the rehearsal runs other nodes than its seams name"
    # What the launch starts that the rehearsal does not: played by the cell or replaced by a seam.
    assert set(launch) - set(rehearsal) == {"camera_calibration_tf", "robot_state_publisher"}
    # The same clock semantics in both paths (issue 21): every node of the graph on the cell's /clock.
    for node in ("fr3_cell", "ee_state", "pointcloud_preprocess", "policy", "arm_controller"):
        assert launch[node]["use_sim_time"] is True and rehearsal[node]["use_sim_time"] is True, node
    problems = []
    for node, params in sorted(rehearsal.items()):
        differing = _diff(launch.get(node, {}), params, "launch", "rehearsal")
        keys = {line.split(":")[0].strip() for line in differing}
        stray = [line for line in differing if line.split(":")[0].strip() not in PYPI_SEAMS[node]]
        if stray:
            problems.append(f"{node}, outside its seams:\n" + "\n".join(stray))
        if PYPI_SEAMS[node] - keys:
            problems.append(f"{node}: seams that no longer change anything {sorted(PYPI_SEAMS[node] - keys)}")
    assert not problems, "rehearsal vs launch, field by field:\n" + "\n".join(problems)


def test_the_seams_are_the_rehearsals_only_changes_and_use_the_launchs_calibration():
    from mtdagger.rehearsal.graph import launch_plans, pypi_seams

    settings = _rehearsal_settings()
    rehearse, _ = launch_plans(settings)
    seams = pypi_seams(settings, rehearse.includes[0].arguments["calibration_file"])
    assert {node: set(values) for node, values in seams.items()} == {n: k for n, k in PYPI_SEAMS.items() if k}
    run = _rehearse_launch_run(settings)
    tf = run.node("camera_calibration_tf").arguments
    assert Path(seams["pointcloud_preprocess"]["calibration_file"]).resolve() == (REPO / CAL).resolve()
    assert tf[tf.index("--child-frame-id") + 1] == topics.COLOR_OPTICAL_FRAME


def test_rehearse_launch_includes_real_launch_exactly_as_real_launch_runs_alone():
    run = _rehearse_launch_run(_rehearsal_settings())
    (_, passed, included) = run.includes[0]
    alone = _run("real", passed)
    assert [(n.name, n.executable) for n in included.nodes] == [(n.name, n.executable) for n in alone.nodes]
    for mine, theirs in zip(included.nodes, alone.nodes):
        assert not _diff(theirs.parameters, mine.parameters, "alone", "included"), mine.name


# ----------------------------------------------------------------- (b) launch files == the table


def test_every_launch_file_is_a_row_set_of_the_table():
    files = {p.relative_to(REPO).as_posix() for d in ("policy_node/launch", "launch")
             for p in (REPO / d).glob("*.launch.py")}  # fmt: skip
    assert files == set(LAUNCH_FILES.values())


def test_required_arguments_are_the_tables():
    for launch, given in MINIMAL.items():
        assert set(given) == {a.name for a in arguments_for(launch) if a.default(launch) is REQUIRED}, launch


@pytest.mark.parametrize("launch", sorted(LAUNCH_FILES))
def test_launch_file_declares_exactly_its_table_rows(launch):
    run = _run(launch, MINIMAL[launch])
    declared = [(d.name, d.default_value, d.description) for d in run.declared.values()]
    table = [(a.name, a.default(launch), a.description) for a in arguments_for(launch)]
    differing = [f"  declared {d!r}\n  table    {t!r}" for d, t in zip(declared, table) if d != t]
    names = f"declared {[d[0] for d in declared]} vs table {[t[0] for t in table]}"
    assert declared == table, "\n".join(differing) or names


@pytest.mark.parametrize("launch", sorted(LAUNCH_FILES))
def test_every_declared_argument_is_read_by_the_plan(launch):
    plan = deployment_plan(launch, MINIMAL[launch])
    assert plan.arguments.unread() == set(), f"{launch} declares arguments that change nothing"


@pytest.mark.parametrize("case", sorted(PLAN_CASES))
def test_launch_file_starts_exactly_the_plans_nodes(case):
    launch, arguments = PLAN_CASES[case]
    plan, run = deployment_plan(launch, arguments), _run(launch, arguments)
    assert [(n.package, n.executable, n.name, n.namespace) for n in run.nodes] == [
        (n.package, n.executable, n.name, n.namespace) for n in plan.nodes
    ]
    for started, planned in zip(run.nodes, plan.nodes):
        assert all(isinstance(e, dict) for e in started.parameter_entries), f"{started.name}: a params file"
        assert not _diff(dict(planned.parameters), started.parameters, "plan", "launch"), started.name
        log = ["--ros-args", "--log-level", planned.log_level] if planned.log_level else []
        assert started.arguments == [*planned.arguments, *log], started.name
    assert run.shutdown_on_exit == {n.name: n.ends_launch for n in plan.nodes if n.ends_launch}
    record = ["ros2", "bag", "record", "-s", "mcap", "-o"]
    assert [p[:6] for p in run.processes] == [record] * bool(plan.record)
    if plan.record:
        # receive times on /clock when the launch runs on it (issue 21: bags that replay)
        simulated = launch in ("sim", "rehearse") or arguments.get("use_sim_time") == "true"
        assert plan.record.use_sim_time is simulated
        sim_time = ["--use-sim-time"] if simulated else []
        assert run.processes[0][7:] == [*sim_time, *plan.record.topics]


@pytest.mark.parametrize("launch", ["rehearse", "eval_recording", "sim_rollout"])
def test_includes_pass_only_arguments_the_included_launch_declares(launch):
    run = _run(launch, MINIMAL[launch])
    assert run.includes, f"{launch} includes nothing"
    for target, passed, included in run.includes:
        undeclared = set(passed) - set(included.declared)
        assert not undeclared, f"{launch} -> {target}: {undeclared}"
    if launch != "rehearse":
        assert run.includes[0][1]["record"] == "true"  # the compositions exist to record


# ------------------------------------------------------------------ (c) plan parameters declared


def _check_declared(name: str, executable: str, params: dict) -> list[str]:
    declared = declared_by_node()[executable]
    stray = sorted(set(params) - set(declared) - IMPLICIT)
    missing = sorted(n for n, d in declared.items() if d.required and n not in params)
    problems = [f"{name}: not declared {stray}"] if stray else []
    return problems + ([f"{name}: required, not given {missing}"] if missing else [])


@pytest.mark.parametrize("case", sorted(PLAN_CASES))
def test_every_parameter_a_plan_gives_is_declared_by_its_node(case):
    plan = deployment_plan(*PLAN_CASES[case])
    problems = []
    for node in plan.nodes:
        if node.package != "policy_node":
            assert (node.package, node.executable) in EXTERNAL, node
            continue
        assert node.name == node.executable, "parameter sections bind by node name"
        problems += _check_declared(node.name, node.executable, dict(node.parameters))
    assert not problems, problems


def test_every_parameter_the_rehearsal_gives_is_declared_by_its_node():
    from mtdagger.rehearsal.graph import RECORDER, rehearsal_parameters

    problems = []
    for name, params in rehearsal_parameters(_rehearsal_settings()).items():
        if name == RECORDER:
            assert set(params) <= IMPLICIT
            continue
        problems += _check_declared(name, name, params)
    assert not problems, problems


# ----------------------------------------------------------------- (d) defaults that must agree


def _contract(params) -> dict:
    return {k: v for k, v in params.items() if k.startswith("contract")}


def test_one_point_cloud_contract_for_preprocessing_policy_and_training():
    real = deployment_plan("real", MINIMAL["real"])
    preprocess = _contract(real.node("pointcloud_preprocess").parameters)
    assert preprocess == _contract(real.node("policy").parameters)
    assert preprocess["contract_source"] == "parameters"
    preset = yaml.safe_load((REPO / "configs" / "fr3-drawer-pointcloud-cpu.yaml").read_text())["point_cloud"]
    numbers = {k: v for k, v in preprocess.items() if "." in k}
    assert {f"contract.{k}": v for k, v in preset.items()} == numbers
    # Simulation takes the checkpoint's contract, as the in-process runtime does.
    sim = deployment_plan("sim", MINIMAL["sim"])
    for node in ("pointcloud_preprocess", "policy"):
        assert _contract(sim.node(node).parameters) == {"contract_source": "checkpoint"}, node


def test_frames_and_camera_topics_agree_between_launch_cell_and_calibration():
    from calibration.extrinsics import load_extrinsics
    from sim_bridge.fr3.model import BASE_LINK

    real = deployment_plan("real", MINIMAL["real"])
    arguments = real.node("camera_calibration_tf").arguments
    tf = dict(zip(arguments[::2], arguments[1::2]))
    calibration = load_extrinsics(REPO / CAL)
    base = load_robot_config("franka_fr3").base_frame
    assert tf["--frame-id"] == base == calibration.base_frame == BASE_LINK
    assert tf["--child-frame-id"] == calibration.camera_frame == topics.COLOR_OPTICAL_FRAME
    preprocess = real.node("pointcloud_preprocess").parameters
    assert (preprocess["depth_topic"], preprocess["camera_info_topic"]) == (
        topics.ALIGNED_DEPTH_TOPIC, topics.ALIGNED_DEPTH_INFO_TOPIC,
    )  # fmt: skip
    camera = real.node("depth_camera").parameters
    names = (topics.CAMERA_NAMESPACE, topics.CAMERA_NAME)
    assert (camera["camera_namespace"], camera["camera_name"]) == names
    for simulator in ("fr3_cell", "sim_bridge"):  # they publish the camera under their own defaults
        declared = declared_by_node()[simulator]
        assert (declared["camera_namespace"].default, declared["camera_name"].default) == names, simulator


@pytest.mark.parametrize("case", ["real", "sim"])
def test_control_period_is_the_robot_configs_everywhere(case):
    plan = deployment_plan(*PLAN_CASES[case])
    robot = load_robot_config(plan.node("arm_controller").parameters["robot_config"])
    if case == "real":
        rate = plan.node("ee_state").parameters["rate_hz"]  # 0: one EE pose per joint state
        assert rate in (0.0, pytest.approx(1.0 / robot.safety.control_period_s)), rate
    # 0: the robot config's, the value checkpoints are trained and checked with.
    step = plan.node("arm_controller").parameters.get("trajectory_time_from_start_s", 0.0)
    assert step in (0.0, robot.controllers.trajectory_time_from_start_s), step


def test_simulator_defaults_agree_between_sim_launch_runtime_and_rehearsal():
    from mtdagger.deployment.plan import REHEARSAL_ROBOT
    from mtdagger.runtime.session import SIM_DEFAULTS
    from sim_bridge.fr3.config import DEFAULT_CALIBRATION, DEFAULT_CAMERA, FR3BackendConfig

    simulator = SIMULATORS[ARGUMENTS_BY_NAME["sim"].default("sim")]
    assert ARGUMENTS_BY_NAME["robot"].default("sim") == simulator.robot
    assert ARGUMENTS_BY_NAME["camera_config"].default("sim") == simulator.camera_config
    assert SIM_DEFAULTS == {name: (s.camera_config, s.robot_config) for name, s in SIMULATORS.items()}
    assert REHEARSAL_ROBOT == SIMULATORS["fr3"].robot
    cell = declared_by_node()["fr3_cell"]
    for row, value, declared in (
        ("calibration_file", DEFAULT_CALIBRATION, "calibration_file"),
        ("sim_camera_config", DEFAULT_CAMERA, "camera_config"),
        ("max_episode_steps", str(FR3BackendConfig.max_episode_steps), "max_episode_steps"),
    ):
        assert ARGUMENTS_BY_NAME[row].default("rehearse") == value == str(cell[declared].default), row
    assert SIMULATORS["fr3"].camera_config == DEFAULT_CAMERA
    # The policy records the id the in-process runtime records for the same camera.
    sim = deployment_plan("sim", MINIMAL["sim"])
    assert sim.node("policy").parameters["calibration_id"] == f"sim:{Path(simulator.camera_config).stem}"
