"""Behaviour cloning: fit the student to expert labels, and measure per-task held-out loss.

The loss is mean squared error in the *normalised* action space (NormalizationStats), so the
three displacement axes and the gripper weigh alike. Per-task held-out loss before and after
each update is what the performance-gain scheduler reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mtdagger.data.dataset import TransitionDataset
from mtdagger.training.config import BCConfig

ForwardFn = Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor]


def forward_fn_for(architecture: str) -> ForwardFn:
    """Which inputs each student architecture reads from a batch."""
    if architecture == "pointnet":
        return lambda model, b: model(b["point_cloud"], b["state"], b["task_index"])
    if architecture == "state":
        return lambda model, b: model(b["privileged"], b["task_index"])
    raise ValueError(f"unknown student architecture {architecture!r}; valid: pointnet, state")


def _batches(dataset: TransitionDataset, batch_size: int, generator: torch.Generator | None):
    """Index the dataset's stacked tensors a batch at a time (no per-item Python collate)."""
    n = len(dataset)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield dataset.batch(order[start : start + batch_size])


@dataclass
class FitResult:
    epoch_losses: list[float]
    steps: int


class BCTrainer:
    def __init__(self, config: BCConfig, architecture: str, seed: int = 0) -> None:
        self.config = config
        self.forward = forward_fn_for(architecture)
        self.generator = torch.Generator().manual_seed(seed)

    def fit(self, model: nn.Module, dataset: TransitionDataset, *, desc: str = "BC") -> FitResult:
        if len(dataset) == 0:
            raise ValueError("cannot train on an empty dataset")
        cfg = self.config
        optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        model.train()
        epoch_losses: list[float] = []
        steps = 0
        bar = tqdm(range(cfg.epochs), desc=desc, leave=False, unit="epoch")
        for _ in bar:
            total, count = 0.0, 0
            for batch in _batches(dataset, cfg.batch_size, self.generator):
                loss = nn.functional.mse_loss(self.forward(model, batch), batch["action"])
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
        model.eval()
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
        model.eval()
        sums = np.zeros(num_tasks)
        counts = np.zeros(num_tasks)
        scale = None if action_scale is None else torch.as_tensor(action_scale, dtype=torch.float32)
        for batch in _batches(dataset, 4096, None):
            error = self.forward(model, batch) - batch["action"]
            if scale is not None:
                error = error * scale
            per_sample = (error**2).mean(dim=1).numpy()
            tasks = batch["task_index"].numpy()
            np.add.at(sums, tasks, per_sample)
            np.add.at(counts, tasks, 1)
        return {int(t): float(sums[t] / counts[t]) for t in np.flatnonzero(counts)}
