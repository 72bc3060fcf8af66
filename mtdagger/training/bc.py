"""Behaviour cloning: fit the student to expert labels, and measure per-task held-out loss.

The loss is mean squared error in the *normalised* action space (NormalizationStats), so the
three displacement axes and the gripper weigh alike. Per-task held-out loss before and after
each update is what the performance-gain scheduler reads.

Several processes or GPUs (torch.distributed, e.g. under `torchrun`; docs/distributed.md): when a
process group of W > 1 processes is initialised, `fit` wraps the model in DDP and every process
draws the same global batch order (same generator seed), augments the whole global batch, then
trains on its own contiguous slice of it. Each process's loss is its slice's summed squared error
divided by the GLOBAL element count, times W (DDP averages gradients over W), so the averaged
gradient is exactly the one-process gradient of the global batch: same optimiser steps, same
loss curve up to float summation order (tests/test_distributed_ddp.py: rtol 1e-4 per epoch).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mtdagger.data.dataset import EE_POSITION, POINT_CLOUD, STATE, TransitionDataset
from mtdagger.policy.networks import forward_batch
from mtdagger.training.config import BCConfig

ForwardFn = Callable[[nn.Module, Mapping[str, torch.Tensor]], torch.Tensor]


def training_device() -> torch.device:
    """The one place that picks where training runs: CUDA when present, else the CPU.

    Models come back on the CPU after `fit`, so checkpoints, rollouts and evaluation never see
    the choice.
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def process_group() -> tuple[int, int]:
    """(rank, world size) of the running torch.distributed process group; (0, 1) without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    if device.type == "cpu":
        return batch
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _batches(dataset: TransitionDataset, batch_size: int, generator: torch.Generator | None):
    """Index the dataset's stacked tensors a batch at a time (no per-item Python collate)."""
    n = len(dataset)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield dataset.batch(order[start : start + batch_size])


def _lr_schedule(optimiser: torch.optim.Optimizer, config: BCConfig, total_steps: int):
    """The per-step learning-rate schedule of one fit (BCConfig.lr_schedule)."""
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(total_steps, 1))
    return torch.optim.lr_scheduler.ConstantLR(optimiser, factor=1.0, total_iters=0)


def augment_points(
    batch: dict[str, torch.Tensor],
    config: BCConfig,
    generator: torch.Generator,
    state_std: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Point-cloud augmentation, training only (standard deviations in metres):

    - `point_jitter_m`: each point moves on its own (depth noise);
    - `point_shift_m`: each cloud moves, the gripper's position does not (calibration error);
    - `scene_shift_m`: each sample's whole scene moves: its cloud, its gripper position
      (`ee_position`) and the position in its state together. The expert's action is a
      displacement that depends on where things are relative to each other, so it stays right,
      while absolute positions stop identifying the demonstration: with 30 demonstrations per
      task the student otherwise memorises the 30 goal positions and stops short of new ones
      (docs/results/student.md). `state_std` is the state's normalisation scale, needed to move
      the normalised state by the same metres.

    A batch without clouds, or zero settings, pass unchanged."""
    cloud = batch.get(POINT_CLOUD)
    if cloud is None or max(config.point_jitter_m, config.point_shift_m, config.scene_shift_m) <= 0:
        return batch
    out = dict(batch)
    noisy = cloud
    if config.point_jitter_m > 0:
        noisy = noisy + config.point_jitter_m * torch.randn(cloud.shape, generator=generator)
    if config.point_shift_m > 0:
        noisy = noisy + config.point_shift_m * torch.randn((len(cloud), 1, 3), generator=generator)
    if config.scene_shift_m > 0:
        if state_std is None:
            raise ValueError("scene_shift_m needs the state's normalisation scale (state_std)")
        shift = config.scene_shift_m * torch.randn((len(cloud), 3), generator=generator)
        noisy = noisy + shift[:, None, :]
        if EE_POSITION in batch:
            out[EE_POSITION] = batch[EE_POSITION] + shift
        state = batch[STATE].clone()
        state[:, :3] += shift / state_std[:3]
        out[STATE] = state
    out[POINT_CLOUD] = noisy
    return out


@dataclass
class FitResult:
    epoch_losses: list[float]
    steps: int
    last_lr: float = float("nan")  # the learning rate of the last optimiser step


class BCTrainer:
    def __init__(self, config: BCConfig, seed: int = 0, device: torch.device | None = None) -> None:
        self.config = config
        # Each student declares its own inputs, so one forward serves every architecture.
        self.forward: ForwardFn = forward_batch
        self.generator = torch.Generator().manual_seed(seed)
        self.device = device if device is not None else training_device()

    def fit(self, model: nn.Module, dataset: TransitionDataset, *, desc: str = "BC") -> FitResult:
        """Fit `model` for config.epochs epochs; data-parallel when a process group is running
        (module doc). Returns each epoch's mean loss over the whole (global) data."""
        if len(dataset) == 0:
            raise ValueError("cannot train on an empty dataset")
        cfg = self.config
        rank, world = process_group()
        model.to(self.device)
        trained = model
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            device_ids = [self.device] if self.device.type == "cuda" else None
            trained = DistributedDataParallel(model, device_ids=device_ids)
        optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        schedule = _lr_schedule(optimiser, cfg, total_steps=cfg.epochs * -(-len(dataset) // cfg.batch_size))
        model.train()
        epoch_losses: list[float] = []
        steps, last_lr = 0, cfg.lr
        state_std = torch.as_tensor(dataset.stats.std["state"], dtype=torch.float32)
        bar = tqdm(range(cfg.epochs), desc=desc, leave=False, unit="epoch", disable=rank > 0)
        for _ in bar:
            sums = torch.zeros(2, dtype=torch.float64)  # loss × rows, rows
            for batch in _batches(dataset, cfg.batch_size, self.generator):
                batch = augment_points(batch, cfg, self.generator, state_std)  # global batch, every rank
                last_lr = optimiser.param_groups[0]["lr"]
                sums += self._step(trained, model, optimiser, batch, rank, world)
                schedule.step()
                steps += 1
            if world > 1:
                import torch.distributed as dist

                dist.all_reduce(sums)
            epoch_losses.append(float(sums[0] / sums[1]))
            bar.set_postfix(loss=f"{epoch_losses[-1]:.4f}")
        model.eval().cpu()
        return FitResult(epoch_losses, steps, last_lr)

    def _step(self, trained, model, optimiser, batch, rank: int, world: int) -> torch.Tensor:
        """One optimiser step on the global `batch` (this rank's slice of it when world > 1);
        returns (loss × rows, rows) of what this rank saw, for the epoch's mean loss."""
        if world == 1:  # exactly the one-process step (results unchanged by the DDP path)
            batch = _to(batch, self.device)
            loss = nn.functional.mse_loss(forward_batch(model, batch), batch["action"])
            seen = loss.item() * len(batch["action"])
        else:
            elements = batch["action"].numel()  # of the GLOBAL batch: the loss's denominator
            rows = torch.tensor_split(torch.arange(len(batch["action"])), world)[rank]
            batch = _to({key: value[rows] for key, value in batch.items()}, self.device)
            if len(rows):  # DDP(model)(...) calls the student itself, so gradients are averaged
                inputs = (batch[key] for key in model.config.input_keys())
                error = ((trained(*inputs) - batch["action"]) ** 2).sum()
            else:  # fewer rows than ranks: nothing here, but DDP needs every rank's backward
                error = sum(p.sum() for p in model.parameters()) * 0.0
            loss = error * world / elements
            seen = error.item() / batch["action"].shape[-1]
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), self.config.grad_clip)
        optimiser.step()
        return torch.tensor([seen, len(batch["action"])], dtype=torch.float64)

    @torch.inference_mode()
    def per_task_loss(
        self,
        model: nn.Module,
        dataset: TransitionDataset,
        num_tasks: int,
        action_scale: np.ndarray | None = None,
    ) -> dict[int, float]:
        """Mean per-sample MSE for each task index present in `dataset` (NaN-free; absent tasks omitted).

        `action_scale` (one factor per action dimension) multiplies the error before squaring:
        the DAgger loop uses it to express losses of models trained under different
        normalisation statistics in one set of action units, so they can be compared."""
        model.eval().to(self.device)
        sums = np.zeros(num_tasks)
        counts = np.zeros(num_tasks)
        scale = None if action_scale is None else torch.as_tensor(action_scale, dtype=torch.float32)
        if scale is not None:
            scale = scale.to(self.device)
        for batch in _batches(dataset, 4096, None):
            tasks = batch["task_index"].numpy()
            batch = _to(batch, self.device)
            error = forward_batch(model, batch) - batch["action"]
            if scale is not None:
                error = error * scale
            per_sample = (error**2).mean(dim=1).cpu().numpy()
            np.add.at(sums, tasks, per_sample)
            np.add.at(counts, tasks, 1)
        model.cpu()
        return {int(t): float(sums[t] / counts[t]) for t in np.flatnonzero(counts)}
