"""The student's last-layer features of states: what embedding-based schedulers (AMF) read.

The feature of a sample is the input of the student's last `nn.Linear` (the action head's
final layer), captured with a forward hook, so it works for every architecture whose output
ends in a linear layer (both students here) without a second forward path to keep in sync.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from mtdagger.data.dataset import TransitionDataset
from mtdagger.data.episode import Episode
from mtdagger.scheduling import StudentEmbeddings
from mtdagger.training.bc import ForwardFn


def last_linear(model: nn.Module) -> nn.Linear:
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to take features from")
    return layers[-1]


@torch.inference_mode()
def last_layer_features(
    model: nn.Module, forward: ForwardFn, dataset: TransitionDataset, batch_size: int = 4096
) -> np.ndarray:
    """(len(dataset), d) float64: the input of the model's last linear layer for every sample."""
    layer = last_linear(model)
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].cpu()))
    device = next(model.parameters()).device  # the trainer may have moved the model to CUDA
    try:
        model.eval()
        for start in range(0, len(dataset), batch_size):
            batch = dataset.batch(torch.arange(start, min(start + batch_size, len(dataset))))
            forward(model, {key: value.to(device) for key, value in batch.items()})
    finally:
        handle.remove()
    if not captured:
        return np.zeros((0, layer.in_features))
    return torch.cat(captured).double().numpy()


def student_embeddings(
    model: nn.Module,
    forward: ForwardFn,
    train: TransitionDataset,
    visited: dict[str, Sequence[Episode]],
    make_dataset,
) -> StudentEmbeddings:
    """Features of the training states (as their Gram matrix) and of each task's visited states.

    `visited`: task -> episodes the student rolled out (β = 0 evaluation); `make_dataset` turns
    episodes into a TransitionDataset normalised like `train`.
    """
    train_features = last_layer_features(model, forward, train)
    per_task = {
        task: last_layer_features(model, forward, make_dataset(list(episodes)))
        for task, episodes in visited.items()
        if episodes
    }
    steps = {task: float(np.mean([e.num_steps for e in eps])) for task, eps in visited.items() if eps}
    return StudentEmbeddings(per_task, steps, train_features.T @ train_features)
