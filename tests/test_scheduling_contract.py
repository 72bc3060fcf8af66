"""What every scheduler promises the DAgger loop: budget arithmetic, resume, input checks, registry."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtdagger.scheduling import (
    SCHEDULERS,
    DratsConfig,
    DratsScheduler,
    HybridConfig,
    TaskFeedback,
    TaskNeedConfig,
    make_scheduler,
    scheduler_config,
    scheduler_config_from_dict,
    scheduler_config_like,
)

TASKS = ["reach", "push", "pick-place", "door-open"]
NAMES = sorted(SCHEDULERS)


def _feedback(round_: int) -> dict[str, TaskFeedback]:
    """A varied, deterministic round: some tasks with losses, one task skipped every third round."""
    out = {}
    for i, task in enumerate(TASKS):
        if (round_ + i) % 3 == 0:
            continue
        n = 2 + (round_ * 3 + i) % 5
        out[task] = TaskFeedback(
            n, (round_ + 2 * i) % (n + 1), 1.0 + i * 0.1, 0.9 - 0.05 * ((round_ + i) % 4)
        )
    return out


def test_registry_holds_every_scheduler_and_unknown_names_list_the_valid_ones():
    assert set(NAMES) == {"uniform", "task_need", "perf_gain", "hybrid", "drats", "amf"}
    with pytest.raises(ValueError, match=r"scheduler\.name='taskneed' is unknown") as err:
        scheduler_config("taskneed")
    for name in NAMES:
        assert name in str(err.value)


@pytest.mark.parametrize("name", NAMES)
def test_before_any_feedback_every_scheduler_splits_evenly(name):
    counts = make_scheduler(TASKS, scheduler_config(name)).allocate(22)
    assert sum(counts.values()) == 22
    assert sorted(counts.values()) == [5, 5, 6, 6]


round_feedback = st.lists(
    st.tuples(st.integers(0, 8), st.floats(0, 1), st.one_of(st.none(), st.floats(0, 3), st.floats(0, 3))),
    min_size=len(TASKS),
    max_size=len(TASKS),
)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    rounds=st.lists(round_feedback, min_size=1, max_size=6),
    budget=st.integers(0, 60),
    floor=st.integers(0, 4),
    temperature=st.sampled_from([1e-3, 0.1, 0.5, 5.0]),
)
def test_counts_sum_to_budget_and_respect_the_floor_after_any_history(
    name, rounds, budget, floor, temperature
):
    config = scheduler_config_like(TaskNeedConfig(min_per_task=floor, temperature=temperature), name)
    scheduler = make_scheduler(TASKS, config)
    for round_ in rounds:
        feedback = {}
        for task, (n, rate, loss) in zip(TASKS, round_):
            losses = (loss, loss * rate) if loss is not None else (None, None)
            feedback[task] = TaskFeedback(n, int(n * rate), *losses)
        scheduler.update(feedback)
        counts = scheduler.allocate(budget)
        assert list(counts) == TASKS
        assert sum(counts.values()) == budget
        expected_floor = floor if budget >= floor * len(TASKS) else budget // len(TASKS)
        assert min(counts.values()) >= expected_floor
        weights = [d["weight"] for d in scheduler.diagnostics().values()]
        assert sum(weights) == pytest.approx(1.0)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_through_json_reproduces_the_run(name):
    config = scheduler_config_like(TaskNeedConfig(temperature=0.3), name)
    original = make_scheduler(TASKS, config)
    for round_ in range(4):
        original.update(_feedback(round_))
    state = json.loads(json.dumps(original.state_dict()))
    resumed = make_scheduler(TASKS, config)
    resumed.load_state_dict(state)
    assert resumed.allocate(17) == original.allocate(17)
    assert resumed.diagnostics() == original.diagnostics()
    for round_ in range(4, 7):  # and it keeps going identically
        original.update(_feedback(round_))
        resumed.update(_feedback(round_))
        assert resumed.allocate(17) == original.allocate(17)
    assert resumed.state_dict() == original.state_dict()


@pytest.mark.parametrize("name", NAMES)
def test_a_fresh_scheduler_differs_from_a_trained_one(name):
    """Guards the round-trip test: the state must actually carry something."""
    trained = make_scheduler(TASKS, scheduler_config(name))
    for round_ in range(4):
        trained.update(_feedback(round_))
    assert trained.state_dict() != make_scheduler(TASKS, scheduler_config(name)).state_dict()


def test_state_for_another_scheduler_or_task_list_is_refused():
    state = make_scheduler(TASKS, scheduler_config("task_need")).state_dict()
    with pytest.raises(ValueError, match="scheduler 'task_need'"):
        make_scheduler(TASKS, scheduler_config("hybrid")).load_state_dict(state)
    with pytest.raises(ValueError, match="tasks"):
        make_scheduler(TASKS[::-1], scheduler_config("task_need")).load_state_dict(state)
    broken = json.loads(json.dumps(state))
    broken["success"]["kalman"]["mean"] = [0.5, 0.5]
    with pytest.raises(ValueError, match="Kalman state"):
        make_scheduler(TASKS, scheduler_config("task_need")).load_state_dict(broken)


@pytest.mark.parametrize("name", NAMES)
def test_allocate_is_pure_and_bad_feedback_changes_nothing(name):
    scheduler = make_scheduler(TASKS, scheduler_config(name))
    scheduler.update(_feedback(0))
    before = scheduler.state_dict()
    assert scheduler.allocate(13) == scheduler.allocate(13)
    with pytest.raises(ValueError, match="unknown task"):
        scheduler.update({"reach": TaskFeedback(3, 3, 1.0, 0.5), "fly": TaskFeedback(1, 0)})
    with pytest.raises(ValueError, match="TaskFeedback"):
        scheduler.update({"reach": TaskFeedback(3, 3), "push": (2, 1)})
    assert scheduler.state_dict() == before


@pytest.mark.parametrize("name", NAMES)
def test_budget_zero_and_budget_below_the_floors(name):
    scheduler = make_scheduler(TASKS, scheduler_config(name, min_per_task=2))
    scheduler.update(_feedback(1))
    assert scheduler.allocate(0) == dict.fromkeys(TASKS, 0)
    counts = scheduler.allocate(6)  # 6 < 2 x 4: the floor drops to 6 // 4 = 1
    assert sum(counts.values()) == 6 and min(counts.values()) >= 1
    with pytest.raises(ValueError, match="budget"):
        scheduler.allocate(-1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: TaskFeedback(2, 3), "successes"),
        (lambda: TaskFeedback(-1, 0), "rollouts"),
        (lambda: TaskFeedback(2.0, 1), "integer"),
        (lambda: TaskFeedback(2, 1, loss_before=1.0), "both"),
        (lambda: TaskFeedback(2, 1, float("nan"), 1.0), "finite"),
        (lambda: TaskNeedConfig(temperature=0.0), r"scheduler\.temperature must be > 0"),
        (lambda: TaskNeedConfig(min_per_task=-1), r"scheduler\.min_per_task must be >= 0"),
        (lambda: TaskNeedConfig(min_per_task=1.5), r"scheduler\.min_per_task must be an integer"),
        (lambda: TaskNeedConfig(kalman="yes"), r"scheduler\.kalman must be true or false"),
        (lambda: HybridConfig(need_weight=1.5), r"scheduler\.need_weight must be >= 0 and <= 1"),
        (lambda: TaskNeedConfig(prior_mean=float("nan")), r"scheduler\.prior_mean must be finite"),
        (lambda: DratsConfig(step=9.0), r"scheduler\.step must be in \(0, eta=8\.0\]"),
        (lambda: DratsConfig(targets={"reach": 0.0}), r"scheduler\.targets\['reach'\]"),
        (
            lambda: scheduler_config_from_dict({"temprature": 0.5}),
            r"\['temprature'\].*valid: .*'temperature'",
        ),
        (
            lambda: scheduler_config("drats", temperature=0.5),
            r"\['temperature'\] in scheduler for name 'drats'",
        ),
        (lambda: DratsScheduler(TASKS, TaskNeedConfig()), "the drats scheduler needs a DratsConfig"),
        (lambda: make_scheduler([], TaskNeedConfig()), "at least one task"),
        (lambda: make_scheduler(["a", "a"], TaskNeedConfig()), "duplicate"),
        (lambda: make_scheduler("reach", TaskNeedConfig()), "single string"),
    ],
)
def test_bad_input_is_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trips_through_plain_data(name):
    config = scheduler_config_like(TaskNeedConfig(min_per_task=2, temperature=0.2), name)
    data = json.loads(json.dumps(config.to_dict()))
    assert data["name"] == name
    assert scheduler_config_from_dict(data) == config
    drats = scheduler_config("drats", targets={"reach": 0.9})
    assert scheduler_config_from_dict(json.loads(json.dumps(drats.to_dict()))) == drats


def test_each_scheduler_has_its_own_config_class_named_like_it():
    for name, cls in SCHEDULERS.items():
        assert cls.config_class.name == name
        assert type(scheduler_config(name)) is cls.config_class
    assert scheduler_config_from_dict({}) == TaskNeedConfig()  # no name: the default scheduler


@pytest.mark.parametrize("name", NAMES)
def test_a_single_task_gets_the_whole_budget(name):
    scheduler = make_scheduler(["only"], scheduler_config(name, min_per_task=3))
    scheduler.update({"only": TaskFeedback(4, 1, 1.0, 0.5)})
    assert scheduler.diagnostics()["only"]["weight"] == pytest.approx(1.0)
    assert scheduler.diagnostics()["only"]["rank"] == 0.5  # documented single-task rank
    assert scheduler.allocate(7) == {"only": 7}
    assert scheduler.allocate(2) == {"only": 2}  # below the floor: the floor drops to what fits
