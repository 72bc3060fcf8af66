"""`mtdagger eval` names its failed episodes by reset seed, under each robustness condition, and
reports when the successful ones first succeeded."""

from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from mtdagger.data.episode import Episode
from mtdagger.training.evaluate import TaskResult, evaluate_student, failed_seeds_lines, results_table


class _FailChosenSeeds:
    """A rollout engine (RolloutEngine) whose episodes fail exactly on the chosen seeds; the others
    first succeed at step (seed % 10) of 10 and stay successful."""

    def __init__(self, failing: set[int]):
        self.failing = failing

    def collect(self, jobs, backend_config, student_factory, contract, *, progress):
        for job in reversed(jobs):  # completion order is not job order
            steps = 10
            success = job.seed not in self.failing
            yield Episode(
                task_name=job.task,
                task_index=job.task_index,
                seed=job.seed,
                beta=job.beta,
                states=np.zeros((steps, 4), np.float32),
                privileged=np.zeros((steps, 2), np.float32),
                actions=np.zeros((steps, 4), np.float32),
                expert_actions=np.zeros((steps, 4), np.float32),
                actor_is_expert=np.zeros(steps, bool),
                success_per_step=(np.arange(steps) >= job.seed % 10) & success,
                metadata={"first_success_step": job.seed % 10 if success else None},
            )


def test_evaluate_student_records_the_failed_seeds_of_each_task():
    tasks = ["drawer-open", "drawer-close"]
    # Seeds: seed + 1000 * task index + episode, so drawer-close's episodes are 11000..11003.
    engine = _FailChosenSeeds({10002, 11000, 11003})
    results = evaluate_student(
        lambda: None, None, tasks, tasks, episodes=4, seed=10000, contract=None, max_steps=None, engine=engine
    )
    assert [(r.task, r.successes, r.failed_seeds) for r in results] == [
        ("drawer-open", 3, (10002,)),
        ("drawer-close", 2, (11000, 11003)),
    ]
    assert [(r.first_success_steps, r.median_first_success) for r in results] == [
        ((0, 1, 3), 1),
        ((1, 2), 1.5),
    ]
    out = io.StringIO()
    Console(file=out, width=200).print(results_table(results, "t"))
    row = next(line for line in out.getvalue().splitlines() if "drawer-close" in line)
    assert row.split("│")[-2].strip() == "2"  # the median 1.5, rounded half to even


def test_failed_seeds_lines_show_every_condition_of_a_failing_task_only():
    results = {
        "clean": [TaskResult("reach-v3", 3, 2, 9.0, (7,)), TaskResult("push-v3", 3, 3, 9.0)],
        "noise": [TaskResult("reach-v3", 3, 1, 9.0, (7, 8)), TaskResult("push-v3", 3, 3, 9.0)],
    }
    lines = failed_seeds_lines(results)
    assert lines == ["  reach-v3  clean: 7 | noise: 7, 8"]
    no_failure = {"clean": [TaskResult("push-v3", 3, 3, 9.0)], "noise": [TaskResult("push-v3", 3, 3, 9.0)]}
    assert failed_seeds_lines(no_failure) == []
    one_side = {
        "clean": [TaskResult("reach-v3", 3, 3, 9.0)],
        "noise": [TaskResult("reach-v3", 3, 2, 9.0, (5,))],
    }
    assert failed_seeds_lines(one_side) == ["  reach-v3  clean: - | noise: 5"]


def test_eval_prints_the_failed_seeds_under_the_robustness_table(tmp_path, monkeypatch, capsys):
    import mtdagger.training.evaluate as evaluate_module
    from mtdagger.cli import main
    from tests.test_robustness import _checkpoint_trained_in

    def fake_evaluate(factory, backend_config, tasks, run_tasks, **kwargs):
        noisy = backend_config.camera.noise.enabled
        return [TaskResult(task, 2, 1, 10.0, (10001,) if noisy else (10000,)) for task in tasks]

    monkeypatch.setattr(evaluate_module, "evaluate_student", fake_evaluate)
    _checkpoint_trained_in(tmp_path / "ck", "metaworld")
    args = ["eval", "--checkpoint", str(tmp_path / "ck"), "--episodes", "2", "--robustness"]
    assert main([*args, "--conditions", "clean,noise"]) == 0
    out = capsys.readouterr().out
    assert "failed episodes, by reset seed" in out
    assert "clean: 10000 | noise: 10001" in out
