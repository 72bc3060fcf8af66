"""Episode runner (beta-mixing, recording, horizon) and parallel collection.

Most tests use a tiny in-memory backend so the runner's logic is checked in milliseconds; the
integration tests run MetaWorld in two spawned worker processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest

from mtdagger import keys
from mtdagger.control.action import ActionConvention
from mtdagger.perception.camera_model import CameraModel
from mtdagger.perception.contract import PointCloudContract
from mtdagger.perception.frames import DepthFrame
from mtdagger.training.rollout import RolloutJob, RolloutJobError, collect_episodes, run_episode
from sim_bridge.backend import StepResult

os.environ.setdefault("MUJOCO_GL", "egl")

EXPERT_ACTION = np.array([0.001, 0.0, 0.0, 1.0], dtype=np.float32)
STUDENT_ACTION = np.array([0.0, 0.002, 0.0, -1.0], dtype=np.float32)
CONTRACT = PointCloudContract(
    num_points=64, workspace_min=(-1, -1, -0.1), workspace_max=(1, 1, 0.1), voxel_size_m=0
)


class FakeExpert:
    def act(self, privileged: np.ndarray) -> np.ndarray:
        assert privileged.shape == (5,)
        return EXPERT_ACTION.copy()


class FakeBackend:
    """A point that moves by the action; 'success' from step `success_at` on; a camera looking down."""

    action_convention = ActionConvention(control_period_s=0.0125, max_step_m=0.01)

    def __init__(self, max_episode_steps: int = 12, success_at: int = 3) -> None:
        self.max_episode_steps = max_episode_steps
        self.success_at = success_at
        self.resets: list[tuple[str, int]] = []
        looking_down = np.eye(4)
        looking_down[:3, :3] = np.diag([1.0, -1.0, -1.0])
        looking_down[2, 3] = 1.0
        self.camera = CameraModel(32, 24, 30.0, 30.0, 15.5, 11.5, looking_down)

    def task_names(self) -> list[str]:
        return ["a", "b"]

    def reset(self, task: str, seed: int) -> dict:
        self.resets.append((task, seed))
        self.position, self.t, self.task = np.full(3, 0.001 * seed), 0, task
        return self._obs()

    def step(self, action: np.ndarray) -> StepResult:
        self.position = self.position + np.asarray(action)[:3]
        self.t += 1
        return StepResult(self._obs(), self.t >= self.success_at, self.t >= self.max_episode_steps)

    def render_depth(self) -> DepthFrame:
        return DepthFrame(np.ones((24, 32), np.float32), self.camera)

    def make_expert(self, task: str) -> FakeExpert:
        return FakeExpert()

    def close(self) -> None:
        pass

    def _obs(self) -> dict:
        return {
            keys.STATE: np.array([*self.position, 0.5], np.float32),
            keys.PRIVILEGED: np.array([*self.position, self.t, 1.0], np.float32),
            keys.TASK_INDEX: 99,  # the backend's own index: the runner must replace it with the job's
            keys.TASK_NAME: self.task,
        }


@dataclass(frozen=True)
class FakeBackendConfig:
    max_episode_steps: int = 12

    def build(self) -> FakeBackend:
        return FakeBackend(self.max_episode_steps)


class RecordingStudent:
    def __init__(self) -> None:
        self.seen: list[dict] = []

    def __call__(self, observation: dict) -> np.ndarray:
        self.seen.append(observation)
        return STUDENT_ACTION.copy()


@dataclass(frozen=True)
class ConstantStudentFactory:
    """Picklable: spawned workers rebuild it from this module."""

    def build(self):
        return RecordingStudent()


# ---------------------------------------------------------------------- run_episode


def test_beta_one_runs_the_expert_only_and_records_every_step():
    backend = FakeBackend(max_episode_steps=12)
    episode = run_episode(backend, RolloutJob("a", 3, seed=5), FakeExpert(), None, None)
    assert episode.num_steps == 12
    assert episode.task_index == 3 and episode.task_name == "a" and episode.seed == 5
    assert episode.states.shape == (12, 4) and episode.privileged.shape == (12, 5)
    assert episode.actor_is_expert.all()
    np.testing.assert_array_equal(episode.actions, np.tile(EXPERT_ACTION, (12, 1)))
    np.testing.assert_array_equal(episode.expert_actions, episode.actions)
    # states are the states BEFORE each action: step t sees the effect of t previous actions
    np.testing.assert_allclose(episode.states[:, 0], 0.005 + 0.001 * np.arange(12), atol=1e-6)
    assert episode.point_clouds is None
    assert backend.resets == [("a", 5)]


def test_episode_keeps_its_horizon_after_the_first_success():
    episode = run_episode(
        FakeBackend(max_episode_steps=12, success_at=3), RolloutJob("a", 0, 0), FakeExpert(), None, None
    )
    assert episode.num_steps == 12  # did not stop at the first success
    assert episode.success and episode.metadata["first_success_step"] == 2
    np.testing.assert_array_equal(episode.success_per_step, [False, False] + [True] * 10)


def test_max_steps_cuts_the_episode_before_the_backend_limit():
    job = RolloutJob("a", 0, 0, max_steps=4)
    episode = run_episode(FakeBackend(max_episode_steps=12), job, FakeExpert(), None, None)
    assert episode.num_steps == 4 and episode.metadata["step_limit"] == 4


def test_beta_zero_executes_the_student_and_still_records_expert_labels():
    student = RecordingStudent()
    job = RolloutJob("b", 7, seed=1, beta=0.0, record_clouds=True)
    episode = run_episode(FakeBackend(max_episode_steps=6), job, FakeExpert(), student, CONTRACT)
    assert not episode.actor_is_expert.any()
    np.testing.assert_array_equal(episode.actions, np.tile(STUDENT_ACTION, (6, 1)))
    np.testing.assert_array_equal(episode.expert_actions, np.tile(EXPERT_ACTION, (6, 1)))
    assert episode.point_clouds.shape == (6, 64, 3) and episode.point_clouds.dtype == np.float32
    np.testing.assert_allclose(episode.point_clouds[..., 2], 0.0, atol=1e-6)  # the plane under the camera
    assert len(student.seen) == 6
    seen = student.seen[0]
    assert seen[keys.TASK_INDEX] == 7 and seen[keys.TASK_NAME] == "b"  # the RUN's index, not the backend's
    assert seen[keys.POINT_CLOUD].shape == (64, 3)
    np.testing.assert_array_equal(seen[keys.POINT_CLOUD], episode.point_clouds[0])
    assert seen[keys.STATE].shape == (4,)


def test_student_gets_clouds_whenever_a_contract_is_given_even_without_recording():
    student = RecordingStudent()
    job = RolloutJob("a", 0, seed=1, beta=0.0, record_clouds=False)
    episode = run_episode(FakeBackend(max_episode_steps=3), job, FakeExpert(), student, CONTRACT)
    assert episode.point_clouds is None
    assert all(keys.POINT_CLOUD in seen for seen in student.seen)


class BlindFrameBackend(FakeBackend):
    """The camera returns an all-invalid frame at the given steps (0 = the first frame)."""

    def __init__(self, blind_steps: set[int]) -> None:
        super().__init__(max_episode_steps=5)
        self.blind_steps = blind_steps

    def render_depth(self) -> DepthFrame:
        frame = super().render_depth()
        if self.t in self.blind_steps:
            return DepthFrame(np.zeros_like(frame.depth_m), frame.camera)
        return frame


def test_an_empty_cloud_mid_episode_reuses_the_last_cloud_but_a_first_empty_frame_is_an_error():
    from mtdagger.perception.pointcloud import EmptyPointCloudError

    job = RolloutJob("a", 0, seed=1, beta=1.0, record_clouds=True)
    episode = run_episode(BlindFrameBackend({2}), job, FakeExpert(), None, CONTRACT)
    assert episode.num_steps == 5
    np.testing.assert_array_equal(episode.point_clouds[2], episode.point_clouds[1])
    with pytest.raises(EmptyPointCloudError):
        run_episode(BlindFrameBackend({0}), job, FakeExpert(), None, CONTRACT)


def test_beta_mixing_is_reproducible_from_the_seed_and_roughly_beta():
    def actors(seed: int) -> np.ndarray:
        job = RolloutJob("a", 0, seed=seed, beta=0.5, max_steps=400)
        backend = FakeBackend(max_episode_steps=400)
        return run_episode(backend, job, FakeExpert(), RecordingStudent(), None).actor_is_expert

    first, again, other = actors(3), actors(3), actors(4)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert 0.4 < first.mean() < 0.6


def test_bad_runner_input_gets_clear_errors():
    backend = FakeBackend()
    with pytest.raises(ValueError, match="no student"):
        run_episode(backend, RolloutJob("a", 0, 0, beta=0.5), FakeExpert(), None, None)
    with pytest.raises(ValueError, match="contract"):
        run_episode(backend, RolloutJob("a", 0, 0, record_clouds=True), FakeExpert(), None, None)
    with pytest.raises(ValueError, match="invalid action at step 0"):
        run_episode(
            backend, RolloutJob("a", 0, 0, beta=0.0), FakeExpert(), lambda obs: np.full(4, np.nan), None
        )
    with pytest.raises(ValueError, match="beta"):
        RolloutJob("a", 0, 0, beta=1.5)
    with pytest.raises(ValueError, match="max_steps"):
        RolloutJob("a", 0, 0, max_steps=0)


# ---------------------------------------------------------------------- collect_episodes


def test_collect_in_process_yields_every_job_and_reuses_one_backend():
    jobs = [RolloutJob("a", 0, seed=s, beta=0.5, max_steps=5) for s in range(3)]
    episodes = list(
        collect_episodes(jobs, FakeBackendConfig(), ConstantStudentFactory(), None, progress=False)
    )
    assert sorted(e.seed for e in episodes) == [0, 1, 2]
    assert all(e.num_steps == 5 for e in episodes)


def test_collect_refuses_student_jobs_without_a_factory():
    with pytest.raises(ValueError, match="no student factory"):
        list(
            collect_episodes(
                [RolloutJob("a", 0, 0, beta=0.0)], FakeBackendConfig(), None, None, progress=False
            )
        )


def test_collect_in_process_names_the_failing_job():
    class Failing(FakeBackendConfig):
        def build(self):
            backend = FakeBackend()
            backend.step = lambda action: (_ for _ in ()).throw(RuntimeError("physics exploded"))
            return backend

    with pytest.raises(RolloutJobError, match=r"(?s)seed=42.*physics exploded"):
        list(collect_episodes([RolloutJob("a", 0, seed=42)], Failing(), None, None, progress=False))


@pytest.mark.integration
def test_collect_with_two_metaworld_workers_returns_every_jobs_episode():
    from sim_bridge.metaworld.backend import MetaWorldBackendConfig
    from sim_bridge.suites import load_suite_preset

    tasks = ("reach-v3", "drawer-open-v3")
    config = MetaWorldBackendConfig(tasks=tasks, render_depth=False)
    contract = load_suite_preset("mt10").point_cloud
    jobs = [
        RolloutJob(task, i, seed=s, beta=beta, record_clouds=(s == 0), max_steps=6)
        for i, task in enumerate(tasks)
        for s, beta in ((0, 1.0), (1, 0.0))
    ]
    episodes = list(
        collect_episodes(jobs, config, ConstantStudentFactory(), contract, workers=2, progress=False)
    )
    assert sorted((e.task_name, e.seed) for e in episodes) == sorted((j.task, j.seed) for j in jobs)
    for episode in episodes:
        assert episode.num_steps == 6 and episode.privileged.shape == (6, 39)
        assert episode.task_index == tasks.index(episode.task_name)
        if episode.beta == 0.0:
            np.testing.assert_array_equal(episode.actions, np.tile(STUDENT_ACTION, (6, 1)))
        else:
            assert episode.actor_is_expert.all()
        if episode.seed == 0:
            clouds = episode.point_clouds
            assert clouds.shape == (6, contract.num_points, 3)
            assert np.all(clouds >= np.array(contract.workspace_min, np.float32) - 1e-6)
            assert np.all(clouds <= np.array(contract.workspace_max, np.float32) + 1e-6)
        else:
            assert episode.point_clouds is None


@pytest.mark.integration
def test_a_failing_worker_job_surfaces_with_the_job():
    from sim_bridge.metaworld.backend import MetaWorldBackendConfig

    config = MetaWorldBackendConfig(tasks=("reach-v3",), render_depth=False)
    jobs = [RolloutJob("reach-v3", 0, seed=0, max_steps=3), RolloutJob("push-v3", 0, seed=9, max_steps=3)]
    with pytest.raises(RolloutJobError, match=r"(?s)task='push-v3'.*seed=9.*UnknownTaskError"):
        list(collect_episodes(jobs, config, None, None, workers=2, progress=False))


# ---------------------------------------------------------------------- `mtdagger rollout`


def test_rollout_command_refuses_bad_input_with_exit_code_2(capsys):
    from mtdagger.cli import main

    assert main(["rollout", "--tasks", "reach-v3,nope-v3"]) == 2
    error = capsys.readouterr().err
    assert "nope-v3" in error and "drawer-open-v3" in error  # names the bad task and the valid ones
    assert main(["rollout", "--tasks", "reach-v3", "--policy", "runs/some-checkpoint"]) == 2
    error = capsys.readouterr().err
    assert "'expert' or a checkpoint directory" in error and "runs/some-checkpoint" in error
    assert main(["rollout", "--sim", "isaaclab", "--tasks", "reach-v3"]) == 2
    assert "IsaacLab backend is not available" in capsys.readouterr().err


@pytest.mark.integration
def test_rollout_command_prints_the_table_and_writes_a_midepisode_cloud(tmp_path, capsys):
    import json

    import matplotlib.image

    from mtdagger.cli import main
    from sim_bridge.camera.sim_camera import SimCameraConfig
    from sim_bridge.suites import load_suite_preset

    argv = [
        "rollout",
        "--tasks",
        "drawer-open-v3",
        "--episodes",
        "1",
        "--max-steps",
        "30",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    assert "drawer-open-v3" in capsys.readouterr().out
    with np.load(tmp_path / "drawer-open-v3_cloud.npz") as saved:
        contract = load_suite_preset("mt10").point_cloud
        points = saved["points"]
        assert points.shape == (contract.num_points, 3)
        assert np.all(points >= np.array(contract.workspace_min, np.float32) - 1e-6)
        assert np.all(points <= np.array(contract.workspace_max, np.float32) + 1e-6)
        assert saved["depth_m"].shape == (120, 160) and int(saved["step"]) == 15
        camera = CameraModel.from_dict(json.loads(str(saved["camera"])))
        np.testing.assert_allclose(camera.T_base_camera, SimCameraConfig().camera_model().T_base_camera)
    image = matplotlib.image.imread(tmp_path / "drawer-open-v3_cloud.png")
    assert image.shape[1] > 1.8 * image.shape[0]  # two views side by side


def test_rollout_command_runs_a_checkpoint_student_and_checks_its_tasks(tmp_path, capsys):
    """`--policy DIR` runs the student alone; a task the checkpoint never saw is refused."""
    from mtdagger.bench.control import write_random_checkpoint
    from mtdagger.cli import main
    from mtdagger.control.action import ActionConvention
    from mtdagger.perception.contract import PointCloudContract

    checkpoint = tmp_path / "student"
    convention = ActionConvention(control_period_s=0.0125, max_step_m=0.01)
    write_random_checkpoint(checkpoint, ["reach-v3"], PointCloudContract(num_points=64), convention, 39)
    assert main(["rollout", "--tasks", "push-v3", "--policy", str(checkpoint)]) == 2
    assert "not trained on ['push-v3']" in capsys.readouterr().err
    args = ["rollout", "--tasks", "reach-v3", "--policy", str(checkpoint), "--episodes", "1"]
    assert main([*args, "--max-steps", "5"]) == 0
    assert "reach-v3" in capsys.readouterr().out
