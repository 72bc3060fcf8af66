"""`mtdagger train --config configs/NAME.yaml --out RUN_DIR [--resume] [--ray ADDRESS]`.

Everything the user typed is checked before anything runs: the whole resolved config (every
section's keys, types and ranges, the student's architecture config, the β schedule, the camera
file) and the `--out` folder. A refusal is one line on stderr and exit code 2, and leaves no run
folder behind, so the corrected command can reuse the same `--out`.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

from mtdagger.commands.paths import PathError, check_output_dir, resolve_input_file
from mtdagger.data.episode_format import EpisodeStoreError
from mtdagger.training.config import FIELD_BOUNDS, TrainConfig, check_ray_address, load_train_config
from mtdagger.training.run_folder import RunFolder

EXIT_USAGE = 2


def run(args) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_train_config(resolve_input_file(args.config, "--config"), args.set)
        if args.workers is not None:
            FIELD_BOUNDS[(TrainConfig, "workers")].check(args.workers, "--workers")
            config = dataclasses.replace(config, workers=args.workers)
        if getattr(args, "ray", None) is not None:
            config = dataclasses.replace(config, ray=check_ray_address(args.ray, "--ray"))
        from mtdagger.training.preflight import preflight

        preflight(config)
        _check_out(Path(args.out), resume=args.resume)
        if args.resume:  # reads only: the saved config must match (before any simulator starts)
            RunFolder(args.out).create(config.to_dict(), resume=True)
            RunFolder(args.out).check_resumable()
    except (FileNotFoundError, ValueError, PathError, EpisodeStoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    from mtdagger.distributed import rollout_engine
    from mtdagger.training.runner import DaggerRunner

    engine = rollout_engine(config.ray, config.workers)  # None: the local process pool
    try:
        try:
            loop = DaggerRunner(config, args.out, resume=args.resume, engine=engine)
        except (FileExistsError, FileNotFoundError, ValueError, EpisodeStoreError) as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USAGE
        final = loop.train()
    finally:
        if engine is not None:
            engine.close()
    print(f"final checkpoint: {final}")
    print(
        f"plots: {loop.run.plots_dir}  metrics: {loop.run.metrics_path}  "
        f"tensorboard: {loop.run.tensorboard_dir}"
    )
    return 0


def _check_out(out: Path, *, resume: bool) -> None:
    if resume:
        if not (out / "config.yaml").is_file():
            raise PathError(f"--out {str(out)!r} holds no run to resume (no config.yaml); drop --resume")
        check_output_dir(out, "--out", must_be_empty=False)
        return
    if out.is_dir() and any(out.iterdir()):
        raise PathError(f"--out {str(out)!r} is not empty; pass --resume to continue it or pick a new --out")
    check_output_dir(out, "--out", must_be_empty=True)
