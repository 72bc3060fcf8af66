"""Rollouts and evaluation on a Ray cluster: one Ray actor per rollout worker.

What stays as in the local pool (training/rollout.py): the driver builds every job, so every
seed; a job runs `run_episode` on a `RolloutWorker`, so a Ray run yields exactly the episodes a
local run does (tests/test_distributed_ray.py compares them); episodes come back to the driver,
which alone writes the episode store and manifest.

What Ray adds:
- actors live across rounds: each keeps its backend (MuJoCo) and its experts; only the
  student changes, and only when a new one is published;
- the student goes out once per round: the checkpoint directory's files are `ray.put` once,
  and every job carries the object reference (wrapped, so Ray does not resolve it per call);
  an actor fetches it only when its student changed. Carrying it on every job, rather than
  a one-off `set_student` call, is what lets a restarted actor rebuild the student;
- faults: actors are created with `max_restarts` and `max_task_retries`, so when a worker
  process (or its node) dies, Ray restarts the actor (elsewhere when the node is gone) and
  re-runs its unfinished jobs. Each actor incarnation has an id; a job answered by another
  incarnation than the one it was sent to was re-run, which the run prints and counts
  (`RayRollouts.counts`). The driver also drops any second answer for a (task, seed) job, so
  a finished episode is never lost nor stored twice.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtdagger.data.episode import Episode
from mtdagger.perception.contract import PointCloudContract
from mtdagger.training.rollout import BackendConfig, RolloutJob, RolloutWorker, StudentFactory

log = logging.getLogger(__name__)

IN_FLIGHT_PER_ACTOR = 2  # one running, one queued: an actor never waits for the driver
MAX_RESTARTS = 4  # per actor; a worker that keeps dying is a bug to report, not to retry forever


@dataclass
class RolloutCounts:
    """What the pool did since it started (metrics and tests read it)."""

    episodes: int = 0  # distinct episodes handed to the caller
    rerun_jobs: int = 0  # jobs answered by a restarted actor (their first worker died)
    restarts: int = 0  # actor restarts seen
    duplicates_dropped: int = 0  # second answers for a job already answered

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def connect(address: str) -> None:
    """Join the cluster at `address` ('auto': the one `ray start` runs on this machine; 'local':
    start a private one in this process, for convenience on one machine)."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # Ray starts workers at niceness 15, as background work. Rollouts are this job's main work:
    # at 15, beside the driver's behaviour cloning on the same cores, an episode took 10x longer
    # (19.3 s vs 1.9 s for 16 MetaWorld episodes). Applies to a cluster this process starts
    # ('local'); `ray start` takes the same variable (docs/distributed.md).
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(
        address=None if address == "local" else address,
        include_dashboard=False,
        log_to_driver=False,  # the workers' progress bars would interleave with the driver's
        configure_logging=False,
    )


class _RolloutActor:
    """The body of one Ray actor: a RolloutWorker plus the student it currently acts with."""

    def __init__(self, backend_config: BackendConfig, contract: PointCloudContract | None) -> None:
        os.environ.setdefault("MUJOCO_GL", "egl")
        self.incarnation = uuid.uuid4().hex
        self.worker = RolloutWorker(backend_config, None, contract)
        self.student_key: str | None = None
        self.scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"mtdagger-ray-{self.incarnation}"

    def identity(self) -> tuple[str, int, str]:
        import ray

        return self.incarnation, os.getpid(), ray.get_runtime_context().get_node_id()

    def run(self, job: RolloutJob, student: tuple[str, list] | None) -> tuple[Episode, str]:
        if student is not None and student[0] != self.student_key:
            self._use_student(student[0], student[1][0])
        return self.worker.run(job), self.incarnation

    def _use_student(self, key: str, ref: Any) -> None:
        import ray
        import torch

        torch.set_num_threads(1)  # as in the local pool (rollout.py, _one_torch_thread)
        payload = ray.get(ref)
        if payload[0] == "factory":
            factory = payload[1]
        else:  # the checkpoint's files, written to this actor's own directory
            from mtdagger.policy.student import CheckpointStudentFactory

            _, files, expect_tasks = payload
            directory = self.scratch / key
            for name, data in files.items():
                (directory / name).parent.mkdir(parents=True, exist_ok=True)
                (directory / name).write_bytes(data)
            factory = CheckpointStudentFactory(str(directory), expect_tasks)
        self.worker.use_student(factory)
        self.student_key = key

    def close(self) -> None:
        import shutil

        self.worker.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def student_payload(factory: StudentFactory) -> tuple:
    """What travels to the actors: a checkpoint's files (its path means nothing on another
    machine), or any other picklable factory as it is."""
    from mtdagger.policy.student import CheckpointStudentFactory

    if isinstance(factory, CheckpointStudentFactory):
        root = Path(factory.checkpoint_dir)
        files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        return ("checkpoint", files, factory.expect_tasks)
    return ("factory", factory)


@dataclass
class RayRollouts:
    """A `RolloutEngine` (training/rollout.py) on Ray: `workers` actors, kept across calls."""

    address: str
    workers: int
    counts: RolloutCounts = field(default_factory=RolloutCounts)
    actors: list[Any] = field(default_factory=list)
    _setup: Any = None  # (backend_config, contract) the actors were built for
    _known: dict[int, str] = field(default_factory=dict)  # actor index -> incarnation last seen
    _student: tuple[Any, tuple[str, list] | None] = (None, None)  # (factory, (key, [ref]))

    def collect(
        self,
        jobs: Sequence[RolloutJob],
        backend_config: BackendConfig,
        student_factory: StudentFactory | None,
        contract: PointCloudContract | None,
        *,
        progress: bool = True,
    ) -> Iterator[Episode]:
        import ray
        from tqdm import tqdm

        self._ensure_actors(backend_config, contract)
        student = self._student_ref(student_factory)
        pending = list(reversed(jobs))  # popped from the end: submitted in the caller's order
        in_flight: dict[Any, tuple[int, RolloutJob, str]] = {}  # ref -> (actor, job, incarnation)
        load = [0] * len(self.actors)
        done: set[tuple[str, int]] = set()
        with tqdm(total=len(jobs), disable=not progress, desc="rollouts (ray)", unit="episode") as bar:
            while pending or in_flight:
                while pending and min(load) < IN_FLIGHT_PER_ACTOR:
                    i = load.index(min(load))
                    job = pending.pop()
                    ref = self.actors[i].run.remote(job, student)
                    in_flight[ref] = (i, job, self._known[i])
                    load[i] += 1
                [ready], _ = ray.wait(list(in_flight), num_returns=1)
                i, job, sent_to = in_flight.pop(ready)
                load[i] -= 1
                episode, incarnation = ray.get(ready)
                self._note_incarnation(i, incarnation, sent_to, job)
                if (job.task, job.seed) in done:
                    self.counts.duplicates_dropped += 1
                    continue
                done.add((job.task, job.seed))
                self.counts.episodes += 1
                bar.update(1)
                yield episode

    def _note_incarnation(self, i: int, incarnation: str, sent_to: str, job: RolloutJob) -> None:
        if incarnation != self._known[i]:
            self.counts.restarts += 1
            self._known[i] = incarnation
            log.warning("ray: rollout worker %d was restarted; its unfinished jobs are re-run", i)
        if incarnation != sent_to:
            self.counts.rerun_jobs += 1
            log.warning("ray: job %s seed %d re-run after its worker died", job.task, job.seed)

    def _ensure_actors(self, backend_config: BackendConfig, contract: PointCloudContract | None) -> None:
        """Actors for this simulator setup: the running ones when it is the same (every round of
        a run), new ones otherwise (e.g. each camera condition of `eval --robustness`)."""
        import ray

        if self.actors and self._setup == (backend_config, contract):
            return
        self.close()
        connect(self.address)
        remote = ray.remote(num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)
        actor_class = remote(_RolloutActor)
        self.actors = [actor_class.remote(backend_config, contract) for _ in range(self.workers)]
        identities = ray.get([actor.identity.remote() for actor in self.actors])
        self._known = {i: identity[0] for i, identity in enumerate(identities)}
        self._setup = (backend_config, contract)
        self._student = (None, None)

    def _student_ref(self, factory: StudentFactory | None) -> tuple[str, list] | None:
        """The student's object reference: put once per distinct student (once per round)."""
        import ray

        if factory is None:
            return None
        if self._student[0] != factory:
            self._student = (factory, (uuid.uuid4().hex, [ray.put(student_payload(factory))]))
        return self._student[1]

    def worker_identities(self) -> list[tuple[str, int, str]]:
        """(incarnation, process id, Ray node id) of each actor, in actor order."""
        import ray

        return ray.get([actor.identity.remote() for actor in self.actors])

    def close(self) -> None:
        """Stop the actors (the cluster itself keeps running; a 'local' one ends with the process)."""
        import ray

        if self.actors and ray.is_initialized():
            ray.get([actor.close.remote() for actor in self.actors])
            for actor in self.actors:
                ray.kill(actor, no_restart=True)
        self.actors, self._known, self._setup = [], {}, None
