"""Behaviour cloning with DDP (2 CPU processes, gloo) follows the one-process loss curve.

Same data, same initial weights, same global batch (64 rows; the epoch's last batch has an odd
row count, so the two ranks' slices differ in size), same seed: the per-epoch losses of the
2-process fit must equal the one-process fit's within rtol 1e-4 (float summation order is the
only difference; module doc of mtdagger/training/bc.py), and so must the final weights.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.multiprocessing as mp

from mtdagger.data.dataset import TransitionDataset
from mtdagger.data.episode import Episode
from mtdagger.data.normalization import NormalizationStats
from mtdagger.policy.networks import build_student
from mtdagger.training.bc import BCTrainer, process_group
from mtdagger.training.config import BCConfig

RTOL = 1e-4  # per-epoch loss, DDP vs one process (observed: ~1e-7)
CONFIG = BCConfig(epochs=6, batch_size=64, lr=3e-3)
STUDENT = {"num_tasks": 2, "privileged_dim": 6, "task_embed_dim": 4, "hidden": [32, 32]}


def _dataset() -> TransitionDataset:
    rng = np.random.default_rng(0)
    episodes = []
    for i in range(7):  # 7 × 43 = 301 rows: batches of 64, the last one 45 (23 + 22 per rank)
        steps = 43
        privileged = rng.normal(size=(steps, 6)).astype(np.float32)
        episodes.append(
            Episode(
                task_name=f"task-{i % 2}",
                task_index=i % 2,
                seed=i,
                beta=1.0,
                states=privileged[:, :4].copy(),
                privileged=privileged,
                actions=np.tanh(privileged[:, :4]),
                expert_actions=np.tanh(privileged[:, :4] + privileged[:, 2:]),
                actor_is_expert=np.ones(steps, dtype=bool),
                success_per_step=np.zeros(steps, dtype=bool),
            )
        )
    return TransitionDataset(
        episodes, use_point_clouds=False, stats=NormalizationStats.from_episodes(episodes)
    )


def _fit() -> tuple[list[float], list[torch.Tensor]]:
    torch.manual_seed(0)
    model = build_student("state", STUDENT)
    result = BCTrainer(CONFIG, seed=3, device=torch.device("cpu")).fit(model, _dataset())
    return result.epoch_losses, [p.detach().clone() for p in model.parameters()]


def _rank(rank: int, world: int, init_file: str, results) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        assert process_group() == (rank, world)
        losses, weights = _fit()
        results[rank] = (losses, [w.numpy() for w in weights])
    finally:
        dist.destroy_process_group()


def test_two_process_ddp_follows_the_one_process_loss_curve(tmp_path):
    torch.set_num_threads(1)
    single_losses, single_weights = _fit()
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_rank, args=(2, str(tmp_path / "init"), results), nprocs=2, join=True)
        results = dict(results)
    print(f"one process: {np.round(single_losses, 6).tolist()}")
    for rank in (0, 1):
        losses, weights = results[rank]
        print(f"DDP rank {rank}:  {np.round(losses, 6).tolist()}")
        np.testing.assert_allclose(losses, single_losses, rtol=RTOL)
        for got, want in zip(weights, single_weights, strict=True):
            np.testing.assert_allclose(got, want.numpy(), rtol=1e-3, atol=1e-5)
    assert single_losses[-1] < single_losses[0]  # it learned something: the comparison is not vacuous


def test_without_a_process_group_fit_is_one_process():
    assert process_group() == (0, 1)
