"""The multitask DAgger loop (DESIGN.md §5), readable top to bottom.

Round 0: the expert acts (β = 1) for `initial_episodes_per_task` episodes per task; BC.
Round k ≥ 1:
  1. the scheduler splits this round's budget B of expert-labelled episodes across tasks;
  2. each task is rolled out with β-mixing (β = schedule(k)); the task's expert labels every
     visited state, and which policy acted is recorded per step;
  3. episodes are aggregated in the episode store; the student is fine-tuned (or retrained from
     scratch) on every training episode so far;
  4. each task's held-out BC loss is recorded before and after the update (performance gain),
     both in the action units of the statistics in force before the update, so that the two are
     comparable with `retrain: scratch` too (which recomputes the statistics); the held-out set
     is fixed per episode (split_by_task);
  5. the new student is evaluated with β = 0 on fixed seeds that are never stored
     (`eval_episodes_per_task`): that success is what metrics and plots report AND what the
     scheduler receives, every round (DESIGN.md §5). The β-mixed collection success is only
     logged: the expert acts on part of those steps, which inflates every task and hides the
     differences the scheduler must see.

Resume: every finished episode is in the store's manifest and `state.json` records the last
completed round with the scheduler's state, so a killed run repeats at most the unfinished
part of one round. Allocation is a pure function of the scheduler state and episode seeds are a
pure function of (round, task, index): re-running a round skips episodes already stored. The run
id is saved before the first episode, a round's complete checkpoint (written as one directory
rename) is loaded rather than retrained, and each round reseeds torch (init and batch order), so
a resumed run is bit-identical to an uninterrupted one (tests/test_kill_train.py).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from mtdagger.data.dataset import TransitionDataset, split_by_task
from mtdagger.data.episode import Episode
from mtdagger.data.normalization import NormalizationStats
from mtdagger.data.store import EpisodeStore
from mtdagger.policy.checkpoint import CheckpointMeta, is_complete_checkpoint, publish_checkpoint
from mtdagger.policy.networks import build_student
from mtdagger.policy.student import CheckpointStudentFactory
from mtdagger.provenance import git_commit
from mtdagger.scheduling import TaskFeedback, make_scheduler
from mtdagger.testing_hooks import pause_point
from mtdagger.training.bc import BCTrainer
from mtdagger.training.beta import make_beta_schedule
from mtdagger.training.config import TrainConfig
from mtdagger.training.embeddings import student_embeddings
from mtdagger.training.plots import write_training_plots
from mtdagger.training.rollout import RolloutJob, collect_episodes
from mtdagger.training.run_folder import RunFolder
from mtdagger.training.sim_setup import backend_config_for, describe_backend, resolve_run_tasks

log = logging.getLogger(__name__)

# Episode seeds: disjoint ranges for training rounds and for evaluation.
_ROUND_STRIDE = 100_000
_TASK_STRIDE = 1_000
_EVAL_SEED_OFFSET = 50_000_000


def episode_seed(base_seed: int, round_index: int, task_index: int, j: int) -> int:
    return base_seed * 1_000_000_000 + round_index * _ROUND_STRIDE + task_index * _TASK_STRIDE + j


class DaggerLoop:
    def __init__(self, config: TrainConfig, run_dir: str | Path, *, resume: bool = False) -> None:
        self.config = config
        self.run = RunFolder(run_dir)
        self.tasks = resolve_run_tasks(config.sim)
        self.backend_config = backend_config_for(
            config.sim, self.tasks, render_depth=config.uses_point_clouds
        )
        self.backend = describe_backend(self.backend_config)
        self.action_convention = self.backend.action_convention
        self.run.create(config.to_dict(), resume=resume)  # only once the config has proven usable
        state = self.run.load_state() if resume else None
        if state is None and resume:  # a run from before the run id was saved at creation
            state = _state_from_store(self.run.data_dir)
        self.run_id = state["run_id"] if state else f"{config.name}-{int(time.time())}"
        self.store = EpisodeStore(self.run.data_dir, self.run_id)
        self.scheduler = make_scheduler(self.tasks, config.scheduler)
        self.beta = make_beta_schedule(config.dagger.beta.schedule, **config.dagger.beta.params)
        self.trainer = BCTrainer(config.bc, config.student.architecture, seed=config.seed)
        self.completed_round = -1
        self.metrics: list[dict[str, Any]] = []
        self.model: torch.nn.Module | None = None
        self.stats: NormalizationStats | None = None  # the statistics self.model was trained with
        self._episodes: dict[str, Episode] = {}  # episode_id -> loaded episode (each read once)
        if state:
            self.completed_round = int(state["completed_round"])
            if state.get("scheduler") is not None:
                self.scheduler.load_state_dict(state["scheduler"])
            self.metrics = self.run.load_metrics()[: self.completed_round + 1]
        else:  # the run id is durable before the first episode is stored under it
            self.run.save_state({"run_id": self.run_id, "completed_round": -1, "scheduler": None})
        torch.manual_seed(config.seed)
        self.console = Console()
        self.tb = None

    # ------------------------------------------------------------------ public

    def train(self) -> Path:
        from torch.utils.tensorboard import SummaryWriter

        self.tb = SummaryWriter(str(self.run.tensorboard_dir))
        device = self.trainer.device
        threads = f"{torch.get_num_threads()} threads"
        where = torch.cuda.get_device_name(device) if device.type == "cuda" else threads
        self.console.print(f"behaviour cloning on {device.type} ({where})")
        try:
            if self.completed_round >= 0:
                self.console.print(f"resuming {self.run.root} after round {self.completed_round}")
                self.model = self._load_round_model(self.completed_round)
            for round_index in range(self.completed_round + 1, self.config.dagger.rounds + 1):
                self._run_round(round_index)
            final = self.run.checkpoint_dir(None)
            if not is_complete_checkpoint(final):
                self._save_checkpoint(final, self.config.dagger.rounds)
            self._print_summary()
            return final
        finally:
            self.tb.close()

    # ------------------------------------------------------------------ one round

    def _run_round(self, k: int) -> None:
        cfg = self.config
        beta = self.beta(k)
        if k == 0:
            allocation = {t: cfg.dagger.initial_episodes_per_task for t in self.tasks}
        else:
            allocation = self.scheduler.allocate(cfg.dagger.budget_per_round)
        self.console.rule(f"round {k}  β={beta:.2f}  expert episodes={sum(allocation.values())}")

        t0 = time.perf_counter()
        collected = self._collect(k, allocation, beta)
        rollout_s = time.perf_counter() - t0

        train_eps, heldout_eps = self._split()
        # Loss before the update: the current student, with the statistics it was trained with;
        # both losses are measured in the action units of these statistics (module doc, step 4).
        loss_stats = self.stats
        loss_before = {}
        if self.model is not None:
            loss_before = self._task_losses(self.model, self._dataset(heldout_eps, self.stats))
        checkpoint = self.run.checkpoint_dir(k)
        reuse = is_complete_checkpoint(checkpoint)  # a resume after this round's checkpoint was written
        # Per-round seeds: a resumed round draws the same init and batches as an uninterrupted one.
        torch.manual_seed(_round_seed(cfg.seed, k))
        self.trainer.generator.manual_seed(_round_seed(cfg.seed, k))
        if reuse:
            self.console.print(f"resume: {checkpoint.name} is complete; loading it instead of retraining")
            self.model = self._load_round_model(k)
        elif self.model is None or cfg.dagger.retrain == "scratch":
            self.stats = NormalizationStats.from_episodes(train_eps)
            self.model = self._new_model()
        # Fine-tuning keeps the statistics fixed: changing them would shift the inputs and outputs
        # of a model trained on the old ones (and inflate loss_before, hence perf-gain).
        train_ds = self._dataset(train_eps, self.stats)
        heldout_ds = self._dataset(heldout_eps, self.stats)
        t1 = time.perf_counter()
        if reuse:
            train_loss = float(self._checkpoint_meta(k).provenance.get("train_loss", float("nan")))
        else:
            pause_point(f"bc:{k}")
            train_loss = self.trainer.fit(self.model, train_ds, desc=f"BC round {k}").epoch_losses[-1]
        train_s = time.perf_counter() - t1
        loss_after = self._task_losses(self.model, heldout_ds, loss_stats)
        if not reuse:
            self._save_checkpoint(checkpoint, k, train_loss=train_loss)

        eval_success = self._evaluate(k, checkpoint)
        collection_success = {
            t: (sum(e.success for e in eps) / len(eps)) for t, eps in collected.items() if eps
        }
        feedback = self._feedback(eval_success, loss_before, loss_after)
        if self.scheduler.wants_embeddings:  # AMF: the student's features of visited and training states
            self.scheduler.observe_embeddings(
                student_embeddings(
                    self.model,
                    self.trainer.forward,
                    train_ds,
                    self._eval_episodes,
                    lambda episodes: self._dataset(episodes, self.stats),
                )
            )
        self.scheduler.update(feedback)

        previous_total = self.metrics[-1]["cumulative_expert_episodes"] if self.metrics else 0
        entry = {
            "round": k,
            "beta": beta,
            "allocation": allocation,
            "expert_episodes": sum(allocation.values()),
            "cumulative_expert_episodes": previous_total + sum(allocation.values()),
            "collection_success": collection_success,
            "eval_success": eval_success,
            "mean_eval_success": float(np.mean(list(eval_success.values()))) if eval_success else None,
            "worst_eval_success": float(min(eval_success.values())) if eval_success else None,
            "heldout_loss_before": loss_before,
            "heldout_loss_after": loss_after,
            "train_loss": train_loss,
            "train_transitions": len(train_ds),
            "heldout_transitions": len(heldout_ds),
            "rollout_seconds": rollout_s,
            "train_seconds": train_s,
            "scheduler": self.scheduler.diagnostics(),
            "checkpoint": str(checkpoint.relative_to(self.run.root)),
        }
        self.metrics.append(entry)
        self._log_round(entry)
        self.completed_round = k
        self.run.save_metrics(self.metrics)
        pause_point(f"state:{k}")
        self.run.save_state(
            {"run_id": self.run_id, "completed_round": k, "scheduler": self.scheduler.state_dict()}
        )
        write_training_plots(self.metrics, self.tasks, self.run.plots_dir)

    def _collect(self, k: int, allocation: dict[str, int], beta: float) -> dict[str, list[Episode]]:
        """Roll out this round's episodes; skip any already in the store (resume)."""
        jobs, collected = [], defaultdict(list)
        for task_index, task in enumerate(self.tasks):
            for j in range(allocation.get(task, 0)):
                seed = episode_seed(self.config.seed, k, task_index, j)
                if self.store.has(k, task, seed):
                    record = self.store.get(k, task, seed)
                    collected[task].append(self.store.load(record))
                    continue
                jobs.append(
                    RolloutJob(
                        task=task,
                        task_index=task_index,
                        seed=seed,
                        beta=beta,
                        record_clouds=self.config.uses_point_clouds,
                        max_steps=self.config.sim.max_episode_steps,
                    )
                )
        if collected:
            self.console.print(
                f"resume: {sum(map(len, collected.values()))} episodes of round {k} already stored"
            )
        factory = None if beta >= 1.0 else CheckpointStudentFactory(str(self.run.checkpoint_dir(k - 1)))
        student_id = None if factory is None else self._checkpoint_id(k - 1)
        for episode in collect_episodes(
            jobs,
            self.backend_config,
            factory,
            self.config.point_cloud,
            workers=self.config.workers,
            progress=True,
        ):
            if student_id is not None:
                episode = _with_student_id(episode, student_id)
            self.store.add(episode, round=k)
            collected[episode.task_name].append(episode)
            pause_point(f"rollouts:{k}:{sum(map(len, collected.values()))}")
        return collected

    def _evaluate(self, k: int, checkpoint: Path) -> dict[str, float]:
        n = self.config.dagger.eval_episodes_per_task
        keep = self.scheduler.wants_embeddings  # the visited states are the scheduler's input
        self._eval_episodes: dict[str, list[Episode]] = defaultdict(list)
        if n <= 0:
            return {}
        jobs = [
            RolloutJob(
                task=task,
                task_index=i,
                seed=_EVAL_SEED_OFFSET + episode_seed(self.config.seed, 0, i, j),
                beta=0.0,
                record_clouds=keep and self.config.uses_point_clouds,
                max_steps=self.config.sim.max_episode_steps,
            )
            for i, task in enumerate(self.tasks)
            for j in range(n)
        ]
        successes: dict[str, list[bool]] = defaultdict(list)
        factory = CheckpointStudentFactory(str(checkpoint))
        for episode in collect_episodes(
            jobs, self.backend_config, factory, self.config.point_cloud, workers=self.config.workers
        ):
            successes[episode.task_name].append(episode.success)
            if keep:
                self._eval_episodes[episode.task_name].append(episode)
        return {t: float(np.mean(successes[t])) for t in self.tasks if successes[t]}

    def _feedback(self, eval_success, loss_before, loss_after) -> dict[str, TaskFeedback]:
        """The scheduler's measurement: the new student's β = 0 evaluation (module doc, step 5).

        With `eval_episodes_per_task: 0` there is none, and success-based schedulers see no
        rollouts (their estimates stay at the prior)."""
        n_eval = self.config.dagger.eval_episodes_per_task
        feedback = {}
        for task_index, task in enumerate(self.tasks):
            rollouts = n_eval if task in eval_success else 0
            successes = round(eval_success.get(task, 0.0) * rollouts)
            before, after = loss_before.get(task_index), loss_after.get(task_index)
            if before is None or after is None:  # round 0 (no earlier student) or no held-out data
                before = after = None
            feedback[task] = TaskFeedback(rollouts, successes, loss_before=before, loss_after=after)
        return feedback

    # ------------------------------------------------------------------ helpers

    def _split(self) -> tuple[list[Episode], list[Episode]]:
        """Per-task train / held-out split of every stored episode (episodes are read from disk once)."""
        records = self.store.records()
        for record in records:
            if record.episode_id not in self._episodes:
                self._episodes[record.episode_id] = self.store.load(record)
        train_records, heldout_records = split_by_task(
            records, holdout_fraction=self.config.dagger.holdout_fraction, seed=self.config.seed
        )
        return (
            [self._episodes[r.episode_id] for r in train_records],
            [self._episodes[r.episode_id] for r in heldout_records],
        )

    def _dataset(self, episodes: list[Episode], stats: NormalizationStats) -> TransitionDataset:
        return TransitionDataset(episodes, use_point_clouds=self.config.uses_point_clouds, stats=stats)

    def _task_losses(
        self, model, dataset: TransitionDataset, loss_stats: NormalizationStats | None = None
    ) -> dict[int, float]:
        """Per-task MSE; in the action units of `loss_stats` when given (else the dataset's own)."""
        if model is None or len(dataset) == 0:
            return {}
        scale = None
        if loss_stats is not None:  # error in model units × std_model / std_ref = error in ref units
            scale = dataset.stats.std["action"] / loss_stats.std["action"]
        return self.trainer.per_task_loss(model, dataset, len(self.tasks), action_scale=scale)

    def _architecture_config(self) -> dict[str, Any]:
        cfg = dict(self.config.student.config)
        cfg["num_tasks"] = len(self.tasks)
        if self.config.student.architecture == "pointnet":
            cfg["num_points"] = self.config.point_cloud.num_points
        else:
            cfg["privileged_dim"] = self.backend.privileged_dim
        return cfg

    def _new_model(self) -> torch.nn.Module:
        return build_student(self.config.student.architecture, self._architecture_config())

    def _save_checkpoint(self, directory: Path, k: int, train_loss: float | None = None) -> None:
        meta = CheckpointMeta.for_model(
            self.model,
            tasks=self.tasks,
            contract=self.config.point_cloud if self.config.uses_point_clouds else None,
            action_convention=self.action_convention,
            normalization=self.stats,
            provenance={
                "git_commit": git_commit(),
                "dataset_hash": self.store.dataset_hash(),
                "round": k,
                "scheduler": self.config.scheduler.name,
                "run_id": self.run_id,
                "config": self.config.name,
                "max_episode_steps": self.config.sim.max_episode_steps,
                **({} if train_loss is None else {"train_loss": train_loss}),
                "sim_backend": self.config.sim.backend,
            },
        )
        publish_checkpoint(directory, self.model, meta)

    def _load_round_model(self, k: int) -> torch.nn.Module:
        from mtdagger.policy.checkpoint import load_checkpoint

        model, meta = load_checkpoint(self.run.checkpoint_dir(k), expect_tasks=self.tasks)
        self.stats = NormalizationStats.from_dict(meta.normalization)
        return model

    def _checkpoint_meta(self, k: int):
        from mtdagger.policy.checkpoint import read_checkpoint_meta

        return read_checkpoint_meta(self.run.checkpoint_dir(k))

    def _checkpoint_id(self, k: int) -> str:
        from mtdagger.policy.checkpoint import checkpoint_id, read_checkpoint_meta

        return checkpoint_id(read_checkpoint_meta(self.run.checkpoint_dir(k)))

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


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _round_seed(seed: int, round_index: int) -> int:
    """The torch seed of one round's model init and batch order (a pure function, for resume)."""
    return (seed * 1_000_003 + round_index) % 2**63


def _state_from_store(data_dir: Path) -> dict[str, Any] | None:
    """Resume point of a run killed before its first state.json: the store's one run id, round -1."""
    run_ids = EpisodeStore.run_ids_in(data_dir)
    if len(run_ids) != 1:
        return None
    return {"run_id": run_ids[0], "completed_round": -1, "scheduler": None}


def _with_student_id(episode: Episode, student_id: str) -> Episode:
    import dataclasses

    return dataclasses.replace(episode, student_checkpoint_id=student_id)
