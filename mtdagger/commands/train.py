"""`mtdagger train --config configs/NAME.yaml --out RUN_DIR [--resume]`."""

from __future__ import annotations

import dataclasses
import logging
import sys

from mtdagger.training.config import load_train_config


def run(args) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_train_config(args.config, args.set)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.workers is not None:
        config = dataclasses.replace(config, workers=args.workers)
    from mtdagger.training.dagger import DaggerLoop

    try:
        loop = DaggerLoop(config, args.out, resume=args.resume)
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    final = loop.train()
    print(f"final checkpoint: {final}")
    print(
        f"plots: {loop.run.plots_dir}  metrics: {loop.run.metrics_path}  "
        f"tensorboard: {loop.run.tensorboard_dir}"
    )
    return 0
