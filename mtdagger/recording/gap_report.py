"""gap.md + PNGs for `mtdagger gap`: the flags first, then the evidence behind each statistic."""

from __future__ import annotations

import io
from pathlib import Path

from mtdagger.files import atomic_write_bytes, atomic_write_text
from mtdagger.perception.gap import DENSITY_GRID, FrameStats, GapRow, mean_density


def write_gap_report(
    out: Path,
    *,
    bag: Path,
    preset: str,
    config,
    frames,
    training_frames,
    bag_stats: list[FrameStats],
    training_stats: list[FrameStats],
    rows: list[GapRow],
) -> Path:
    """Write out/gap.md, out/density.png, out/table_plane.png, out/clouds.png; return gap.md's path.

    Every file is written to a temporary name and renamed, so a kill never leaves half a report.
    """
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    _density_png(out / "density.png", config.point_cloud, bag_stats, training_stats)
    _plane_png(out / "table_plane.png", bag_stats, training_stats)
    _clouds_png(out / "clouds.png", config.point_cloud, frames[0], training_frames[0])
    lines = [
        *_intro_lines(bag, preset, config),
        *_flag_lines(rows),
        *_statistics_lines(rows),
        *_per_frame_lines(frames, bag_stats, training_stats),
        *_figure_lines(),
    ]
    path = out / "gap.md"
    _atomic_write_text(path, "\n".join(lines))
    return path


def _intro_lines(bag: Path, preset: str, config) -> list[str]:
    """Title and what was compared: the training view, the bag view, and the contract's numbers."""
    contract = config.point_cloud
    return [
        f"# Sim-to-real gap: `{bag}`",
        "",
        f"Training view: preset `{preset}` (sim backend `{config.sim.backend}`, camera "
        f"`{config.sim.camera}`), one simulator reset per bag episode with the same task and seed. Bag "
        "view: the first depth frame of each episode placed with the bag's /tf_static (the cell's "
        f"calibration). Contract: {contract.num_points} points, box {list(contract.workspace_min)} .. "
        f"{list(contract.workspace_max)}, voxel {contract.voxel_size_m * 1e3:g} mm, depth "
        f"{contract.min_depth_m}-{contract.max_depth_m} m.",
        "",
    ]


def _flag_lines(rows: list[GapRow]) -> list[str]:
    """The flags section: first, because a reader acts on the flags and only then reads the rest."""
    flagged = [row for row in rows if row.flagged]
    lines = ["## Flags", ""]
    if flagged:
        lines += [
            f"- **{row.statistic}**: bag {row.bag:.4g} vs training {row.training:.4g} "
            f"(tolerance {row.tolerance}){'; ' + row.note if row.note else ''}"
            for row in flagged
        ]
    else:
        lines.append("None: every statistic is within tolerance.")
    return lines


def _statistics_lines(rows: list[GapRow]) -> list[str]:
    """Every statistic of `compare` as a table row, flagged or not."""
    lines = [
        "",
        "## Statistics (means over frames; table plane: medians)",
        "",
        "| statistic | bag | training | tolerance | flag | note |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r.statistic} | {r.bag:.4g} | {r.training:.4g} | {r.tolerance} | "
              f"{'FLAG' if r.flagged else 'ok'} | {r.note} |" for r in rows]  # fmt: skip
    return lines


def _per_frame_lines(frames, bag_stats: list[FrameStats], training_stats: list[FrameStats]) -> list[str]:
    """One bag row and one training row per episode's frame: the evidence behind the means."""
    lines = [
        "",
        "## Per frame",
        "",
        "| episode | task | seed | side | valid | in box | after voxel | padded | table z (m) | tilt (deg) "
        "| residual std (mm) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for frame, bag_frame, training_frame in zip(frames, bag_stats, training_stats):
        for side, stats in (("bag", bag_frame), ("training", training_frame)):
            lines.append(
                f"| {frame.episode} | {frame.task} | {frame.seed} | {side} | {_frame_cells(stats)} |"
            )
    return lines


def _figure_lines() -> list[str]:
    """How the figures were made, and the figures themselves."""
    return [
        "",
        f"Region shares use a {DENSITY_GRID[0]}×{DENSITY_GRID[1]} x-y grid over the box (`density.png`); the "
        "table plane is fitted by RANSAC + least squares to points within 15 cm of the box floor "
        "(`table_plane.png`); `clouds.png` overlays the first frame's voxel survivors. Bag depth is 16UC1 "
        "(1 mm steps), which alone adds ~0.3 mm of plane residual.",
        "",
        "![density](density.png)",
        "![table plane](table_plane.png)",
        "![clouds](clouds.png)",
        "",
    ]


def _frame_cells(stats: FrameStats) -> str:
    c = stats.counts
    counts = "– | – | – " if c is None else f"{c.valid_depth} | {c.in_workspace} | {c.after_voxel}"
    plane = stats.plane
    if plane is None:
        return f"{counts} | {stats.padded} | – | – | –"
    return (f"{counts} | {stats.padded} | {plane.height_m:.4f} | {plane.tilt_deg:.2f} | "
            f"{plane.residual_std_m * 1e3:.2f}")  # fmt: skip


def _density_png(path: Path, contract, bag_stats, training_stats) -> None:
    import matplotlib.pyplot as plt

    bag, training = mean_density(bag_stats), mean_density(training_stats)
    extent = [contract.workspace_min[0], contract.workspace_max[0],
              contract.workspace_min[1], contract.workspace_max[1]]  # fmt: skip
    figure, axes = plt.subplots(1, 3, figsize=(13, 4))
    top = max(bag.max(), training.max(), 1e-9)
    for axis, data, title, cmap, limits in (
        (axes[0], bag, "bag: share of voxel survivors", "viridis", (0, top)),
        (axes[1], training, "training (simulator)", "viridis", (0, top)),
        (axes[2], bag - training, "bag − training", "coolwarm", (-top, top)),
    ):
        image = axis.imshow(data.T, origin="lower", extent=extent, cmap=cmap, vmin=limits[0], vmax=limits[1])
        axis.set(title=title, xlabel="x (m, base)", ylabel="y (m, base)")
        figure.colorbar(image, ax=axis, shrink=0.8)
    figure.suptitle("where the contract's voxel survivors lie (x-y regions of the workspace box)")
    figure.tight_layout()
    _atomic_savefig(figure, path)
    plt.close(figure)


def _plane_png(path: Path, bag_stats, training_stats) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for side, stats, marker in (("bag", bag_stats, "o"), ("training", training_stats, "x")):
        planes = [(i, s.plane) for i, s in enumerate(stats) if s.plane is not None]
        index = [i for i, _ in planes]
        axes[0].plot(index, [p.height_m * 1e3 for _, p in planes], marker, label=side)
        axes[1].plot(index, [p.tilt_deg for _, p in planes], marker, label=side)
        axes[2].plot(index, [p.residual_std_m * 1e3 for _, p in planes], marker, label=side)
    for axis, label in zip(
        axes, ("table height at box centre (mm)", "table tilt (deg)", "residual std (mm)")
    ):
        axis.set(xlabel="frame", ylabel=label)
        axis.legend()
    figure.suptitle("table plane per frame: bag (cell calibration) vs training (simulator)")
    figure.tight_layout()
    _atomic_savefig(figure, path)
    plt.close(figure)


def _clouds_png(path: Path, contract, bag_frame, training_frame) -> None:
    import matplotlib.pyplot as plt

    from mtdagger.perception.pointcloud import EmptyPointCloudError, workspace_points

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for label, frame, colour in (("bag", bag_frame, "tab:red"), ("training", training_frame, "tab:blue")):
        try:
            points = workspace_points(frame.depth_m, frame.camera, contract)[0]
        except EmptyPointCloudError:
            continue
        points = points[:: max(1, len(points) // 4000)]
        axes[0].scatter(points[:, 0], points[:, 1], s=1, c=colour, alpha=0.4, label=label)
        axes[1].scatter(points[:, 0], points[:, 2], s=1, c=colour, alpha=0.4, label=label)
    axes[0].set(title="top view (x-y)", xlabel="x (m)", ylabel="y (m)")
    axes[1].set(title="side view (x-z)", xlabel="x (m)", ylabel="z (m)")
    for axis in axes:
        axis.legend(markerscale=8)
    figure.suptitle("first frame's voxel survivors (before FPS), base frame")
    figure.tight_layout()
    _atomic_savefig(figure, path)
    plt.close(figure)


def _atomic_savefig(figure, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=90, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write_text(path, text)
