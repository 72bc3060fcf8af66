"""Learning can happen: the student fits, BC reduces its loss, and what it learns survives a checkpoint.

No timing anywhere. Sizes are tiny so the CPU tests take seconds; the last test renders one
real MetaWorld expert episode (integration).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

from mtdagger import keys
from mtdagger.bench.train import synthetic_batch
from mtdagger.control.action import ActionConvention
from mtdagger.data.dataset import TransitionDataset
from mtdagger.data.episode import Episode
from mtdagger.data.normalization import NormalizationStats
from mtdagger.perception.contract import PointCloudContract
from mtdagger.policy.checkpoint import CheckpointMeta, save_checkpoint
from mtdagger.policy.networks import build_student, forward_batch
from mtdagger.policy.student import StudentPolicy
from mtdagger.training.bc import BCTrainer
from mtdagger.training.config import BCConfig

os.environ.setdefault("MUJOCO_GL", "egl")

POINTS = 64
TASKS = ["reach-v3", "push-v3", "drawer-open-v3"]
TINY = {
    "num_tasks": len(TASKS),
    "num_points": POINTS,
    "point_channels": [32, 64],
    "head_hidden": [64, 64],
    "task_embed_dim": 8,
}
ACTION = ActionConvention(control_period_s=0.0125, max_step_m=0.01)


def synthetic_episodes(steps_per_episode: int = 16, episodes: int = 6, seed: int = 0) -> list[Episode]:
    """Episodes whose expert labels are the synthetic batch's targets, in metre-like units (so
    normalisation has real work to do)."""
    data = synthetic_batch(steps_per_episode * episodes, POINTS, len(TASKS), seed=seed)
    result = []
    for e in range(episodes):
        rows = slice(e * steps_per_episode, (e + 1) * steps_per_episode)
        task = e % len(TASKS)
        labels = data["action"][rows].numpy().copy()
        labels[:, :3] *= 0.003  # metres per step
        labels[:, 3] = 1.0 if task % 2 else -1.0
        result.append(
            Episode(
                task_name=TASKS[task],
                task_index=task,
                seed=e,
                beta=1.0,
                states=(data["state"][rows].numpy() * 0.2 + 0.1).astype(np.float32),
                privileged=np.random.default_rng(e).normal(size=(steps_per_episode, 5)).astype(np.float32),
                actions=labels,
                expert_actions=labels,
                actor_is_expert=np.ones(steps_per_episode, dtype=bool),
                success_per_step=np.zeros(steps_per_episode, dtype=bool),
                point_clouds=data["point_cloud"][rows].numpy(),
            )
        )
    return result


def test_student_overfits_a_fixed_batch_to_near_zero_loss():
    torch.manual_seed(0)
    model = build_student("pointnet", TINY)
    batch = synthetic_batch(32, POINTS, len(TASKS), seed=3)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss_now() -> torch.Tensor:
        return nn.functional.mse_loss(
            model(batch["point_cloud"], batch["state"], batch["task_index"]), batch["action"]
        )

    first = float(loss_now().detach())
    for _ in range(300):
        loss = loss_now()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    final = float(loss_now().detach())
    assert first > 0.3  # the targets have unit scale: an untrained net is far off
    assert final < 0.01 * first, (first, final)


def test_bc_trainer_reduces_the_loss_on_a_tiny_dataset():
    torch.manual_seed(0)
    episodes = synthetic_episodes()
    stats = NormalizationStats.from_episodes(episodes)
    dataset = TransitionDataset(episodes, use_point_clouds=True, stats=stats)
    model = build_student("pointnet", TINY)
    trainer = BCTrainer(BCConfig(epochs=25, batch_size=32, lr=3e-3), seed=0)
    before = trainer.per_task_loss(model, dataset, len(TASKS))
    fit = trainer.fit(model, dataset, desc="test")
    after = trainer.per_task_loss(model, dataset, len(TASKS))
    assert fit.steps == 25 * 3  # 96 samples in batches of 32
    assert fit.epoch_losses[-1] < 0.3 * fit.epoch_losses[0], fit.epoch_losses
    assert set(before) == set(after) == {0, 1, 2}
    assert all(after[t] < 0.5 * before[t] for t in before), (before, after)
    assert next(model.parameters()).device.type == "cpu"  # fit hands the model back on the CPU


def test_a_cosine_schedule_anneals_each_fit_to_zero_and_still_learns():
    """bc.lr_schedule: cosine ends every fit near lr 0 (a constant schedule ends at lr), and the
    tiny problem is still fitted."""
    episodes = synthetic_episodes()
    stats = NormalizationStats.from_episodes(episodes)
    dataset = TransitionDataset(episodes, use_point_clouds=True, stats=stats)
    last_lrs = {}
    for schedule in ("constant", "cosine"):
        torch.manual_seed(0)
        model = build_student("pointnet", TINY)
        trainer = BCTrainer(BCConfig(epochs=25, batch_size=32, lr=3e-3, lr_schedule=schedule), seed=0)
        fit = trainer.fit(model, dataset, desc="test")
        assert fit.epoch_losses[-1] < 0.3 * fit.epoch_losses[0], (schedule, fit.epoch_losses)
        last_lrs[schedule] = fit.last_lr
    assert last_lrs["constant"] == 3e-3
    assert 0 < last_lrs["cosine"] < 1e-3 * 3e-3, last_lrs  # the last of 75 steps: lr (1 + cos(74π/75)) / 2


def test_normalisation_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    episodes = synthetic_episodes()
    stats = NormalizationStats.from_episodes(episodes)
    model = build_student("pointnet", TINY).eval()
    contract = PointCloudContract(num_points=POINTS)
    meta = CheckpointMeta.for_model(
        model, tasks=TASKS, contract=contract, action_convention=ACTION, normalization=stats
    )
    save_checkpoint(tmp_path / "ckpt", model, meta)
    policy = StudentPolicy.from_checkpoint(tmp_path / "ckpt")

    loaded = policy.normalization
    for key in ("state", "privileged", "action"):
        x = np.random.default_rng(1).normal(size=(7, stats.dim(key))).astype(np.float32)
        np.testing.assert_allclose(loaded.normalize(key, x), stats.normalize(key, x), rtol=1e-6)
        np.testing.assert_allclose(loaded.denormalize(key, loaded.normalize(key, x)), x, rtol=1e-5, atol=1e-6)

    episode = episodes[1]
    obs = {
        keys.POINT_CLOUD: episode.point_clouds[0],
        keys.STATE: episode.states[0],
        keys.TASK_NAME: episode.task_name,
    }
    with torch.no_grad():
        raw = model(
            torch.from_numpy(episode.point_clouds[:1]),
            torch.from_numpy(stats.normalize("state", episode.states[:1])),
            torch.tensor([episode.task_index]),
        )[0].numpy()
    expected = stats.denormalize("action", raw)
    expected[3] = np.clip(expected[3], -1.0, 1.0)
    np.testing.assert_allclose(policy(obs), expected, rtol=1e-5, atol=1e-7)


def _policy_error(policy: StudentPolicy, episode: Episode) -> float:
    predictions = np.stack(
        [
            policy({keys.POINT_CLOUD: cloud, keys.STATE: state, keys.TASK_NAME: episode.task_name})
            for cloud, state in zip(episode.point_clouds, episode.states)
        ]
    )
    scale = np.array([ACTION.max_step_m] * 3 + [1.0])  # xyz in steps, gripper as is
    return float((((predictions - episode.expert_actions) / scale) ** 2).mean())


@pytest.mark.integration
def test_training_brings_predictions_on_a_stored_expert_episode_towards_the_expert(tmp_path):
    from mtdagger.data.store import EpisodeStore
    from mtdagger.training.rollout import RolloutJob, collect_episodes
    from sim_bridge.camera.sim_camera import SimCameraConfig
    from sim_bridge.metaworld.backend import MetaWorldBackendConfig
    from sim_bridge.suites import load_suite_preset

    task = "reach-v3"
    preset = load_suite_preset(task)
    contract = PointCloudContract.from_dict({**preset.point_cloud.to_dict(), "num_points": POINTS})
    backend = MetaWorldBackendConfig(
        tasks=(task,), camera=SimCameraConfig.from_yaml(preset.camera), render_depth=True
    )
    jobs = [RolloutJob(task, 0, seed=s, record_clouds=True, max_steps=40) for s in (0, 1)]
    with EpisodeStore(tmp_path / "data", "learning-test") as store:
        for episode in collect_episodes(jobs, backend, None, contract, workers=1, progress=False):
            store.add(episode, round=0)
        episodes = sorted(store.load_all(store.records()), key=lambda e: e.seed)
    assert len(episodes) == 2 and all(e.point_clouds.shape[1:] == (POINTS, 3) for e in episodes)

    torch.manual_seed(0)
    stats = NormalizationStats.from_episodes(episodes)
    model = build_student("pointnet", {**TINY, "num_tasks": 1})
    meta = dict(tasks=[task], contract=contract, action_convention=ACTION, normalization=stats)
    save_checkpoint(tmp_path / "before", model, CheckpointMeta.for_model(model, **meta))
    dataset = TransitionDataset(episodes, use_point_clouds=True, stats=stats)
    BCTrainer(BCConfig(epochs=40, batch_size=16, lr=3e-3)).fit(model, dataset)
    save_checkpoint(tmp_path / "after", model, CheckpointMeta.for_model(model, **meta))

    before = _policy_error(StudentPolicy.from_checkpoint(tmp_path / "before"), episodes[0])
    after = _policy_error(StudentPolicy.from_checkpoint(tmp_path / "after"), episodes[0])
    assert after < 0.5 * before, (before, after)


GRIPPER_FRAME_TINY = {**TINY, "ee_relative": True, "local_points": 16, "local_channels": [32, 64]}


def test_gripper_frame_student_fits_a_fixed_batch_to_a_stated_loss():
    """The target is the object's offset from the gripper; the gripper-frame student reads the
    gripper's raw position (`ee_position`) and must fit it to under 1 % of its initial loss."""
    torch.manual_seed(0)
    model = build_student("pointnet", GRIPPER_FRAME_TINY)
    batch = synthetic_batch(32, POINTS, len(TASKS), seed=3)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss_now() -> torch.Tensor:
        return nn.functional.mse_loss(forward_batch(model, batch), batch["action"])

    first = float(loss_now().detach())
    for _ in range(300):
        loss = loss_now()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    final = float(loss_now().detach())
    assert first > 0.3
    assert final < 0.01 * first, (first, final)


def test_gripper_frame_checkpoint_feeds_the_raw_gripper_position(tmp_path):
    """StudentPolicy gives the network observation.state[:3] in metres as `ee_position` (not the
    normalised state), the same values the dataset gives it in training."""
    torch.manual_seed(0)
    episodes = synthetic_episodes()
    stats = NormalizationStats.from_episodes(episodes)
    model = build_student("pointnet", GRIPPER_FRAME_TINY).eval()
    meta = CheckpointMeta.for_model(
        model,
        tasks=TASKS,
        contract=PointCloudContract(num_points=POINTS),
        action_convention=ACTION,
        normalization=stats,
    )
    save_checkpoint(tmp_path / "ckpt", model, meta)
    policy = StudentPolicy.from_checkpoint(tmp_path / "ckpt")
    episode = episodes[2]
    dataset = TransitionDataset([episode], use_point_clouds=True, stats=stats)
    np.testing.assert_array_equal(dataset.batch([0])["ee_position"][0].numpy(), episode.states[0, :3])
    with torch.no_grad():
        raw = forward_batch(model, dataset.batch([0]))[0].numpy()
    expected = stats.denormalize("action", raw)
    expected[3] = np.clip(expected[3], -1.0, 1.0)
    obs = {
        keys.POINT_CLOUD: episode.point_clouds[0],
        keys.STATE: episode.states[0],
        keys.TASK_NAME: episode.task_name,
    }
    np.testing.assert_allclose(policy(obs), expected, rtol=1e-5, atol=1e-7)
    moved = {**obs, keys.STATE: episode.states[0] + np.array([0.05, 0.0, 0.0, 0.0], dtype=np.float32)}
    assert not np.allclose(policy(moved), policy(obs))  # the gripper's position is read
