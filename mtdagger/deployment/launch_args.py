"""The ONE table of launch arguments: every `name:=value` any of our launch files accepts.

realsense-ros declares its launch arguments from one list and builds its node parameters from
it (realsense2_camera/launch/rs_launch.py); we do the same so the three launches that wire the
deployment graph (real, sim, rehearse) and the two system compositions that include them cannot
drift apart. Each row is an argument: its name, its description, its kind (how the string
`ros2 launch` hands over is read) and, per launch that uses it, its default (`REQUIRED`: no
default, the user must give it). The launch files declare exactly these rows
(`arguments_for(launch)`), and `parse_arguments` turns the strings into typed values with errors
that name the argument, before anything starts.

ROS-free on purpose: `mtdagger.deployment.plan` reads the values, tests compare the launch files
against this table without `launch` installed, and `mtdagger rehearse` uses the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

REQUIRED = None  # a default of None: the argument has no default and must be given

# launch name -> its file, relative to the repository root (the system compositions live in launch/).
LAUNCH_FILES: Mapping[str, str] = MappingProxyType({
    "real": "policy_node/launch/real.launch.py",
    "sim": "policy_node/launch/sim.launch.py",
    "rehearse": "policy_node/launch/rehearse.launch.py",
    "eval_recording": "launch/eval_recording.launch.py",
    "sim_rollout": "launch/sim_rollout.launch.py",
})  # fmt: skip
LAUNCHES = tuple(LAUNCH_FILES)
KINDS = ("text", "bool", "int", "float", "choice")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
# Simulator defaults (sim.launch.py); mtdagger.deployment.plan.SIMULATORS holds every simulator's.
_SIM_CAMERA = "configs/cameras/metaworld_d435.yaml"
_SIM_ROBOT = "metaworld_sawyer"


@dataclass(frozen=True)
class LaunchArgument:
    """One row of the table. `defaults` maps each launch that declares the argument to its default
    there (a string, as launch stores it, or REQUIRED); `choices` lists the valid values of a
    'choice' argument ('' among them where empty means "the robot config's")."""

    name: str
    description: str
    defaults: Mapping[str, str | None]
    kind: str = "text"
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.defaults) - set(LAUNCHES)
        if unknown or self.kind not in KINDS or bool(self.choices) != (self.kind == "choice"):
            raise ValueError(f"launch argument row {self.name!r} is malformed")
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    def default(self, launch: str) -> str | None:
        return self.defaults[launch]

    def parse(self, text: str) -> Any:
        """The typed value of `name:=text` (ValueError naming the argument if it is not one)."""
        value = str(text).strip()
        if self.kind == "bool":
            if value.lower() in _TRUE + _FALSE:
                return value.lower() in _TRUE
            raise ValueError(f"launch argument {self.name}:={text!r} is not a boolean (use true or false)")
        if self.kind == "int":
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"launch argument {self.name}:={text!r} is not an integer") from None
        if self.kind == "float":
            number = float(value) if value.replace(".", "", 1).isdigit() else float("nan")
            if not number >= 0:  # finite, non-negative: the float arguments are durations
                raise ValueError(f"launch argument {self.name}:={text!r} is not a number of seconds >= 0")
            return number
        if self.kind == "choice" and value not in self.choices:
            valid = ", ".join(repr(c) if not c else c for c in self.choices)
            raise ValueError(f"launch argument {self.name}:={text!r} is not one of {valid}")
        return value


def _arg(name: str, description: str, *, kind: str = "text", choices=(), **defaults) -> LaunchArgument:
    return LaunchArgument(name, description, defaults, kind, tuple(choices))


ARGUMENTS: tuple[LaunchArgument, ...] = (
    # --- what to run
    _arg("checkpoint", "checkpoint directory (safetensors + JSON sidecar)",
         real=REQUIRED, sim=REQUIRED, rehearse=REQUIRED, eval_recording=REQUIRED, sim_rollout=REQUIRED),
    _arg("task", "task to run: one of the checkpoint's tasks (the FR3 cell: drawer-open | drawer-close)",
         real=REQUIRED, rehearse="drawer-open", eval_recording=REQUIRED),
    _arg("tasks", "tasks to simulate: a task name, comma-separated names, mt10 or mt50",
         sim=REQUIRED, sim_rollout=REQUIRED),
    _arg("object_label", "object label for the episode markers", real="", eval_recording=""),
    # --- the robot
    _arg("robot", "robot name (configs/robots/<robot>.yaml; node parameters config/<robot>.yaml)",
         real="franka_fr3", sim=_SIM_ROBOT, eval_recording="franka_fr3"),
    _arg("robot_config", "robot config YAML path (default: configs/robots/<robot>.yaml)",
         real="", sim=""),
    _arg("node_config", "node parameter YAML (default: <share>/config/<robot>.yaml)",
         real="", sim=""),
    _arg("command_interface", "joint_trajectory | cartesian_pose | twist (empty: the robot config's)",
         kind="choice", choices=("", "joint_trajectory", "cartesian_pose", "twist"),
         real="", eval_recording=""),
    _arg("deadman_timeout_s",
         "hold the arm when the trial console's heartbeat is missing this long (s; 0: off)",
         kind="float", real="0.5", rehearse="0", eval_recording="0.5"),
    # --- the camera and its calibration
    _arg("camera_driver", "mtdagger | realsense2_camera | none (the camera topics come from elsewhere)",
         kind="choice", choices=("mtdagger", "realsense2_camera", "none"),
         real="mtdagger", eval_recording="mtdagger"),
    _arg("camera_config",
         "camera YAML: RealSense settings for either driver (real), the simulated camera (sim)",
         real="configs/cameras/realsense_d435.yaml", sim=_SIM_CAMERA),
    _arg("serial_no", "RealSense serial number (empty: the only camera connected)",
         real="", eval_recording=""),
    _arg("recording_file", "replay a librealsense recording (.db3/.bag) instead of a camera", real=""),
    _arg("camera_name", "realsense-ros camera_name", real="camera"),
    _arg("camera_namespace", "realsense-ros camera_namespace", real="camera"),
    _arg("calibration_file",
         "camera extrinsics YAML (calibration/extrinsics.py schema): the camera pose in the robot base",
         real=REQUIRED, rehearse="configs/calibration/fr3_cell.yaml", eval_recording=REQUIRED),
    # --- simulation
    _arg("sim", "simulator backend of the sim bridge", sim="metaworld"),
    _arg("episodes_per_task", "episodes per task (rehearse: per object split; 0: endless)",
         kind="int", sim="1", rehearse="2", sim_rollout="5"),
    _arg("seed", "seed of the first episode (then +1; rehearse: + 1000 per task before it in seed_tasks)",
         kind="int", sim="20000", rehearse="0", sim_rollout="20000"),
    _arg("seed_tasks", "the checkpoint's task list: numbers the seeds as `mtdagger eval` does (empty: task)",
         rehearse=""),
    _arg("max_episode_steps", "control periods per episode at most (0: the simulator's default)",
         kind="int", sim="0", rehearse="120"),
    _arg("noise", "depth noise model: none | realsense",
         kind="choice", choices=("none", "realsense"), sim="none", sim_rollout="none"),
    _arg("randomize", "randomise camera pose and intrinsics per episode",
         kind="bool", sim="false", sim_rollout="false"),
    _arg("lockstep", "step only when the command for the current observation has arrived",
         kind="bool", sim="true"),
    _arg("objects", "FR3 cabinets: seen | unseen | both (in turn)",
         kind="choice", choices=("seen", "unseen", "both"), rehearse="both"),
    _arg("sim_camera_config", "the FR3 cell's simulated D435 (SimCameraConfig YAML)",
         rehearse="configs/cameras/fr3_d435.yaml"),
    # --- recording and logging
    _arg("record", "record an evaluation bag (MCAP)",
         kind="bool", real="false", sim="false", rehearse="true"),
    _arg("bag_dir", "folder for recorded bags",
         real="bags", sim="bags", rehearse="bags", eval_recording="bags/eval", sim_rollout="bags/sim"),
    _arg("use_sim_time", "run on /clock (simulation, bag replay)", kind="bool", real="false", sim="true"),
    _arg("log_level", "ROS log level of our nodes (debug | info | warn | error | fatal)",
         real="info", sim="info", sim_rollout="warn"),
)  # fmt: skip
ARGUMENTS_BY_NAME: Mapping[str, LaunchArgument] = MappingProxyType({a.name: a for a in ARGUMENTS})


def arguments_for(launch: str) -> tuple[LaunchArgument, ...]:
    """The rows `launch` declares, in table order (the order `--show-args` lists them)."""
    if launch not in LAUNCH_FILES:
        raise ValueError(f"unknown launch {launch!r}; known: {', '.join(LAUNCHES)}")
    return tuple(a for a in ARGUMENTS if launch in a.defaults)


@dataclass(frozen=True)
class LaunchValues:
    """The typed argument values of one launch: `values['record']` is a bool, `values['seed']` an int.

    Reads are remembered (`unread()`), so a test can show that a launch uses every argument it
    declares: an argument nothing reads would be a setting that silently does nothing."""

    launch: str
    values: Mapping[str, Any] = field(default_factory=dict)
    _read: set[str] = field(default_factory=set, compare=False, repr=False)

    def __getitem__(self, name: str) -> Any:
        if name not in self.values:
            raise KeyError(f"{self.launch} has no launch argument {name!r}")
        self._read.add(name)
        return self.values[name]

    def text(self) -> dict[str, str]:
        """The values as launch argument strings again (what an include passes on)."""
        self._read.update(self.values)
        return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in self.values.items()}

    def unread(self) -> set[str]:
        return set(self.values) - self._read


def parse_arguments(launch: str, given: Mapping[str, str]) -> LaunchValues:
    """Typed values of `launch`'s arguments: given strings, else the table's defaults.

    Refuses (ValueError, naming every offender) an argument `launch` does not declare and a
    required one left out, so a typo never silently falls back to a default."""
    rows = arguments_for(launch)
    names = {a.name for a in rows}
    unknown = sorted(set(given) - names)
    if unknown:
        raise ValueError(f"{launch}: unknown launch arguments {unknown}; it takes {sorted(names)}")
    missing = [a.name for a in rows if a.name not in given and a.default(launch) is REQUIRED]
    if missing:
        raise ValueError(f"{launch}: launch arguments {', '.join(f'{m}:=' for m in missing)} are required")
    values = {a.name: a.parse(given.get(a.name, a.default(launch))) for a in rows}
    return LaunchValues(launch, MappingProxyType(values))
