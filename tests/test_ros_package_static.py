"""Static checks of the ROS 2 package `policy_node` and the launch compositions, without ROS.

rclpy and launch_ros cannot be installed here (DESIGN.md §8), so nothing in the package can be
imported or launched. What can silently break a colcon build or a `ros2 launch` is checked by
reading the files instead: package.xml, setup.py/setup.cfg, entry points, launch arguments, and
the parameter YAMLs against the `declare_parameter` calls in the node sources (via `ast`).
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import runpy
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import setuptools
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO / "policy_node"
NODE_DIR = PACKAGE_DIR / "policy_node"
SIM_BRIDGE_NODE = REPO / "sim_bridge" / "ros_bridge_node.py"
PACKAGE_LAUNCH = sorted((PACKAGE_DIR / "launch").glob("*.launch.py"))
SYSTEM_LAUNCH = sorted((REPO / "launch").glob("*.launch.py"))
CONFIG_YAMLS = sorted((PACKAGE_DIR / "config").glob("*.yaml"))
OUR_PACKAGES = {"policy_node", "mtdagger", "sim_bridge", "calibration"}
# ROS packages that may be pip-installable elsewhere but are ROS dependencies here.
KNOWN_ROS_PACKAGES = {
    "rclpy", "launch", "launch_ros", "launch_testing", "launch_testing_ros", "builtin_interfaces",
    "std_msgs", "std_srvs", "sensor_msgs", "geometry_msgs", "trajectory_msgs", "control_msgs",
    "rosgraph_msgs", "tf2_ros", "tf2_msgs", "message_filters", "rcl_interfaces", "action_msgs",
    "ament_index_python",
}  # fmt: skip


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _top_level_imports(tree: ast.AST) -> set[str]:
    """Every absolutely imported top-level module, including imports inside functions."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _call_name(n) == name]


def _first_str_arg(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _package_xml() -> ET.Element:
    return ET.parse(PACKAGE_DIR / "package.xml").getroot()


def _exec_depends() -> set[str]:
    root = _package_xml()
    return {e.text.strip() for tag in ("exec_depend", "depend") for e in root.findall(tag) if e.text}


@pytest.fixture(scope="module")
def launch_support():
    """policy_node/launch_support.py loaded from its file (it imports no ROS)."""
    spec = importlib.util.spec_from_file_location(
        "policy_node_launch_support", NODE_DIR / "launch_support.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def setup_kwargs() -> dict:
    """Run setup.py with setuptools.setup replaced, from its own directory (as colcon does)."""
    captured: dict = {}
    original, cwd = setuptools.setup, os.getcwd()
    setuptools.setup = lambda **kwargs: captured.update(kwargs)
    try:
        os.chdir(PACKAGE_DIR)
        runpy.run_path(str(PACKAGE_DIR / "setup.py"), run_name="__main__")
    finally:
        setuptools.setup = original
        os.chdir(cwd)
    return captured


@pytest.fixture(scope="module")
def entry_points(setup_kwargs) -> dict[str, tuple[str, str]]:
    """console_scripts name -> (module, function)."""
    scripts = {}
    for spec in setup_kwargs["entry_points"]["console_scripts"]:
        name, target = (part.strip() for part in spec.split("="))
        module, function = target.split(":")
        scripts[name] = (module, function)
    return scripts


def _module_file(module: str) -> Path:
    return PACKAGE_DIR.joinpath(*module.split(".")).with_suffix(".py")


def _node_sources() -> list[Path]:
    return [*sorted(NODE_DIR.glob("*.py")), SIM_BRIDGE_NODE]


def _declarations(tree: ast.AST, where: str) -> dict[str, bool]:
    """Parameter name -> required, from the `declare_parameter('name', default)` calls in `tree`.

    A parameter is required when declared with a type instead of a value
    (`declare_parameter('checkpoint', Parameter.Type.STRING)`): rclpy leaves it uninitialised.
    """
    declared: dict[str, bool] = {}
    for call in _calls(tree, "declare_parameter"):
        name = _first_str_arg(call)
        assert name is not None, f"{where}:{call.lineno}: declare_parameter needs a literal name"
        default = call.args[1] if len(call.args) > 1 else _keyword(call, "value")
        required = (
            isinstance(default, ast.Attribute)
            and isinstance(default.value, ast.Attribute)
            and (default.value.attr == "Type")
        )
        declared[name] = required
    return declared


def _helper_declarations() -> dict[str, dict[str, bool]]:
    """Shared helpers of ros_support.py that declare parameters for the node passed to them."""
    path = NODE_DIR / "ros_support.py"
    helpers = {}
    for function in _parse(path).body:
        if isinstance(function, ast.FunctionDef):
            declared = _declarations(function, path.name)
            if declared:
                helpers[function.name] = declared
    return helpers


def _declared_parameters(path: Path) -> dict[str, bool]:
    """The parameters a node module declares, itself or through a ros_support helper it calls."""
    tree = _parse(path)
    declared = _declarations(tree, path.name)
    helpers = _helper_declarations()
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and _call_name(call) in helpers:
            declared.update(helpers[_call_name(call)])
    return declared


def _launch_nodes(path: Path) -> list[ast.Call]:
    return [c for c in _calls(_parse(path), "Node") if _keyword(c, "executable") is not None]


def _literal(node: ast.expr | None):
    return node.value if isinstance(node, ast.Constant) else None


# ----------------------------------------------------------------------------------- package.xml


def test_package_xml_is_format_3_ament_python():
    root = _package_xml()
    assert root.tag == "package" and root.attrib.get("format") == "3"
    assert root.findtext("name") == "policy_node"
    assert root.find("export/build_type").text == "ament_python"
    for tag in ("version", "description", "maintainer", "license"):
        assert (root.findtext(tag) or "").strip(), f"package.xml lacks <{tag}>"


def test_resource_marker_exists():
    assert (PACKAGE_DIR / "resource" / "policy_node").is_file()


def _classify_imports(paths: list[Path]) -> dict[str, set[str]]:
    imported: dict[str, set[str]] = {}
    for path in paths:
        for name in _top_level_imports(_parse(path)):
            imported.setdefault(name, set()).add(path.name)
    return imported


def _is_ros_package(name: str) -> bool:
    if name in KNOWN_ROS_PACKAGES:
        return True
    if name in OUR_PACKAGES or name in sys.stdlib_module_names or name == "__future__":
        return False
    # Not stdlib, not ours, not pip-installed here: only a ROS package can be that.
    return importlib.util.find_spec(name) is None


def test_package_xml_declares_every_ros_package_the_nodes_and_launch_files_import():
    sources = _node_sources() + PACKAGE_LAUNCH + SYSTEM_LAUNCH
    imported = _classify_imports(sources)
    ros = {name: files for name, files in imported.items() if _is_ros_package(name)}
    assert {"rclpy", "launch", "launch_ros"} <= set(ros), "the nodes/launch files should import ROS"
    missing = {name: sorted(files) for name, files in ros.items() if name not in _exec_depends()}
    assert not missing, f"package.xml lacks <exec_depend> for (package: importing files): {missing}"


# Core modules that talk ROS (the sim bridge node, `mtdagger bench ros`): rclpy only inside functions.
LAZY_ROS_MODULES = (
    SIM_BRIDGE_NODE, REPO / "mtdagger" / "bench" / "ros.py", REPO / "sim_bridge" / "fr3_cell_node.py",
    REPO / "mtdagger" / "rehearsal" / "graph.py", REPO / "mtdagger" / "rehearsal" / "bag_recorder.py",
    REPO / "sim_bridge" / "lockstep_loop.py",
)  # fmt: skip


def test_rclpy_is_imported_only_by_node_files():
    """Rule of the house: the core stays importable without ROS."""
    offenders = []
    for folder in ("mtdagger", "sim_bridge", "calibration"):
        for path in (REPO / folder).rglob("*.py"):
            if path in LAZY_ROS_MODULES:
                continue
            ros = {n for n in _top_level_imports(_parse(path)) if n in KNOWN_ROS_PACKAGES}
            if ros:
                offenders.append(f"{path.relative_to(REPO)}: {sorted(ros)}")
    assert not offenders, offenders


@pytest.mark.parametrize("path", LAZY_ROS_MODULES, ids=lambda p: p.name)
def test_core_ros_modules_import_rclpy_lazily_so_they_load_without_ros(path):
    tree = _parse(path)
    module_level = {
        alias.name.split(".")[0]
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert not module_level & KNOWN_ROS_PACKAGES, module_level & KNOWN_ROS_PACKAGES


# ------------------------------------------------------------------------------ setup.py / .cfg


def test_setup_cfg_installs_scripts_where_ros2_run_looks():
    cfg = configparser.ConfigParser()
    cfg.read(PACKAGE_DIR / "setup.cfg")
    assert cfg["install"]["install_scripts"] == "$base/lib/policy_node"
    assert cfg["develop"]["script_dir"] == "$base/lib/policy_node"


def test_setup_py_installs_marker_manifest_launch_and_config(setup_kwargs):
    assert setup_kwargs["name"] == "policy_node"
    assert "policy_node" in setup_kwargs["packages"]
    installed = {dest: set(files) for dest, files in setup_kwargs["data_files"]}
    assert installed["share/ament_index/resource_index/packages"] == {"resource/policy_node"}
    assert installed["share/policy_node"] == {"package.xml"}
    on_disk = {
        "launch": {f"launch/{p.name}" for p in PACKAGE_LAUNCH},
        "config": {f"config/{p.name}" for p in CONFIG_YAMLS},
    }
    assert on_disk["launch"] and on_disk["config"], "the package should ship launch and config files"
    for kind, files in on_disk.items():
        assert installed[f"share/policy_node/{kind}"] == files, f"{kind} files not all installed"


def test_every_console_script_resolves_to_a_function_in_a_module_file(entry_points):
    assert {"depth_camera", "pointcloud_preprocess", "policy", "arm_controller", "sim_bridge"} <= set(
        entry_points
    )
    for name, (module, function) in entry_points.items():
        path = _module_file(module)
        assert path.is_file(), f"console script {name!r}: {path} does not exist"
        functions = {n.name for n in _parse(path).body if isinstance(n, ast.FunctionDef)}
        assert function in functions, f"console script {name!r}: {module} defines no {function}()"


def test_sim_bridge_shim_calls_the_bridge_main():
    bridge_functions = {n.name for n in _parse(SIM_BRIDGE_NODE).body if isinstance(n, ast.FunctionDef)}
    assert "main" in bridge_functions
    shim = (NODE_DIR / "sim_bridge_entry.py").read_text(encoding="utf-8")
    assert "sim_bridge.ros_bridge_node" in shim


# ---------------------------------------------------------------------------------- launch files


@pytest.mark.parametrize("path", PACKAGE_LAUNCH + SYSTEM_LAUNCH, ids=lambda p: p.name)
def test_launch_file_compiles_and_declares_every_argument_it_reads(path):
    tree = _parse(path)
    compile(tree, str(path), "exec")
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    declared = [_first_str_arg(c) for c in _calls(tree, "DeclareLaunchArgument")]
    assert None not in declared, f"{path.name}: DeclareLaunchArgument needs a literal name"
    assert len(declared) == len(set(declared)), f"{path.name}: argument declared twice"
    used = _launch_arguments_read(tree, path.name)
    undeclared = used - set(declared)
    assert not undeclared, f"{path.name} reads undeclared launch arguments {sorted(undeclared)}"
    unused = set(declared) - used
    assert not unused, f"{path.name} declares arguments it never reads {sorted(unused)}"


def _launch_arguments_read(tree: ast.AST, where: str) -> set[str]:
    """Names read with LaunchConfiguration('name'), directly or through a local reader helper such
    as `def arg(name): return LaunchConfiguration(name).perform(context)` called as arg('task')."""
    readers: set[str] = {"LaunchConfiguration"}
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.args.args]
    changed = True
    while changed:  # helpers may call helpers (integer(name) -> arg(name) -> LaunchConfiguration)
        changed = False
        for function in functions:
            parameter = function.args.args[0].arg
            forwards = any(
                isinstance(c, ast.Call) and _call_name(c) in readers and c.args
                and isinstance(c.args[0], ast.Name) and c.args[0].id == parameter
                for c in ast.walk(function)
            )  # fmt: skip
            if forwards and function.name not in readers:
                readers.add(function.name)
                changed = True
    used: set[str] = set()
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and _call_name(call) in readers and call.args:
            name = _first_str_arg(call)
            forwarded = isinstance(call.args[0], ast.Name)
            assert name is not None or forwarded, (
                f"{where}:{call.lineno}: launch arguments need literal names"
            )
            if name is not None:
                used.add(name)
    return used


def test_launch_files_use_only_installed_executables(entry_points):
    for path in PACKAGE_LAUNCH + SYSTEM_LAUNCH:
        for call in _launch_nodes(path):
            if _literal(_keyword(call, "package")) == "policy_node":
                executable = _literal(_keyword(call, "executable"))
                assert executable in entry_points, f"{path.name}: no console script {executable!r}"


def _declared_arguments(path: Path) -> set[str]:
    return {_first_str_arg(c) for c in _calls(_parse(path), "DeclareLaunchArgument")}


def _included_files_and_arguments(path: Path) -> list[tuple[str, set[str]]]:
    """(included launch file name, argument names passed) for each IncludeLaunchDescription."""
    found = []
    for call in _calls(_parse(path), "IncludeLaunchDescription"):
        names = {n.value for n in ast.walk(call) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        target = next((n for n in names if n.endswith(".launch.py")), None)
        assert target, f"{path.name}:{call.lineno}: include must name its .launch.py file literally"
        passed = _keyword(call, "launch_arguments")
        arguments: set[str] = set()
        if isinstance(passed, ast.Call) and _call_name(passed) == "items":
            passed = passed.func.value  # {...}.items()
        if isinstance(passed, ast.Dict):
            arguments = {k.value for k in passed.keys if isinstance(k, ast.Constant)}
        elif isinstance(passed, (ast.List, ast.Tuple)):
            arguments = {
                e.elts[0].value
                for e in passed.elts
                if isinstance(e, ast.Tuple) and isinstance(e.elts[0], ast.Constant)
            }
        found.append((target, arguments))
    return found


def test_compositions_include_package_launch_files_with_declared_arguments():
    assert SYSTEM_LAUNCH, "launch/ should hold the system compositions"
    by_name = {p.name: p for p in PACKAGE_LAUNCH + SYSTEM_LAUNCH}
    for path in SYSTEM_LAUNCH:
        includes = _included_files_and_arguments(path)
        assert includes, f"{path.name} should include a package launch file"
        for target, arguments in includes:
            assert target in by_name, f"{path.name} includes unknown {target}"
            unknown = arguments - _declared_arguments(by_name[target])
            assert not unknown, f"{path.name} passes {sorted(unknown)} that {target} does not declare"


def test_recording_runs_ros2_bag_record_in_mcap(launch_support):
    for path in PACKAGE_LAUNCH:
        if "record" not in _declared_arguments(path):
            continue
        executes = _calls(_parse(path), "ExecuteProcess")
        assert any(
            _call_name(c) == "record_command"
            for e in executes
            for c in ast.walk(e)
            if isinstance(c, ast.Call)
        ), f"{path.name}: record:=true must ExecuteProcess(cmd=record_command(...))"
    command = launch_support.record_command("bags/x", ["/tf_static"])
    assert command == ["ros2", "bag", "record", "-s", "mcap", "-o", "bags/x", "/tf_static"]
    with pytest.raises(ValueError, match="nothing to record"):
        launch_support.record_command("bags/x", [])


# ----------------------------------------------------------------------------- parameter YAMLs


def _flatten(mapping: dict, prefix: str = "") -> set[str]:
    names = set()
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        names |= _flatten(value, f"{name}.") if isinstance(value, dict) else {name}
    return names


@pytest.fixture(scope="module")
def declared_by_node(entry_points) -> dict[str, dict[str, bool]]:
    """Node executable name -> its declared parameters (node name == executable name)."""
    result = {}
    for name, (module, _) in entry_points.items():
        path = SIM_BRIDGE_NODE if name == "sim_bridge" else _module_file(module)
        if name == "fr3_cell":
            path = REPO / "sim_bridge" / "fr3_cell_node.py"
        result[name] = _declared_parameters(path)
    return result


def test_nodes_declare_parameters(declared_by_node):
    for name in ("depth_camera", "pointcloud_preprocess", "policy", "arm_controller", "sim_bridge"):
        assert declared_by_node[name], f"{name} declares no parameters"
    assert declared_by_node["policy"].get("checkpoint") is True, "policy must require a checkpoint"


@pytest.mark.parametrize("path", CONFIG_YAMLS, ids=lambda p: p.name)
def test_every_yaml_parameter_is_declared_by_its_node(path, declared_by_node):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and data, f"{path.name} is empty"
    for section, body in data.items():
        assert isinstance(body, dict) and set(body) == {"ros__parameters"}, (
            f"{path.name}: section {section!r} must hold exactly 'ros__parameters'"
        )
        names = _flatten(body["ros__parameters"])
        if section == "/**":
            all_declared = set().union(*declared_by_node.values())
            stray = names - all_declared
            assert not stray, f"{path.name} '/**' sets {sorted(stray)} that no node declares"
            continue
        node = section.strip("/").split("/")[-1]
        assert node in declared_by_node, f"{path.name}: section {section!r} names no node of this package"
        stray = names - set(declared_by_node[node])
        assert not stray, f"{path.name}: {node} does not declare {sorted(stray)}"


def _launch_parameter_keys(path: Path) -> dict[str, set[str]]:
    """Node executable -> parameter names given as dict literals in Node(parameters=[...])."""
    keys: dict[str, set[str]] = {}
    for call in _launch_nodes(path):
        executable = _literal(_keyword(call, "executable"))
        params = _keyword(call, "parameters")
        names = keys.setdefault(executable, set())
        for node in ast.walk(params) if params is not None else []:
            if isinstance(node, ast.Dict):
                names |= {k.value for k in node.keys if isinstance(k, ast.Constant)}
    return keys


def test_required_parameters_are_given_by_every_launch_file_that_starts_the_node(declared_by_node):
    yaml_names: set[str] = set()
    for path in CONFIG_YAMLS:
        for body in yaml.safe_load(path.read_text(encoding="utf-8")).values():
            yaml_names |= _flatten(body["ros__parameters"])
    for path in PACKAGE_LAUNCH:
        for executable, given in _launch_parameter_keys(path).items():
            if executable not in declared_by_node:
                continue
            required = {n for n, req in declared_by_node[executable].items() if req}
            missing = required - given - yaml_names
            assert not missing, f"{path.name}: {executable} needs {sorted(missing)} but is not given them"


def test_launch_parameter_keys_are_declared_by_the_node(declared_by_node):
    for path in PACKAGE_LAUNCH:
        for executable, given in _launch_parameter_keys(path).items():
            if executable in declared_by_node:
                stray = given - set(declared_by_node[executable]) - {"use_sim_time"}
                assert not stray, f"{path.name}: {executable} is given undeclared parameters {sorted(stray)}"


# ---------------------------------------------------------------------------------- workspace


def test_workspace_links_are_relative_and_resolve_to_ros_packages():
    links = sorted((REPO / "ros2_ws" / "src").iterdir())
    assert links, "ros2_ws/src is empty"
    for link in links:
        assert link.is_symlink(), f"{link.name} should be a symlink into the repository"
        assert not os.path.isabs(os.readlink(link)), f"{link.name} must be a relative link"
        assert (link / "package.xml").is_file(), f"{link.name} does not resolve to a ROS package"


def test_launch_nodes_are_named_after_their_executable():
    """The YAML sections bind by node name; a renamed node would silently lose its parameters."""
    for path in PACKAGE_LAUNCH:
        for call in _launch_nodes(path):
            if _literal(_keyword(call, "package")) == "policy_node":
                assert _literal(_keyword(call, "name")) == _literal(_keyword(call, "executable")), path.name


# ------------------------------------------------------------------- what the launch files compute


def test_camera_yaml_becomes_parameters_the_camera_node_declares(launch_support, declared_by_node):
    params = launch_support.camera_node_parameters(
        "configs/cameras/realsense_d435.yaml", serial_no="123456789012", recording_file=""
    )
    assert set(params) <= set(declared_by_node["depth_camera"]), set(params) - set(
        declared_by_node["depth_camera"]
    )
    assert params["serial_no"] == "123456789012"
    assert params["recording_file"] == ""  # None has no ROS parameter form: '' means unset
    assert params["decimation"] == 4 and params["spatial.enable"] is True
    assert isinstance(params["spatial.smooth_delta"], float)  # declared as a double


def test_official_driver_gets_the_same_settings_without_its_own_tf(launch_support):
    params = launch_support.realsense_driver_parameters(
        "configs/cameras/realsense_d435.yaml", serial_no="42", camera_name="cam", camera_namespace="ns"
    )
    assert params["publish_tf"] is False  # the calibration is the optical frame's only parent
    assert params["align_depth.enable"] is True
    assert params["decimation_filter.filter_magnitude"] == 4
    assert (params["serial_no"], params["camera_name"], params["camera_namespace"]) == ("42", "cam", "ns")


def test_camera_topics_and_frames_follow_realsense_ros(launch_support):
    assert launch_support.camera_topics("camera", "camera") == (
        "/camera/camera/aligned_depth_to_color/image_raw",
        "/camera/camera/aligned_depth_to_color/camera_info",
    )
    assert launch_support.camera_topics("", "/d435/")[0] == "/d435/aligned_depth_to_color/image_raw"
    assert launch_support.camera_optical_frame("camera") == "camera_color_optical_frame"
    assert launch_support.camera_optical_frame("cam", aligned_to_color=False) == "cam_depth_optical_frame"


@pytest.fixture
def calibration_file(tmp_path):
    from calibration.extrinsics import Extrinsics, save_extrinsics

    extrinsics = Extrinsics.from_translation_quaternion(
        [0.5, -0.1, 0.6],
        [0.0, 0.7071067811865476, 0.0, 0.7071067811865476],
        base_frame="fr3_link0",
        camera_frame="camera_color_optical_frame",
        calibration_id="lab-d435-test",
    )
    return str(save_extrinsics(tmp_path / "extrinsics.yaml", extrinsics))


def test_calibration_becomes_static_transform_arguments(launch_support, calibration_file):
    result = launch_support.calibration_transform(
        calibration_file, robot_base_frame="fr3_link0", camera_frame="camera_color_optical_frame"
    )
    args = result.static_transform_arguments
    values = dict(zip(args[::2], args[1::2]))
    assert values["--frame-id"] == "fr3_link0" and values["--child-frame-id"] == "camera_color_optical_frame"
    assert [float(values[k]) for k in ("--x", "--y", "--z")] == pytest.approx([0.5, -0.1, 0.6])
    assert float(values["--qy"]) == pytest.approx(0.70710678) and float(values["--qw"]) == pytest.approx(
        0.70710678
    )
    assert result.calibration_id == "lab-d435-test"


@pytest.mark.parametrize(
    ("base", "camera", "message"),
    [
        ("panda_link0", "camera_color_optical_frame", "base_frame 'fr3_link0'"),
        ("fr3_link0", "camera_depth_optical_frame", "camera_frame 'camera_color_optical_frame'"),
    ],
)
def test_calibration_of_other_frames_is_refused(launch_support, calibration_file, base, camera, message):
    with pytest.raises(ValueError, match=message):
        launch_support.calibration_transform(calibration_file, robot_base_frame=base, camera_frame=camera)


def test_missing_calibration_is_refused_by_name(launch_support, tmp_path):
    with pytest.raises(ValueError, match="calibration_file"):
        launch_support.calibration_transform("", robot_base_frame="b", camera_frame="c")
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        launch_support.calibration_transform(
            str(tmp_path / "nope.yaml"), robot_base_frame="b", camera_frame="c"
        )


def test_bag_paths_are_new_directories(launch_support, tmp_path):
    import datetime as dt

    now = dt.datetime(2025, 1, 2, 3, 4, 5)
    first = launch_support.bag_output_path(str(tmp_path), robot="franka_fr3", task="drawer open/v3", now=now)
    assert Path(first).parent == tmp_path and Path(first).name == "franka_fr3_drawer_open_v3_20250102_030405"
    Path(first).mkdir()
    second = launch_support.bag_output_path(str(tmp_path), robot="franka_fr3", task="drawer open/v3", now=now)
    assert second != first and not Path(second).exists()  # ros2 bag record -o refuses an existing folder


def test_recorded_topics_are_the_evaluation_layout(launch_support):
    from mtdagger.recording import layout

    topics = launch_support.recorded_topics()
    assert topics == [spec.name for spec in layout.TOPICS]
    assert launch_support.recorded_topics(include_success=True)[-1] == launch_support.SUCCESS_TOPIC


@pytest.mark.parametrize(("text", "value"), [("true", True), ("False", False), ("1", True), (" off ", False)])
def test_boolean_launch_arguments(launch_support, text, value):
    assert launch_support.parse_bool(text, "record") is value


def test_bad_launch_argument_values_are_named(launch_support):
    with pytest.raises(ValueError, match="record:='yes please'"):
        launch_support.parse_bool("yes please", "record")
    with pytest.raises(ValueError, match="camera_driver:='librealsense'"):
        launch_support.choice("librealsense", "camera_driver", launch_support.CAMERA_DRIVERS)


def test_message_packages_built_by_name_are_declared():
    """Messages built through mtdagger.messages (factory.new('pkg/msg/Name')) import their package
    at run time, invisible to the import scan above; their packages must be exec_depends too."""
    import re

    pattern = re.compile(r"^([a-z0-9_]+)/(msg|srv|action)/[A-Za-z0-9_]+$")
    sources = [*_node_sources(), REPO / "mtdagger" / "messages" / "convert.py"]
    packages = set()
    for path in sources:
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = pattern.match(node.value)
                if match:
                    packages.add(match.group(1))
    assert {"sensor_msgs", "rosgraph_msgs", "builtin_interfaces"} <= packages
    missing = packages - _exec_depends()
    assert not missing, f"package.xml lacks <exec_depend> for {sorted(missing)}"


def test_node_config_is_the_robot_yaml_or_a_clear_error(launch_support, tmp_path):
    share = str(PACKAGE_DIR)  # the source tree has the same config/ layout as the install share
    assert launch_support.node_config_path(share, "franka_fr3") == str(
        PACKAGE_DIR / "config" / "franka_fr3.yaml"
    )
    custom = tmp_path / "cell.yaml"
    custom.write_text("/**: {ros__parameters: {}}\n")
    assert launch_support.node_config_path(share, "franka_fr3", str(custom)) == str(custom)
    with pytest.raises(FileNotFoundError, match=r"ur5e\.yaml.*franka_fr3.*node_config:="):
        launch_support.node_config_path(share, "ur5e")


def test_launch_files_find_the_core_when_ros2_runs_without_it(tmp_path):
    """`ros2 launch` by /opt/ros's Python (no venv, no core installed): launch_support finds the
    source checkout the package resolves into (colcon --symlink-install) and appends it."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    code = (
        f"import sys; sys.path.insert(0, {str(root / 'policy_node')!r}); "
        "from policy_node.launch_support import ensure_core_importable; "
        "ensure_core_importable(); import mtdagger; print(mtdagger.__file__)"
    )
    # -I -S: no PYTHONPATH, no site-packages: the only way to the core is the one launch_support finds.
    command = [sys.executable, "-I", "-S", "-c", code]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == root / "mtdagger" / "__init__.py"
