"""Static checks of the ROS 2 package `policy_node` and the launch compositions, without ROS.

launch and launch_ros cannot be installed here (DESIGN.md §8), so the package cannot be launched.
What can silently break a colcon build or a `ros2 launch` is checked by reading the files instead:
package.xml, setup.py/setup.cfg, entry points, and the parameter YAMLs against the
`declare_parameter` calls in the node sources (via `ast`). What the launch files declare and start
is checked by running them against stand-ins (tests/test_launch_plan.py), and the pieces they are
built from in tests/test_deployment_plan.py.
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
SIM_BRIDGE_NODE = REPO / "sim_bridge" / "ros" / "bridge_node.py"
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


# Core modules that talk ROS (the sim bridge node, `mtdagger bench ros`, the shared QoS profiles): rclpy
# only inside functions.
LAZY_ROS_MODULES = (
    SIM_BRIDGE_NODE, REPO / "mtdagger" / "bench" / "ros.py", REPO / "sim_bridge" / "ros" / "fr3_cell_node.py",
    REPO / "mtdagger" / "rehearsal" / "graph.py", REPO / "mtdagger" / "rehearsal" / "bag_recorder.py",
    REPO / "sim_bridge" / "ros" / "lockstep_loop.py", REPO / "mtdagger" / "messages" / "qos.py",
    REPO / "mtdagger" / "messages" / "node_process.py",
    REPO / "mtdagger" / "trial" / "ros_client.py", REPO / "mtdagger" / "commands" / "trial_rehearsal.py",
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
    assert "sim_bridge.ros.bridge_node" in shim


# ---------------------------------------------------------------------------------- launch files


@pytest.mark.parametrize("path", PACKAGE_LAUNCH + SYSTEM_LAUNCH, ids=lambda p: p.name)
def test_launch_file_compiles_and_defines_a_launch_description(path):
    """What each launch file declares, starts and includes is checked by running it against
    stand-in launch modules (tests/test_launch_plan.py): its arguments are the table's
    (mtdagger/deployment/launch_args.py), its nodes the plan's. Here: it compiles, as ros2 launch
    needs it to."""
    tree = _parse(path)
    compile(tree, str(path), "exec")
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions


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
            path = REPO / "sim_bridge" / "ros" / "fr3_cell_node.py"
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


# ---------------------------------------------------------------------------------- workspace


def test_workspace_links_are_relative_and_resolve_to_ros_packages():
    links = sorted((REPO / "ros2_ws" / "src").iterdir())
    assert links, "ros2_ws/src is empty"
    for link in links:
        assert link.is_symlink(), f"{link.name} should be a symlink into the repository"
        assert not os.path.isabs(os.readlink(link)), f"{link.name} must be a relative link"
        assert (link / "package.xml").is_file(), f"{link.name} does not resolve to a ROS package"


# ------------------------------------------------------------------------- message packages


def test_message_packages_built_by_name_are_declared():
    """Messages built through mtdagger.messages (factory.new('pkg/msg/Name')) import their package
    at run time, invisible to the import scan above; their packages must be exec_depends too."""
    import re

    pattern = re.compile(r"^([a-z0-9_]+)/(msg|srv|action)/[A-Za-z0-9_]+$")
    # convert.py and the modules it re-exports (stamps.py, geometry.py), and any message module to come.
    sources = [*_node_sources(), *sorted((REPO / "mtdagger" / "messages").glob("*.py"))]
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


def test_launch_files_find_the_core_from_an_installed_copy_of_the_package(tmp_path):
    """What `colcon build` installs with current setuptools (even with --symlink-install: no
    `setup.py develop`, so `setup.py build install`) is a COPY of policy_node, whose own path
    leads nowhere near the checkout. policy_node/setup.py's build_py records the checkout in the
    built package (`mtdagger_root`), and launch_support finds the core through it; without that
    record it stops with one line saying how to run ros2 (issue 21)."""
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path / "build")],
        cwd=root / "policy_node", capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    site = tmp_path / "install" / "lib" / "site-packages"
    shutil.copytree(tmp_path / "build" / "policy_node", site / "policy_node")  # `setup.py install`
    copy = site / "policy_node" / "launch_support.py"
    assert not copy.is_symlink() and root not in copy.resolve().parents  # really a copy
    assert (site / "policy_node" / "mtdagger_root").read_text().strip() == str(root)
    code = (
        f"import sys; sys.path.insert(0, {str(site)!r}); "
        "from policy_node.launch_support import ensure_core_importable; "
        "ensure_core_importable(); import mtdagger; print(mtdagger.__file__)"
    )
    env = {k: v for k, v in os.environ.items() if k != "MTDAGGER_ROOT"}
    # -I -S: no PYTHONPATH, no site-packages (/opt/ros's `ros2` run by the system Python).
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == root / "mtdagger" / "__init__.py"
    (site / "policy_node" / "mtdagger_root").unlink()
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode != 0 and "robot venv's Python" in done.stderr and "MTDAGGER_ROOT" in done.stderr
