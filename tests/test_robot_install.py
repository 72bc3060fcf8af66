"""The robot-PC install instructions, checked as far as PyPI allows (issue 21, no ROS needed).

A full ROS 2 run found that the instructions could not be followed as written: they asked pip for
`numpy<2` beside the project's OpenCV pin, whose wheels need NumPy 2 (pip refuses the install);
they mixed the project's `.venv` (ros-jazzy-* PyPI wheels and their bootstrapper `.pth`) with a
sourced /opt/ros; and `pytest>=8` let in pytest 9, which Jazzy's launch_testing plugin cannot
load. Resolving the instructions with pip would need the network; instead every `pip install` of
the instructions is read from the files (code blocks and RUN lines, comments dropped) and checked
against the pins they must live with.
"""

from __future__ import annotations

import re
import shlex
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
INSTRUCTIONS = (
    REPO / "ros2_ws" / "README.md", REPO / "docker" / "Dockerfile.robot", REPO / "docker" / "README.md",
    REPO / "README.md", REPO / "scripts" / "setup.sh",
)  # fmt: skip
ROBOT_PYTHON = "3.12"  # Ubuntu 24.04, ROS 2 Jazzy from apt
# NumPy releases a resolver could pick from (one per minor line is enough to decide satisfiability).
NUMPY_RELEASES = ("1.24.4", "1.26.4", "2.0.2", "2.1.3", "2.2.6", "2.3.5", "2.4.0")
OPTIONS_WITH_VALUE = {"-i", "--index-url", "--extra-index-url", "-r", "--requirement", "-c", "--constraint",
                      "-f", "--find-links", "--target", "-t", "--prefix", "--root"}  # fmt: skip


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _shell_text(path: Path) -> str:
    """The shell a file asks to run: fenced code blocks of a markdown file, a Dockerfile or script whole."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        text = "\n".join(re.findall(r"```(?:bash|sh|shell)?\n(.*?)```", text, flags=re.S))
    return re.sub(r"\\\n", " ", text)  # continuation lines


def pip_install_requirements(shell: str) -> list[str]:
    """The requirement arguments of every `pip install` in `shell` (quotes and comments removed)."""
    found = []
    for line in shell.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        command: list[str] = []
        for word in [*words, "&&"]:
            if word not in ("&&", ";", "||", "|"):
                command.append(word)
                continue
            pips = [i for i, w in enumerate(command) if re.search(r"(^|/)pip3?$", w)]
            if pips and "install" in command[pips[0] + 1 :]:
                arguments = command[command.index("install", pips[0]) + 1 :]
                skip = False
                for argument in arguments:
                    if skip:
                        skip = False
                    elif argument in OPTIONS_WITH_VALUE:
                        skip = True
                    elif not argument.startswith("-"):  # `-e .`: the path is the requirement
                        found.append(argument)
            command = []
    return found


def _robot_requirement(text: str) -> Requirement | None:
    """A PyPI requirement (None for a path such as `.`, or a shell variable we cannot read)."""
    if text.startswith((".", "/", "$")) or "${" in text:
        return None
    return Requirement(text)


def _opencv_numpy_specifier() -> SpecifierSet:
    """What the pinned OpenCV's wheels require of NumPy on the robot's Python."""
    (pin,) = [d for d in _pyproject()["project"]["dependencies"] if d.startswith("opencv-python-headless")]
    pinned = Requirement(pin)
    installed = metadata.version(pinned.name)
    assert installed in pinned.specifier, (
        f"this environment has {pinned.name} {installed}, not the pinned {pinned.specifier}: "
        "re-run `make setup`"
    )
    environment = {**default_environment(), "python_version": ROBOT_PYTHON, "python_full_version": "3.12.3"}
    specifier = SpecifierSet()
    for text in metadata.requires(pinned.name) or []:
        requirement = Requirement(text)
        applies = requirement.marker is None or requirement.marker.evaluate(environment)
        if requirement.name == "numpy" and applies:
            specifier &= requirement.specifier
    return specifier


def numpy_conflicts(requirements: list[str], opencv_numpy: SpecifierSet) -> list[str]:
    """The numpy requirements no NumPy release can satisfy together with the OpenCV pin."""
    bad = []
    for text in requirements:
        requirement = _robot_requirement(text)
        if requirement is None or requirement.name != "numpy":
            continue
        both = requirement.specifier & opencv_numpy
        if not any(both.contains(v, prereleases=False) for v in NUMPY_RELEASES):
            bad.append(text)
    return bad


def test_the_reader_finds_the_old_unsatisfiable_instruction():
    """The checks below would have caught the instructions issue 21 found (so they are not vacuous)."""
    old = 'cd <repo>\npip3 install -e . "numpy<2" ikpy==4.2.1   # keep numpy 1.x\n'
    old_docker = (
        'RUN pip3 install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}" \\\n'
        '    && pip3 install -e . "ikpy==4.2.1" "numpy<2"\n'
    )
    assert pip_install_requirements(old) == [".", "numpy<2", "ikpy==4.2.1"]
    assert pip_install_requirements(re.sub(r"\\\n", " ", old_docker)) == [
        "torch==${TORCH_VERSION}", ".", "ikpy==4.2.1", "numpy<2"]
    assert numpy_conflicts(["numpy<2"], SpecifierSet(">=2")) == ["numpy<2"]
    assert numpy_conflicts(["numpy>=1.24"], SpecifierSet(">=2")) == []


@pytest.mark.parametrize("path", INSTRUCTIONS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_instruction_asks_pip_for_a_numpy_the_pinned_opencv_cannot_use(path):
    opencv_numpy = _opencv_numpy_specifier()
    assert not opencv_numpy.contains("1.26.4"), "the OpenCV pin no longer needs NumPy 2: revisit this test"
    requirements = pip_install_requirements(_shell_text(path))
    assert not numpy_conflicts(requirements, opencv_numpy), (
        f"{path.name}: pip is asked for {numpy_conflicts(requirements, opencv_numpy)} beside "
        f"opencv-python-headless, which needs numpy{opencv_numpy}: pip refuses the install"
    )
    project_numpy = [d for d in _pyproject()["project"]["dependencies"] if d.startswith("numpy")]
    assert not numpy_conflicts(project_numpy, opencv_numpy), project_numpy


@pytest.mark.parametrize("path", [REPO / "ros2_ws" / "README.md", REPO / "docker" / "Dockerfile.robot"],
                         ids=lambda p: str(p.relative_to(REPO)))  # fmt: skip
def test_the_robot_venv_sees_apt_ros_and_gets_only_the_core(path):
    """A venv over the system Python with --system-site-packages (apt's rclpy, launch and ROS's
    Python tooling: lark, catkin_pkg, empy 3.3.4 ...), the core by `pip install -e .`, never the
    ros-jazzy-* PyPI wheels (the `ros`/`test` extras), colcon and `ros2` run by the venv's Python."""
    shell = _shell_text(path)
    requirements = pip_install_requirements(shell)
    assert "." in requirements, f"{path.name}: the core is not installed"
    wheels = [r for r in requirements if r.startswith("ros-") or re.search(r"\[.*(ros|test).*\]", r)]
    assert not wheels, f"{path.name}: the robot venv must not get the ros-jazzy-* wheels: {wheels}"
    venv = re.search(r"python3 -m venv --system-site-packages", shell)
    assert venv, f"{path.name}: no venv with --system-site-packages"
    assert venv.start() < shell.index("pip\" install -e ."), f"{path.name}: the core goes in before the venv"
    assert re.search(r'VENV\}?/bin/python"? "\$\(command -v colcon\)" build', shell), (
        f"{path.name}: colcon must run with the venv's Python (the nodes' scripts start with it)")
    assert re.search(r'exec "%s/bin/python" "?/opt/ros/', shell), f"{path.name}: `ros2` not run by the venv"
    if path.suffix == ".md":
        assert shell.index("source /opt/ros/jazzy/setup.bash") < venv.start()


def test_the_core_brings_no_ros_python_tooling_into_the_robot_venv():
    """apt's ROS needs its own empy (3.3.4), lark and catkin_pkg, seen from the system site-packages:
    a core dependency on any of them (or on a ros-* wheel) would shadow them in the robot venv."""
    names = {Requirement(d).name.lower() for d in _pyproject()["project"]["dependencies"]}
    tooling = {"empy", "lark", "lark-parser", "catkin-pkg"}
    shadowing = {n for n in names if n.startswith("ros-") or n in tooling}
    assert not shadowing


def test_pytest_is_pinned_to_what_jazzys_launch_testing_loads():
    test_extra = [Requirement(r) for r in _pyproject()["project"]["optional-dependencies"]["test"]]
    (pytest_pin,) = [r for r in test_extra if r.name == "pytest"]
    specifier = pytest_pin.specifier
    assert specifier.contains("8.4.2") and not specifier.contains("9.0.0"), pytest_pin
