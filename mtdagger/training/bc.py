"""Behaviour cloning: fit the student to expert labels, and measure per-task held-out loss.

The loss is mean squared error in the *normalised* action space (NormalizationStats), so the
three displacement axes and the gripper weigh alike. Per-task held-out loss before and after
each update is what the performance-gain scheduler reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mtdagger.data.dataset import POINT_CLOUD, TransitionDataset
from mtdagger.policy.networks import forward_batch
from mtdagger.training.config import BCConfig

ForwardFn = Callable[[nn.Module, Mapping[str, torch.Tensor]], torch.Tensor]


def training_device() -> torch.device:
    """The one place that picks where training runs: CUDA when present, else the CPU.

    Models come back on the CPU after `fit`, so checkpoints, rollouts and evaluation never see
    the choice.
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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


def augment_points(
    batch: dict[str, torch.Tensor], config: BCConfig, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Jitter each point and translate each cloud (config.point_jitter_m, point_shift_m: the
    standard deviations, metres). A batch without clouds, or zero settings, pass unchanged."""
    cloud = batch.get(POINT_CLOUD)
    if cloud is None or (config.point_jitter_m <= 0 and config.point_shift_m <= 0):
        return batch
    noisy = cloud
    if config.point_jitter_m > 0:
        noisy = noisy + config.point_jitter_m * torch.randn(cloud.shape, generator=generator)
    if config.point_shift_m > 0:
        noisy = noisy + config.point_shift_m * torch.randn((len(cloud), 1, 3), generator=generator)
    return {**batch, POINT_CLOUD: noisy}


@dataclass
class FitResult:
    epoch_losses: list[float]
    steps: int


class BCTrainer:
    def __init__(
        self, config: BCConfig, seed: int = 0, device: torch.device | None = None
    ) -> None:
        self.config = config
        # Each student declares its own inputs, so one forward serves every architecture.
        self.forward: ForwardFn = forward_batch
        self.generator = torch.Generator().manual_seed(seed)
        self.device = device if device is not None else training_device()

    def fit(self, model: nn.Module, dataset: TransitionDataset, *, desc: str = "BC") -> FitResult:
        if len(dataset) == 0:
            raise ValueError("cannot train on an empty dataset")
        cfg = self.config
        model.to(self.device)
        optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        model.train()
        epoch_losses: list[float] = []
        steps = 0
        bar = tqdm(range(cfg.epochs), desc=desc, leave=False, unit="epoch")
        for _ in bar:
            total, count = 0.0, 0
            for batch in _batches(dataset, cfg.batch_size, self.generator):
                batch = _to(augment_points(batch, cfg, self.generator), self.device)
                loss = nn.functional.mse_loss(forward_batch(model, batch), batch["action"])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimiser.step()
                size = len(batch["action"])
                total += loss.item() * size
                count += size
                steps += 1
            epoch_losses.append(total / count)
            bar.set_postfix(loss=f"{epoch_losses[-1]:.4f}")
        model.eval().cpu()
        return FitResult(epoch_losses, steps)

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
