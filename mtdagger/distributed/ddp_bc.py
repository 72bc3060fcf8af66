"""Behaviour cloning of a run's student on several processes or GPUs (DDP), started by torchrun.

    torchrun --nproc_per_node=4 -m mtdagger.distributed.ddp_bc \\
        --run-dir runs/mt10-pc --out runs/mt10-pc-ddp [--epochs 100] [--batch-size 1024]

Refits the student a run trained (the architecture of its final checkpoint) from scratch on
every training episode the run stored (the run's own per-task split), with the run's BC settings
unless overridden, and writes one checkpoint (rank 0; the other ranks only train). Each process
takes a contiguous share of every global batch (training/bc.py, module doc): the loss curve is
the one-process curve at the same global `--batch-size`, so a run can be refitted bigger and
longer on a GPU machine without changing what a batch means. Backend: NCCL when every rank has
a GPU (one per rank, by LOCAL_RANK), else gloo on the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="torchrun ... -m mtdagger.distributed.ddp_bc", description=__doc__)
    parser.add_argument(
        "--run-dir", required=True, help="a training run folder (its data/ and checkpoints/final)"
    )
    parser.add_argument("--out", required=True, help="new checkpoint directory to write")
    parser.add_argument("--epochs", type=int, default=None, help="default: the run's bc.epochs")
    parser.add_argument("--batch-size", type=int, default=None, help="GLOBAL batch; default: the run's")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch
    import torch.distributed as dist

    args = _args(argv)
    gpu = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dist.init_process_group("nccl" if gpu else "gloo")
    try:
        device = torch.device("cuda", local_rank) if gpu else torch.device("cpu")
        if gpu:
            torch.cuda.set_device(device)
        result = _fit(args, device)
        if dist.get_rank() == 0:
            print(f"world {dist.get_world_size()}: epoch losses {[round(x, 5) for x in result]}")
            print(f"checkpoint: {args.out}")
    finally:
        dist.destroy_process_group()
    return 0


def _fit(args: argparse.Namespace, device) -> list[float]:
    """Load the run, fit from scratch with DDP (every rank), publish on rank 0."""
    import torch
    import torch.distributed as dist

    from mtdagger.data.dataset import TransitionDataset, split_by_task
    from mtdagger.data.normalization import NormalizationStats
    from mtdagger.data.store import EpisodeStore
    from mtdagger.files import load_yaml
    from mtdagger.policy.checkpoint import CheckpointMeta, load_checkpoint, publish_checkpoint
    from mtdagger.policy.networks import build_student
    from mtdagger.training.bc import BCTrainer
    from mtdagger.training.config import config_from_dict

    run = Path(args.run_dir)
    config = config_from_dict(load_yaml((run / "config.yaml").read_text(), str(run / "config.yaml")))
    bc = dataclasses.replace(
        config.bc, epochs=args.epochs or config.bc.epochs, batch_size=args.batch_size or config.bc.batch_size
    )
    _, meta = load_checkpoint(run / "checkpoints" / "final")
    (run_id,) = EpisodeStore.run_ids_in(run / "data")
    store = EpisodeStore(run / "data", run_id)
    train_records, _ = split_by_task(
        store.records(), holdout_fraction=config.dagger.holdout_fraction, seed=config.seed
    )
    episodes = store.load_all(train_records)
    stats = NormalizationStats.from_episodes(episodes)
    dataset = TransitionDataset(episodes, use_point_clouds=meta.point_cloud_contract is not None, stats=stats)
    torch.manual_seed(config.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = build_student(meta.architecture, meta.architecture_config)
    losses = BCTrainer(bc, seed=config.seed, device=device).fit(model, dataset, desc="BC (DDP)").epoch_losses
    if dist.get_rank() == 0:
        provenance = {
            **meta.provenance,
            "refit": "ddp",
            "world_size": dist.get_world_size(),
            "epochs": bc.epochs,
        }
        out_meta = CheckpointMeta(
            **{**dataclasses.asdict(meta), "normalization": stats.to_dict(), "provenance": provenance}
        )
        publish_checkpoint(args.out, model, out_meta)
    return losses


if __name__ == "__main__":
    sys.exit(main())
