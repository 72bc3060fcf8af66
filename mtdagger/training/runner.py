"""The training runner: drives `MultitaskDAgger` (algorithm.py) round by round through a run folder.

The algorithm decides what a round does; the runner owns everything a run leaves behind and
everything a person watches: the run folder (run_folder.py), resume, the episode store,
checkpoints, per-round metrics, TensorBoard, the console and the plots. It builds the
algorithm's collaborators (collection.py's collector and aggregate, `RunCheckpoints` as the
student publisher, success_signal.py's β = 0 evaluation) and records each `RoundResult`.

Resume: every finished episode is in the store's manifest and `state.json` records the last
completed round with the scheduler's state, so a killed run repeats at most the unfinished
part of one round. Allocation is a pure function of the scheduler state and episode seeds are a
pure function of (round, task, index): re-running a round skips episodes already stored. The run
id is saved before the first episode, a round's complete checkpoint (written as one directory
rename) is loaded rather than retrained, and each round reseeds torch (init and batch order), so
a resumed run is bit-identical to an uninterrupted one (tests/test_kill_train.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from mtdagger.control.action import ActionConvention
from mtdagger.data.normalization import NormalizationStats
from mtdagger.data.store import EpisodeStore
from mtdagger.policy.checkpoint import (
    CheckpointMeta,
    is_complete_checkpoint,
    load_checkpoint,
    publish_checkpoint,
)
from mtdagger.policy.networks import build_student, student_config_class
from mtdagger.policy.student import CheckpointStudentFactory
from mtdagger.provenance import git_commit
from mtdagger.scheduling import TaskScheduler, make_scheduler
from mtdagger.testing_hooks import pause_point
from mtdagger.training.algorithm import MultitaskDAgger, PublishedStudent, RoundResult
from mtdagger.training.bc import BCTrainer
from mtdagger.training.collection import StoreAggregate, StoreCollector
from mtdagger.training.config import TrainConfig
from mtdagger.training.plots import write_training_plots
from mtdagger.training.run_folder import RunFolder
from mtdagger.training.sim_setup import (
    BackendDescription,
    backend_config_for,
    describe_backend,
    resolve_run_tasks,
)
from mtdagger.training.success_signal import BetaZeroEvaluation


class DaggerRunner:
    """One training run in one folder: `DaggerRunner(config, out, resume=...).train()`."""

    def __init__(
        self, config: TrainConfig, run_dir: str | Path, *, resume: bool = False, engine: Any = None
    ) -> None:
        self.config = config
        # Where rollouts run: None = the local pool; else a RolloutEngine such as Ray actors
        # (mtdagger/distributed/, built by the command from `config.ray`). Same episodes either way.
        self.engine = engine
        self.run = RunFolder(run_dir)
        self.tasks = resolve_run_tasks(config.sim)
        self.backend_config = backend_config_for(
            config.sim, self.tasks, render_depth=config.uses_point_clouds
        )
        self.backend = describe_backend(self.backend_config)
        self.run.create(config.to_dict(), resume=resume)  # only once the config has proven usable
        state = self.run.load_state() if resume else None
        if state is None and resume:  # a run from before the run id was saved at creation
            state = _state_from_store(self.run.data_dir)
        self.run_id = state["run_id"] if state else f"{config.name}-{int(time.time())}"
        self.store = EpisodeStore(self.run.data_dir, self.run_id)
        scheduler = make_scheduler(self.tasks, config.scheduler)
        self.completed_round = -1
        self.metrics: list[dict[str, Any]] = []
        if state:
            self.completed_round = int(state["completed_round"])
            if state.get("scheduler") is not None:
                scheduler.load_state_dict(state["scheduler"])
            self.metrics = self.run.load_metrics()[: self.completed_round + 1]
        else:  # the run id is durable before the first episode is stored under it
            self.run.save_state({"run_id": self.run_id, "completed_round": -1, "scheduler": None})
        self.console = Console()
        self.checkpoints = RunCheckpoints(
            self.run,
            config,
            tasks=self.tasks,
            action_convention=self.backend.action_convention,
            store=self.store,
            run_id=self.run_id,
            console=self.console,
        )
        self.algorithm = self._build_algorithm(scheduler)
        self.tb = None

    def _build_algorithm(self, scheduler: TaskScheduler) -> MultitaskDAgger:
        """The algorithm, wired to this run's store, checkpoints and simulator."""
        cfg, tasks = self.config, self.tasks
        rollouts = {
            "backend_config": self.backend_config,
            "contract": cfg.point_cloud,
            "max_steps": cfg.sim.max_episode_steps,
            "workers": cfg.workers,
            "engine": self.engine,
        }
        return MultitaskDAgger(
            tasks=tasks,
            settings=cfg.dagger,
            seed=cfg.seed,
            scheduler=scheduler,
            beta=cfg.dagger.beta,
            trainer=BCTrainer(cfg.bc, seed=cfg.seed),
            new_model=lambda: build_student(
                cfg.student.architecture, student_architecture_config(cfg, len(tasks), self.backend)
            ),
            use_point_clouds=cfg.uses_point_clouds,
            collector=StoreCollector(
                tasks=tasks,
                store=self.store,
                run_seed=cfg.seed,
                record_clouds=cfg.uses_point_clouds,
                console=self.console,
                **rollouts,
            ),
            aggregate=StoreAggregate(self.store, holdout_fraction=cfg.dagger.holdout_fraction, seed=cfg.seed),
            publisher=self.checkpoints,
            success_signal=BetaZeroEvaluation(
                tasks=tuple(tasks),
                episodes_per_task=cfg.dagger.eval_episodes_per_task,
                run_seed=cfg.seed,
                student_reads_clouds=cfg.uses_point_clouds,
                **rollouts,
            ),
        )

    # ------------------------------------------------------------------ public

    def train(self) -> Path:
        """Run the remaining rounds, then write the final checkpoint; returns its directory."""
        from torch.utils.tensorboard import SummaryWriter

        self.tb = SummaryWriter(str(self.run.tensorboard_dir))
        device = self.algorithm.trainer.device
        threads = f"{torch.get_num_threads()} threads"
        where = torch.cuda.get_device_name(device) if device.type == "cuda" else threads
        self.console.print(f"behaviour cloning on {device.type} ({where})")
        try:
            if self.completed_round >= 0:
                self.console.print(f"resuming {self.run.root} after round {self.completed_round}")
                self.algorithm.resume(self.checkpoints.load(self.completed_round))
            for round_index in range(self.completed_round + 1, self.config.dagger.rounds + 1):
                self._record(self.algorithm.run_round(round_index))
            final = self.run.checkpoint_dir(None)
            if not is_complete_checkpoint(final):
                self.checkpoints.save(
                    final, self.algorithm.model, self.algorithm.stats, self.config.dagger.rounds
                )
            self._print_summary()
            return final
        finally:
            self.tb.close()

    # ------------------------------------------------------------------ recording a round

    def _record(self, result: RoundResult) -> None:
        """Metrics and logs first, then the resume point (state.json), then the plots."""
        k = result.round
        previous_total = self.metrics[-1]["cumulative_expert_episodes"] if self.metrics else 0
        checkpoint = self.run.checkpoint_dir(k).relative_to(self.run.root)
        entry = metrics_entry(result, previous_total, str(checkpoint))
        counts = getattr(self.engine, "counts", None)
        if counts is not None:  # e.g. Ray: jobs re-run after a worker died, so far in this process
            entry["rollout_engine"] = counts.as_dict()
        self.metrics.append(entry)
        self._log_round(entry)
        self.completed_round = k
        self.run.save_metrics(self.metrics)
        pause_point(f"state:{k}")
        scheduler_state = self.algorithm.scheduler.state_dict()
        self.run.save_state({"run_id": self.run_id, "completed_round": k, "scheduler": scheduler_state})
        write_training_plots(self.metrics, self.tasks, self.run.plots_dir)

    def _log_round(self, entry: dict[str, Any]) -> None:
        k = entry["round"]
        if entry["mean_eval_success"] is not None:
            self.tb.add_scalar("success/mean", entry["mean_eval_success"], k)
            self.tb.add_scalar("success/worst_task", entry["worst_eval_success"], k)
            self.tb.add_scalar(
                "success/mean_vs_expert_episodes",
                entry["mean_eval_success"],
                entry["cumulative_expert_episodes"],
            )
        for task, value in entry["eval_success"].items():
            self.tb.add_scalar(f"success_per_task/{task}", value, k)
        for task, count in entry["allocation"].items():
            self.tb.add_scalar(f"allocation/{task}", count, k)
        self.tb.add_scalar("bc/train_loss", entry["train_loss"], k)
        self.tb.add_scalar("data/transitions", entry["train_transitions"], k)
        self.tb.flush()
        self.console.print(
            f"round {k}: mean success {entry['mean_eval_success']}, "
            f"expert episodes so far {entry['cumulative_expert_episodes']}, "
            f"train loss {entry['train_loss']:.4f}"
        )

    def _print_summary(self) -> None:
        table = Table(title=f"{self.config.name}: student success per task (β=0 eval) by round")
        table.add_column("task")
        for m in self.metrics:
            table.add_column(f"r{m['round']}", justify="right")
        for task in self.tasks:
            table.add_row(task, *[_fmt(m["eval_success"].get(task)) for m in self.metrics])
        table.add_row("[bold]mean", *[_fmt(m["mean_eval_success"]) for m in self.metrics])
        table.add_row("expert eps", *[str(m["cumulative_expert_episodes"]) for m in self.metrics])
        self.console.print(table)


def metrics_entry(result: RoundResult, previous_total: int, checkpoint: str) -> dict[str, Any]:
    """One metrics.json entry (the format plots, benchmarks and reports read)."""
    success = result.eval_success
    return {
        "round": result.round,
        "beta": result.beta,
        "allocation": result.allocation,
        "expert_episodes": result.expert_episodes,
        "cumulative_expert_episodes": previous_total + result.expert_episodes,
        "collection_success": result.collection_success,
        "eval_success": success,
        "mean_eval_success": float(np.mean(list(success.values()))) if success else None,
        "worst_eval_success": float(min(success.values())) if success else None,
        "heldout_loss_before": result.heldout_loss_before,
        "heldout_loss_after": result.heldout_loss_after,
        "train_loss": result.train_loss,
        "train_transitions": result.train_transitions,
        "heldout_transitions": result.heldout_transitions,
        "rollout_seconds": result.rollout_seconds,
        "train_seconds": result.train_seconds,
        "scheduler": result.scheduler,
        "checkpoint": checkpoint,
    }


class RunCheckpoints:
    """The run's checkpoints: the algorithm's student publisher (one per round), and the final one.

    A round's student reaches rollout workers as a checkpoint directory (workers load it
    themselves: nothing torch-specific is pickled), published with one rename so that a kill
    leaves either a complete checkpoint or none.
    """

    def __init__(
        self,
        run: RunFolder,
        config: TrainConfig,
        *,
        tasks: list[str],
        action_convention: ActionConvention,
        store: EpisodeStore,
        run_id: str,
        console: Console,
    ) -> None:
        self.run, self.config, self.tasks = run, config, tasks
        self.action_convention = action_convention
        self.store, self.run_id, self.console = store, run_id, console

    def publish(
        self, round_index: int, model: nn.Module, stats: NormalizationStats, train_loss: float
    ) -> CheckpointStudentFactory:
        directory = self.run.checkpoint_dir(round_index)
        self.save(directory, model, stats, round_index, train_loss=train_loss)
        return CheckpointStudentFactory(str(directory))

    def restore(self, round_index: int) -> PublishedStudent | None:
        directory = self.run.checkpoint_dir(round_index)
        if not is_complete_checkpoint(directory):
            return None
        self.console.print(f"resume: {directory.name} is complete; loading it instead of retraining")
        return self.load(round_index)

    def load(self, round_index: int) -> PublishedStudent:
        directory = self.run.checkpoint_dir(round_index)
        model, meta = load_checkpoint(directory, expect_tasks=self.tasks)
        return PublishedStudent(
            model=model,
            stats=NormalizationStats.from_dict(meta.normalization),
            train_loss=float(meta.provenance.get("train_loss", float("nan"))),
            factory=CheckpointStudentFactory(str(directory)),
        )

    def save(
        self,
        directory: Path,
        model: nn.Module,
        stats: NormalizationStats,
        round_index: int,
        train_loss: float | None = None,
    ) -> None:
        config = self.config
        meta = CheckpointMeta.for_model(
            model,
            tasks=self.tasks,
            contract=config.point_cloud if config.uses_point_clouds else None,
            action_convention=self.action_convention,
            normalization=stats,
            execution_contract=self._execution_contract(),
            provenance={
                "git_commit": git_commit(),
                "dataset_hash": self.store.dataset_hash(),
                "round": round_index,
                "scheduler": config.scheduler.name,
                "run_id": self.run_id,
                "config": config.name,
                "max_episode_steps": config.sim.max_episode_steps,
                **({} if train_loss is None else {"train_loss": train_loss}),
                "sim_backend": config.sim.backend,
            },
        )
        publish_checkpoint(directory, model, meta)

    def _execution_contract(self):
        """What the simulator executed, in the terms of the robot config and node config that the
        robot's nodes read (mtdagger.deployment.node_config.execution_contract_for): recorded in
        every checkpoint, checked by the policy node and the arm controller at start-up."""
        from mtdagger.deployment.node_config import execution_contract_for
        from mtdagger.deployment.plan import SIMULATORS

        config = self.config
        simulator = SIMULATORS.get(config.sim.backend)
        if simulator is None:
            return None  # a simulator without a robot of the deployed graph: nothing to check against
        return execution_contract_for(
            simulator.robot,
            point_cloud_contract=config.point_cloud if config.uses_point_clouds else None,
            action=self.action_convention,
        )


def student_architecture_config(
    config: TrainConfig, num_tasks: int, backend: BackendDescription
) -> dict[str, Any]:
    """The student's architecture config: the preset's fields plus those the run derives (which
    ones, the student's own config class declares: `derived_fields`)."""
    config_cls = student_config_class(config.student.architecture)
    num_points = None if config.point_cloud is None else config.point_cloud.num_points
    derived = config_cls.derived_fields(
        num_tasks=num_tasks, num_points=num_points, privileged_dim=backend.privileged_dim
    )
    return {**config.student.config, **derived}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _state_from_store(data_dir: Path) -> dict[str, Any] | None:
    """Resume point of a run killed before its first state.json: the store's one run id, round -1."""
    run_ids = EpisodeStore.run_ids_in(data_dir)
    if len(run_ids) != 1:
        return None
    return {"run_id": run_ids[0], "completed_round": -1, "scheduler": None}
