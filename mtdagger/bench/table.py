"""One table format for every `mtdagger bench ...` command, so their outputs read alike."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    console: Console | None = None,
) -> None:
    """Print `rows` under `columns` as a rich table. Floats get 3 significant decimals; numbers
    are right-aligned (a column is numeric when its first row holds a number)."""
    if any(len(row) != len(columns) for row in rows):
        raise ValueError(f"every row must have {len(columns)} cells to match the columns {list(columns)}")
    table = Table(title=title)
    first = rows[0] if rows else [None] * len(columns)
    for name, sample in zip(columns, first):
        numeric = isinstance(sample, (int, float)) and not isinstance(sample, bool)
        table.add_column(name, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(_format_cell(cell) for cell in row))
    # Redirected output (CI logs, `| tee`) would otherwise wrap at 80 columns and split every cell.
    (console or Console(width=None if sys.stdout.isatty() else 140)).print(table)


def _format_cell(cell: object) -> str:
    if isinstance(cell, float):
        return f"{cell:.3f}"
    return str(cell)
