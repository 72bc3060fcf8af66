"""The trial plan (mtdagger.trial.plan): interleaved seeded order, and bad plans refused with one
line naming the field (unknown object, empty plan, a checkpoint whose weights changed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from mtdagger.cli import main
from mtdagger.trial.plan import PlanError, load_plan, make_plan, parse_objects, write_plan

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    sys.path.insert(0, str(REPO / "policy_node" / "test"))
    from tiny_checkpoint import save_tiny_fr3_checkpoint

    return str(save_tiny_fr3_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny"))


@pytest.fixture()
def plan_file(checkpoint, tmp_path) -> Path:
    plan = make_plan(checkpoint, ("drawer-open", "drawer-close"), parse_objects("3,21,mug:unseen"), 2, 5)
    return write_plan(plan, tmp_path / "plan.yaml")


def test_the_order_is_interleaved_seeded_and_every_pair_comes_once_per_round(checkpoint):
    objects = parse_objects("3,cabinet-021,7")
    plan = make_plan(checkpoint, ("drawer-open", "drawer-close"), objects, 3, seed=11)
    pairs = [(e.object, e.task) for e in plan.episodes]
    assert len(pairs) == 18
    for r in range(3):  # each round: every (object, task) exactly once
        assert sorted(pairs[6 * r : 6 * r + 6]) == sorted((o.name, t) for o in objects for t in plan.tasks)
    assert pairs != [(o.name, t) for _ in range(3) for o in objects for t in plan.tasks]  # shuffled
    again = make_plan(checkpoint, ("drawer-open", "drawer-close"), objects, 3, seed=11)
    assert again.episodes == plan.episodes and again.plan_hash == plan.plan_hash
    assert (
        make_plan(checkpoint, ("drawer-open", "drawer-close"), objects, 3, seed=12).episodes != plan.episodes
    )
    by_name = {o.name: o.split for o in objects}
    assert by_name == {"cabinet-003": "seen", "cabinet-021": "unseen", "cabinet-007": "seen"}  # the suite's
    assert plan.episodes[0].reset.startswith(plan.episodes[0].object)


def test_a_written_plan_loads_back_equal(plan_file):
    plan = load_plan(plan_file)
    assert len(plan.episodes) == 12 and plan.seed == 5
    assert {e.object_split for e in plan.episodes if e.object == "mug"} == {"unseen"}


def _edit(path: Path, change) -> Path:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["episodes"][3].update(object="cabinet-099"), "episodes[3].object"),
        (lambda d: d["objects"].append({"name": "cabinet-099", "split": "seen", "fr3_id": 99}), "objects"),
        (lambda d: d.update(episodes=[]), "episodes"),
        (lambda d: d.update(checkpoint_sha256="0" * 64), "checkpoint_sha256"),
        (lambda d: d["episodes"][0].update(colour="red"), "colour"),
        (lambda d: d.pop("seed"), "seed"),
        (lambda d: d["episodes"][2].update(task="drawer-lift"), "episodes[2].task"),
        (lambda d: d["episodes"][1].update(object_split="seen", object="mug"), "episodes[1].object_split"),
    ],
)
def test_a_bad_plan_is_refused_in_one_line_naming_the_field(plan_file, change, field, capsys):
    _edit(plan_file, change)
    with pytest.raises(PlanError) as error:
        load_plan(plan_file)
    message = str(error.value)
    assert "\n" not in message and field in message
    assert main(["trial", "run", str(plan_file)]) == 2  # the console refuses it before any ROS
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and field in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("objects", "field"), [("3,99", "cabinet 99"), ("", "objects"), ("mug", "'mug'"), ("3,3", "twice")]
)
def test_trial_plan_refuses_unknown_objects_and_an_empty_plan(checkpoint, tmp_path, objects, field, capsys):
    out = tmp_path / "plan.yaml"
    args = ["trial", "plan", "--checkpoint", checkpoint, "--tasks", "drawer-open", "--objects", objects]
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: objects") and field in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_trial_plan_refuses_a_task_the_checkpoint_lacks_and_never_overwrites(checkpoint, plan_file, capsys):
    base = ["trial", "plan", "--checkpoint", checkpoint, "--objects", "3"]
    assert main([*base, "--tasks", "drawer-lift", "--out", str(plan_file.with_name("x.yaml"))]) == 2
    assert "tasks:" in capsys.readouterr().err
    before = plan_file.read_text()
    assert main([*base, "--tasks", "drawer-open", "--out", str(plan_file)]) == 2
    assert "--out" in capsys.readouterr().err and plan_file.read_text() == before
