"""Episode runner with beta-mixing, and parallel episode collection over worker processes.

Used by `mtdagger rollout`, evaluation and the DAgger loop. One episode, step by step:
  1. the task's expert labels the visited state (expert.act(privileged)), always;
  2. with probability beta the expert's action is executed, otherwise the student's (one uniform
     draw per step from an RNG seeded by job.seed, so an episode is reproducible);
  3. states, privileged states, executed actions, expert labels, which policy acted and per-step
     success are recorded; point clouds too when the job asks for them.
The student sees keys.STATE, keys.PRIVILEGED (it should ignore it), keys.TASK_INDEX = the job's
index in the RUN's task list, keys.TASK_NAME, and keys.POINT_CLOUD whenever a contract is given.

Horizon: an episode does NOT stop at its first success. It runs until the backend says done
(its max_episode_steps) or job.max_steps, whichever comes first, so every episode of a task has
the same length and the data includes "stay successful" states (DAgger needs those, and success
is "any step succeeded" either way).

Parallelism: a process pool in the 'spawn' context (MuJoCo/EGL contexts do not survive fork).
Each worker builds ONE backend from the picklable backend config and ONE student from the
factory, lazily on its first job, and reuses them for every job it gets. Any failure comes back
as RolloutJobError naming the job, with the worker's traceback in the message.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mtdagger import keys
from mtdagger.control.action import ACTION_DIM
from mtdagger.data.episode import Episode
from mtdagger.perception.contract import PointCloudContract
from mtdagger.perception.pointcloud import EmptyPointCloudError, depth_to_point_cloud

StudentFn = Callable[[dict[str, Any]], np.ndarray]  # observation dict -> convention action (4,)


class StudentFactory(Protocol):
    """Picklable recipe for a student; `build()` runs inside each worker process."""

    def build(self) -> StudentFn: ...


class BackendConfig(Protocol):
    """Picklable recipe for a simulator backend (e.g. MetaWorldBackendConfig)."""

    def build(self) -> Any: ...


@dataclass(frozen=True)
class RolloutJob:
    task: str
    task_index: int  # index of the task in the run's task list (what the student is told)
    seed: int
    beta: float = 1.0  # probability that the expert's action is executed at each step
    record_clouds: bool = False
    max_steps: int | None = None  # None: the backend's max_episode_steps

    def __post_init__(self) -> None:
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"RolloutJob.beta must lie in [0, 1], got {self.beta}")
        if self.seed < 0:
            raise ValueError(f"RolloutJob.seed must be >= 0, got {self.seed}")
        if self.task_index < 0:
            raise ValueError(f"RolloutJob.task_index must be >= 0, got {self.task_index}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ValueError(f"RolloutJob.max_steps must be positive or None, got {self.max_steps}")


class RolloutEngine(Protocol):
    """Runs rollout jobs somewhere other than this machine's process pool (mtdagger/distributed/).

    The caller builds the jobs (and so the seeds); an engine only decides where they run, so it
    yields exactly the episodes the local pool would, each once, in completion order."""

    def collect(
        self,
        jobs: Sequence[RolloutJob],
        backend_config: BackendConfig,
        student_factory: StudentFactory | None,
        contract: PointCloudContract | None,
        *,
        progress: bool,
    ) -> Iterator[Episode]: ...


class RolloutJobError(RuntimeError):
    """A rollout job failed; the message names the job and carries the original traceback."""


def run_episode(
    backend: Any,
    job: RolloutJob,
    expert: Any,
    student: StudentFn | None,
    contract: PointCloudContract | None,
) -> Episode:
    """Run one episode of `job` on `backend` (see the module doc for the exact protocol)."""
    if student is None and job.beta < 1.0:
        raise ValueError(f"job {job} has beta={job.beta} < 1 but no student was given")
    if job.record_clouds and contract is None:
        raise ValueError(f"job {job} records point clouds but no point-cloud contract was given")
    needs_clouds = contract is not None and (job.record_clouds or student is not None)

    rng = np.random.default_rng(job.seed)
    observation = backend.reset(job.task, job.seed)
    limit = job.max_steps if job.max_steps is not None else backend.max_episode_steps

    states, privileged, actions, labels, by_expert, success, clouds = [], [], [], [], [], [], []
    first_success: int | None = None
    for step in range(limit):
        student_obs = {**observation, keys.TASK_INDEX: job.task_index, keys.TASK_NAME: job.task}
        if needs_clouds:
            cloud = _next_cloud(backend, contract, clouds)
            student_obs[keys.POINT_CLOUD] = cloud
            clouds.append(cloud)
        label = np.asarray(expert.act(observation[keys.PRIVILEGED]), dtype=np.float32)
        expert_acts = bool(rng.random() < job.beta)
        action = label if expert_acts else _checked_student_action(student(student_obs), job, step)

        states.append(observation[keys.STATE])
        privileged.append(observation[keys.PRIVILEGED])
        actions.append(action)
        labels.append(label)
        by_expert.append(expert_acts)

        result = backend.step(action)
        success.append(bool(result.success))
        if result.success and first_success is None:
            first_success = step
        observation = result.observation
        if result.done:
            break

    return Episode(
        task_name=job.task,
        task_index=job.task_index,
        seed=job.seed,
        beta=job.beta,
        states=np.asarray(states, dtype=np.float32),
        privileged=np.asarray(privileged, dtype=np.float32),
        actions=np.asarray(actions, dtype=np.float32),
        expert_actions=np.asarray(labels, dtype=np.float32),
        actor_is_expert=np.asarray(by_expert, dtype=bool),
        success_per_step=np.asarray(success, dtype=bool),
        point_clouds=np.asarray(clouds, dtype=np.float32) if job.record_clouds else None,
        metadata={"first_success_step": first_success, "step_limit": int(limit)},
    )


def _next_cloud(backend: Any, contract: PointCloudContract, clouds: list[np.ndarray]) -> np.ndarray:
    """This step's cloud from the backend's depth camera under `contract`.

    When nothing is in the crop box this frame (heavy noise, occlusion), the last cloud is kept,
    as a held sensor frame would be; an episode whose first frame is empty is an error (raised).
    """
    frame = backend.render_depth()
    try:
        return depth_to_point_cloud(frame.depth_m, frame.camera, contract)
    except EmptyPointCloudError:
        if not clouds:
            raise
        return clouds[-1]


def collect_episodes(
    jobs: Sequence[RolloutJob],
    backend_config: BackendConfig,
    student_factory: StudentFactory | None,
    contract: PointCloudContract | None,
    workers: int = 1,
    progress: bool = True,
    engine: RolloutEngine | None = None,
) -> Iterator[Episode]:
    """Run every job and yield its Episode as soon as it finishes (in completion order).

    workers <= 1 runs in this process (tests, debugging); otherwise a 'spawn' process pool where
    each worker builds one backend and one student and reuses them. An `engine` (e.g. Ray actors,
    mtdagger/distributed/) runs the jobs instead; the jobs, hence the episodes, are the same. A
    failed job raises RolloutJobError naming the job; episodes yielded before it stay valid.
    """
    jobs = list(jobs)
    needs_student = [job for job in jobs if job.beta < 1.0]
    if needs_student and student_factory is None:
        raise ValueError(
            f"{len(needs_student)} job(s) have beta < 1 but no student factory was given, "
            f"e.g. {needs_student[0]}"
        )
    if not jobs:
        return
    if engine is not None:
        yield from engine.collect(jobs, backend_config, student_factory, contract, progress=progress)
        return
    from tqdm import tqdm

    with tqdm(total=len(jobs), disable=not progress, desc="rollouts", unit="episode") as bar:
        if workers <= 1:
            worker = RolloutWorker(backend_config, student_factory, contract)
            try:
                for job in jobs:
                    with _one_torch_thread(student_factory):
                        episode = worker.run(job)
                    yield episode
                    bar.update(1)
            finally:
                worker.close()
            return
        context = multiprocessing.get_context("spawn")
        with context.Pool(
            processes=min(workers, len(jobs)),
            initializer=_init_worker,
            initargs=(backend_config, student_factory, contract),
        ) as pool:
            for episode in pool.imap_unordered(_run_in_worker, jobs, chunksize=1):
                bar.update(1)
                yield episode


@contextlib.contextmanager
def _one_torch_thread(student_factory: StudentFactory | None) -> Iterator[None]:
    """The student acts on one torch thread, in a pool worker (set once, `_init_worker`) and here in
    the calling process (set for the episode, then restored). One thread is fastest for batch-1
    inference with N workers, and the same thread count on both paths keeps an episode's numbers,
    and a resumed run, independent of --workers; the caller's own count (BC training) is kept."""
    if student_factory is None:
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class RolloutWorker:
    """One backend + one student + one expert per task, built on first use and then reused."""

    def __init__(
        self,
        backend_config: BackendConfig,
        student_factory: StudentFactory | None,
        contract: PointCloudContract | None,
    ) -> None:
        self.backend_config = backend_config
        self.student_factory = student_factory
        self.contract = contract
        self.backend: Any = None
        self.student: StudentFn | None = None
        self.experts: dict[str, Any] = {}

    def use_student(self, student_factory: StudentFactory | None) -> None:
        """Act with another student from the next job on (a Ray actor gets each round's student
        this way, keeping its backend and experts)."""
        if student_factory != self.student_factory:
            self.student_factory, self.student = student_factory, None

    def run(self, job: RolloutJob) -> Episode:
        try:
            if self.backend is None:
                self.backend = self.backend_config.build()
            if self.student is None and self.student_factory is not None and job.beta < 1.0:
                self.student = self.student_factory.build()
            expert = self.experts.get(job.task)
            if expert is None:
                expert = self.experts[job.task] = self.backend.make_expert(job.task)
            student = self.student if job.beta < 1.0 else None
            return run_episode(self.backend, job, expert, student, self.contract)
        except Exception as error:
            raise RolloutJobError(
                f"rollout job failed (pid {os.getpid()}): {job}\n"
                f"{type(error).__name__}: {error}\n{traceback.format_exc()}"
            ) from error

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None


_worker: RolloutWorker | None = None


def _init_worker(
    backend_config: BackendConfig, student_factory: StudentFactory | None, contract: PointCloudContract | None
) -> None:
    # Only stores the recipes: building here could fail, and a failing Pool initializer makes the
    # pool respawn workers forever instead of reporting the error.
    global _worker
    os.environ.setdefault("MUJOCO_GL", "egl")
    if student_factory is not None:  # its module imports torch anyway
        import torch

        torch.set_num_threads(1)  # see _one_torch_thread
    _worker = RolloutWorker(backend_config, student_factory, contract)


def _run_in_worker(job: RolloutJob) -> Episode:
    if _worker is None:
        raise RolloutJobError(f"worker not initialised for job {job}")
    try:
        return _worker.run(job)
    except RolloutJobError as error:
        # Re-raise without the chained cause: the message already holds the traceback, and some
        # exceptions (e.g. from C extensions) do not pickle back to the parent process.
        raise RolloutJobError(str(error)) from None


def _checked_student_action(action: Any, job: RolloutJob, step: int) -> np.ndarray:
    array = np.asarray(action, dtype=np.float32).reshape(-1)
    if array.shape != (ACTION_DIM,) or not np.all(np.isfinite(array)):
        raise ValueError(
            f"student returned an invalid action at step {step} of {job}: expected {ACTION_DIM} finite "
            f"numbers, got {np.asarray(action).tolist()}"
        )
    return array
