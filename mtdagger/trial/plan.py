"""The trial plan: which episode comes when, with what reset, for which checkpoint.

`make_plan` interleaves the objects and tasks in a random order drawn from a recorded seed: every
round of the plan tries each (object, task) once, in a fresh shuffle, so no object is tried only
while the cell is warm or the operator tired, and the plan can be rebuilt from its seed.
`load_plan` refuses a bad plan (unknown or missing field, an object not in the plan's object
table or not in the FR3 suite, an empty episode list, a checkpoint whose weights no longer hash to
the recorded value) with one line naming the field, before the console touches the robot.

Objects: an FR3 cabinet id (`23` or `cabinet-023`: its seen/unseen label comes from the drawer
suite, `configs/suites/fr3_drawers.yaml`) or, on a real cell, `NAME:seen` / `NAME:unseen`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from mtdagger.config_validation import ConfigError, build_dataclass
from mtdagger.files import atomic_write_text, load_yaml
from mtdagger.trial.spec import SPLITS

PLAN_SCHEMA_VERSION = 1
_CABINET = re.compile(r"^(?:cabinet-)?(\d{1,3})$")
# Reset instructions per task: the scene the operator sets before confirming.
RESETS = {"drawer-open": "drawer closed", "drawer-close": "drawer open about 15 cm"}


class PlanError(ValueError):
    """A plan that must not run; the one-line message names the field."""


@dataclass(frozen=True)
class TrialObject:
    name: str
    split: str
    fr3_id: int | None = None  # an FR3 cell cabinet (its split is the suite's)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be seen or unseen, got {self.split!r}")
        if not self.name.strip():
            raise ValueError("name must not be empty")


@dataclass(frozen=True)
class PlannedEpisode:
    episode: int  # position in the plan, from 0
    task: str
    object: str
    object_split: str
    reset: str  # what the operator sets up before confirming


@dataclass(frozen=True)
class TrialPlan:
    checkpoint: str
    checkpoint_sha256: str  # sha256 of the checkpoint's weights file
    tasks: tuple[str, ...]
    objects: tuple[TrialObject, ...]
    episodes_per_object: int
    seed: int
    episodes: tuple[PlannedEpisode, ...]
    schema_version: int = PLAN_SCHEMA_VERSION

    @property
    def plan_hash(self) -> str:
        """Short hash of what the plan asks (episodes and checkpoint): the bag's `plan` label."""
        text = json.dumps([self.checkpoint_sha256, [asdict(e) for e in self.episodes]], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_yaml(self) -> str:
        data = asdict(self)
        data["tasks"], data["objects"] = list(self.tasks), [asdict(o) for o in self.objects]
        data["episodes"] = [asdict(e) for e in self.episodes]
        return yaml.safe_dump(data, sort_keys=False)


def checkpoint_sha256(checkpoint: str | Path) -> str:
    """The sha256 of the checkpoint's weights (what its sidecar records and its id abbreviates)."""
    from mtdagger.policy.checkpoint_checks import WEIGHTS_FILE
    from mtdagger.provenance import sha256_file

    weights = Path(checkpoint) / WEIGHTS_FILE
    if not weights.is_file():
        raise PlanError(f"checkpoint: {checkpoint} has no {WEIGHTS_FILE}")
    return sha256_file(weights)


def parse_objects(text: str) -> tuple[TrialObject, ...]:
    """`--objects 3,cabinet-021` (FR3 cabinets) or `mug-a:seen,mug-b:unseen` (a real cell's)."""
    tokens = [t.strip() for t in str(text).split(",") if t.strip()]
    if not tokens:
        raise PlanError("objects: no object given")
    objects = []
    for token in tokens:
        name, _, split = token.partition(":")
        match = _CABINET.match(name)
        if match and not split:
            objects.append(_fr3_object(int(match.group(1)), f"objects: {token!r}"))
        elif split in SPLITS and name:
            objects.append(TrialObject(name, split))
        else:
            raise PlanError(f"objects: unknown object {token!r}: an FR3 cabinet id or NAME:seen|unseen")
    names = [o.name for o in objects]
    if len(set(names)) != len(names):
        raise PlanError(f"objects: an object is named twice in {names}")
    return tuple(objects)


def _fr3_object(object_id: int, where: str) -> TrialObject:
    from sim_bridge.fr3.drawer_suite import load_drawer_split

    split = load_drawer_split().label(object_id)
    if split not in SPLITS:
        raise PlanError(
            f"{where}: unknown object: cabinet {object_id} is in neither the seen nor the unseen split"
        )
    return TrialObject(f"cabinet-{object_id:03d}", split, object_id)


def make_plan(checkpoint: str, tasks, objects, episodes_per_object: int, seed: int) -> TrialPlan:
    """Rounds of every (object, task), each round shuffled by a generator seeded with `seed`."""
    tasks = tuple(tasks)
    if not tasks or not objects:
        raise PlanError("episodes: the plan is empty (no task or no object)")
    if episodes_per_object < 1:
        raise PlanError(f"episodes_per_object: must be >= 1, got {episodes_per_object}")
    _check_tasks(checkpoint, tasks)
    rng = random.Random(seed)
    order: list[tuple[TrialObject, str]] = []
    for _ in range(episodes_per_object):
        round_ = [(o, t) for o in objects for t in tasks]
        rng.shuffle(round_)
        order += round_
    episodes = tuple(
        PlannedEpisode(i, task, o.name, o.split, f"{o.name}: {RESETS.get(task, 'reset for ' + task)}")
        for i, (o, task) in enumerate(order)
    )
    return TrialPlan(str(checkpoint), checkpoint_sha256(checkpoint), tasks, tuple(objects),
                     episodes_per_object, seed, episodes)  # fmt: skip


def _check_tasks(checkpoint: str, tasks: tuple[str, ...]) -> None:
    from mtdagger.policy.checkpoint import CheckpointError, read_checkpoint_meta

    try:
        known = read_checkpoint_meta(checkpoint).tasks
    except (CheckpointError, OSError, ValueError) as error:
        raise PlanError(f"checkpoint: {error}") from None
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise PlanError(f"tasks: {unknown} not among the checkpoint's tasks {list(known)}")


def write_plan(plan: TrialPlan, path: str | Path) -> Path:
    return atomic_write_text(path, plan.to_yaml())


def load_plan(path: str | Path, *, check_checkpoint: bool = True) -> TrialPlan:
    """The plan at `path`, every field checked; PlanError (one line naming the field) if bad."""
    try:
        data = load_yaml(Path(path).read_text(encoding="utf-8"), str(path))
    except OSError as error:
        raise PlanError(f"plan: cannot read {path} ({error.strerror})") from None
    except ValueError as error:
        raise PlanError(str(error)) from None
    try:
        plan = _build(data, str(path))
    except ConfigError as error:
        raise PlanError(str(error)) from None
    _check_consistent(plan, str(path))
    if check_checkpoint:
        actual = checkpoint_sha256(plan.checkpoint)
        if actual != plan.checkpoint_sha256:
            raise PlanError(
                f"{path}: checkpoint_sha256 {plan.checkpoint_sha256[:12]}... does not match "
                f"{plan.checkpoint} (its weights hash to {actual[:12]}...)"
            )
    return plan


def _build(data: Any, where: str) -> TrialPlan:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a plan is a mapping of fields")
    data = dict(data)
    objects = data.get("objects")
    episodes = data.get("episodes")
    if not isinstance(objects, list) or not isinstance(episodes, list):
        field = "objects" if not isinstance(objects, list) else "episodes"
        raise ConfigError(f"{where}: {field} must be a list")
    data["objects"] = tuple(
        build_dataclass(TrialObject, o, f"{where}: objects[{i}]") for i, o in enumerate(objects)
    )
    data["episodes"] = tuple(
        build_dataclass(PlannedEpisode, e, f"{where}: episodes[{i}]") for i, e in enumerate(episodes)
    )
    if isinstance(data.get("tasks"), list):
        data["tasks"] = tuple(data["tasks"])
    return build_dataclass(TrialPlan, data, where)


def _check_consistent(plan: TrialPlan, where: str) -> None:
    """Episodes that name only the plan's objects and tasks, numbered 0..n-1; FR3 ids that the
    suite still knows, with the suite's split."""
    if plan.schema_version != PLAN_SCHEMA_VERSION:
        raise PlanError(
            f"{where}: schema_version {plan.schema_version} (this console reads {PLAN_SCHEMA_VERSION})"
        )
    if not plan.episodes:
        raise PlanError(f"{where}: episodes: the plan is empty")
    objects = {o.name: o for o in plan.objects}
    for o in plan.objects:
        if o.fr3_id is not None and _fr3_object(o.fr3_id, f"{where}: objects").split != o.split:
            raise PlanError(
                f"{where}: objects: {o.name} is labelled {o.split} but the FR3 suite says otherwise"
            )
    for i, e in enumerate(plan.episodes):
        at = f"{where}: episodes[{i}]"
        if e.episode != i:
            raise PlanError(f"{at}.episode: {e.episode}, expected {i} (episodes are numbered in order)")
        if e.object not in objects:
            raise PlanError(
                f"{at}.object: unknown object {e.object!r}; the plan's objects: {sorted(objects)}"
            )
        if e.task not in plan.tasks:
            raise PlanError(f"{at}.task: unknown task {e.task!r}; the plan's tasks: {list(plan.tasks)}")
        if e.object_split != objects[e.object].split:
            raise PlanError(
                f"{at}.object_split: {e.object_split} but {e.object} is {objects[e.object].split}"
            )
