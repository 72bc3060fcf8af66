"""`mtdagger gap BAG --config PRESET`: the sim-to-real gap check a researcher runs before a trial.
(`mtdagger gap BAG --reflex [--robot R]`: the joint-limit reflex check of the bag's commands.)

The first depth frame of each episode in the bag (placed with the bag's own /tf_static, i.e. the
cell's calibration) is compared with what training saw: the simulator named by the preset
(built from `cfg.sim` as training builds it), with the preset's camera, reset to the same task and seed.
Both go through the preset's point-cloud contract; `mtdagger.perception.gap` computes and compares
the statistics. Writes gap.md + PNGs and exits 0 whatever it finds (the flags are the finding);
2 only for input it cannot use.
"""

from __future__ import annotations

import sys
from pathlib import Path


def run(args) -> int:
    from mtdagger.perception.gap import GapTolerances, compare, frame_stats
    from mtdagger.recording.bag_reader import BagError
    from mtdagger.recording.depth_frames import first_depth_frames
    from mtdagger.recording.gap_report import write_gap_report

    if getattr(args, "reflex", False):
        return run_reflex(args)
    if args.config is None:
        return _fail("--config is required (the training preset), unless --reflex")
    if args.episodes < 1:
        return _fail(f"--episodes must be at least 1, got {args.episodes}")
    bag = Path(args.bag)
    out = Path(args.out) if args.out else bag.parent / f"{bag.name.removesuffix('.mcap')}_gap"
    if out.resolve() == bag.resolve() or bag.resolve() in out.resolve().parents:
        return _fail(f"--out {out} is inside the bag {bag}; choose another directory")
    try:
        config = _load_preset(args.config)
        frames = first_depth_frames(bag, args.episodes)
    except (BagError, FileNotFoundError, ValueError) as error:
        return _fail(str(error))
    try:
        training_frames = render_training_frames(config, frames)
    except (ValueError, KeyError, NotImplementedError) as error:
        return _fail(f"cannot render the training view with sim.backend={config.sim.backend!r}: {error}")

    contract = config.point_cloud
    bag_stats = [frame_stats(f.depth_m, f.camera, contract) for f in frames]
    training_stats = [frame_stats(f.depth_m, f.camera, contract) for f in training_frames]
    tolerances = GapTolerances()
    rows = compare(bag_stats, training_stats, tolerances, _noise_sigma_at_1m(config))
    try:
        report = write_gap_report(
            out,
            bag=bag,
            preset=args.config,
            config=config,
            frames=frames,
            training_frames=training_frames,
            bag_stats=bag_stats,
            training_stats=training_stats,
            rows=rows,
        )
    except OSError as error:
        return _fail(f"cannot write the report to {out}: {error}")
    flagged = [row for row in rows if row.flagged]
    print(f"compared {len(frames)} bag frame(s) with {len(training_frames)} simulator frame(s): {report}")
    if flagged:
        print(f"{len(flagged)} statistic(s) differ beyond tolerance:")
        for row in flagged:
            print(f"  FLAG {row.statistic}: bag {row.bag:.4g}, training {row.training:.4g} ({row.tolerance})")
    else:
        print("no statistic differs beyond tolerance")
    return 0


def run_reflex(args) -> int:
    """`mtdagger gap BAG --reflex`: mtdagger.recording.reflex_check; writes reflex.md beside the bag.
    Exit 0 without a violation, 1 with one, 2 for input it cannot use."""
    from mtdagger.control.kinematics import ArmKinematics, KinematicsError
    from mtdagger.control.robot_config import load_robot_config
    from mtdagger.recording.bag_reader import BagError
    from mtdagger.recording.reflex_check import check_bag, format_report

    bag = Path(args.bag)
    out = Path(args.out) if args.out else bag.parent / f"{bag.name.removesuffix('.mcap')}_reflex"
    try:
        robot = load_robot_config(args.robot)
        urdf = Path(args.urdf).read_text() if args.urdf else _default_urdf(robot)
        kinematics = None if urdf is None else ArmKinematics(urdf, robot.base_frame, robot.ee_frame)
        report = check_bag(bag, robot, kinematics)
    except (BagError, FileNotFoundError, ValueError, KinematicsError, OSError) as error:
        return _fail(str(error))
    text = format_report(report)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "reflex.md").write_text(text + "\n")
    except OSError as error:
        return _fail(f"cannot write the report to {out}: {error}")
    print(text)
    return 1 if report.violations else 0


def _default_urdf(robot) -> str | None:
    """The FR3 cell's URDF for franka_fr3 (what rehearsal bags were driven with); else none."""
    if robot.name != "franka_fr3":
        return None
    from sim_bridge.fr3.model import fr3_urdf

    return fr3_urdf()


def render_training_frames(config, frames):
    """One simulator depth frame per bag frame: same task, seed (and object where the bag names a
    numeric object id), reset, the preset's camera. The backend is built exactly as training builds
    it (`backend_config_for(cfg.sim)`, i.e. by `cfg.sim.backend`), once per object split."""
    from mtdagger.training.sim_setup import backend_config_for

    rendered = [None] * len(frames)
    by_split: dict[str, list[int]] = {}
    for index, frame in enumerate(frames):
        by_split.setdefault(frame.object_split or "seen", []).append(index)
    for split, indices in by_split.items():
        tasks = sorted({frames[i].task for i in indices})
        backend = backend_config_for(config.sim, tasks, render_depth=True, objects=split).build()
        try:
            for i in indices:
                frame = frames[i]
                seed = frame.seed if frame.seed is not None else max(frame.episode, 0)
                if frame.object.isdigit() and config.sim.backend == "fr3":
                    backend.reset(frame.task, seed, object_id=int(frame.object))
                else:
                    backend.reset(frame.task, seed)
                rendered[i] = backend.render_depth()
        finally:
            backend.close()
    return rendered


def _noise_sigma_at_1m(config) -> float:
    from sim_bridge.camera.sim_camera import SimCameraConfig

    return float(SimCameraConfig.from_yaml(config.sim.camera).noise.sigma_at_1m_m)


def _load_preset(path: str):
    from mtdagger.training.config import load_train_config

    try:
        config = load_train_config(path)
    except FileNotFoundError:
        raise
    except (TypeError, KeyError) as error:
        raise ValueError(f"invalid preset {path}: {error}") from error
    if config.point_cloud is None:
        raise ValueError(f"preset {path} has no point_cloud section: there is no contract to check against")
    return config


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2
