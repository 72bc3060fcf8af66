"""`mtdagger report BAG_DIR... [--out DIR] [--sim-eval FILE]`: evaluation bags -> report.md + PNGs.

A trial's bags (`mtdagger trial run`) also get the operator verdicts per object and task, seen vs
unseen, and with `--sim-eval` a sim-versus-real table (mtdagger/recording/report_trial.py).

Each argument is a bag (a directory with .mcap files, or one .mcap file) or a folder of bags, such
as the `bag_dir` a launch records into: every bag below it is reported, in name order.

The report goes to `--out`, or by default to `report/` beside the first bag (its parent
directory), or inside the folder of bags given first, so `mtdagger report trials/bag_*` and
`mtdagger report trials` both leave `trials/report/report.md`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtdagger.recording.bag_reader import BagError, read_evaluation_bag
from mtdagger.recording.report import Report, ReportError, write_report
from mtdagger.recording.report_trial import SimEvalError, load_sim_eval, sim_vs_real


def default_out_dir(first_bag: str | Path) -> Path:
    return Path(first_bag).parent / "report"


def expand_bag_paths(paths) -> list[Path]:
    """Bags as given, and a folder without .mcap files of its own replaced by the bags below it."""
    bags: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir() or any(path.glob("*.mcap")):
            bags.append(path)  # a bag (or something read_evaluation_bag will name as not one)
            continue
        found = sorted({mcap.parent for mcap in path.rglob("*.mcap")})
        if not found:
            raise BagError(f"{path}: no .mcap file in this directory or below it (no rosbag2 MCAP bag)")
        bags.extend(found)
    return bags


def run(args: argparse.Namespace) -> int:
    from mtdagger.commands.paths import PathError, check_output_dir

    try:
        paths = expand_bag_paths(args.bags)
    except BagError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    first = Path(args.bags[0])
    folder_of_bags = paths[0] != first  # the first argument was a folder: its report goes inside it
    out = Path(args.out) if args.out else first / "report" if folder_of_bags else default_out_dir(first)
    try:  # before any bag is read: a report never overwrites an earlier one
        check_output_dir(out, "--out", must_be_empty=True)
    except PathError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        sim_eval = load_sim_eval(args.sim_eval) if getattr(args, "sim_eval", None) else None
        bags = [read_evaluation_bag(path) for path in paths]
    except (BagError, SimEvalError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        report = write_report(bags, out, sim_eval)
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print_summary(report)
    return 0


def _print_summary(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if report.num_episodes == 0:
        console.print("[yellow]no episodes in these bags[/yellow]")
    else:
        table = Table(title=f"success per task ({report.num_episodes} episodes)")
        for name in ("task", "success", "rate", "95% CI", "incomplete"):
            table.add_column(name)
        for row in report.success:
            rate = "n/a" if row.episodes == 0 else f"{row.rate:.0%}"
            table.add_row(
                row.task,
                f"{row.successes}/{row.episodes}",
                rate,
                f"[{row.ci_low:.2f}, {row.ci_high:.2f}]",
                str(row.incomplete),
            )
        console.print(table)
    if report.trial is not None and report.trial.sim is not None:
        outside = [f"{o} {t}" for o, _s, t, *_rest, flagged in sim_vs_real(report.trial) if flagged]
        disagree = "where sim and real disagree (each outside the other's interval)"
        print(f"sim vs real: {len(outside)} object/task pair(s) {disagree}"
              + (f": {', '.join(outside)}" if outside else ""))  # fmt: skip
    for warning in report.warnings:
        console.print(f"[yellow]note:[/yellow] {warning}")
    print(report.report_path)
