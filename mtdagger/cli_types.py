"""argparse `type=` functions for `mtdagger`'s flags: a bad value is refused by the parser, as the
project's one `error:` line naming the flag (exit code 2), before the command starts.

A room of its own beside `mtdagger.cli` (scripts/import_map.py): it imports nothing of the
project, so the parser stays cheap to build and lower rooms never depend on the command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence


def count_type(minimum: int = 1, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse `type=` for an integer flag in [minimum, maximum]: a bad value is refused by
    the parser (one `error:` line naming the flag, exit code 2) before the command starts."""

    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = "" if maximum is None else f" and <= {maximum}"
            raise argparse.ArgumentTypeError(f"must be >= {minimum}{upper}, got {value}")
        return value

    return count


def count_list_type(minimum: int = 1) -> Callable[[str], list[int]]:
    """An argparse `type=` for comma-separated integers, each >= minimum (e.g. `--tasks 1000,10000`)."""

    def counts(text: str) -> list[int]:
        parts = [part.strip() for part in text.split(",") if part.strip()]
        try:
            values = [int(part) for part in parts]
        except ValueError:
            values = []
        if not values or min(values) < minimum:
            raise argparse.ArgumentTypeError(f"takes comma-separated integers >= {minimum}, got {text!r}")
        return values

    return counts


def name_list_type(
    valid: Callable[[], Sequence[str]], *, everything: str = "all"
) -> Callable[[str], list[str]]:
    """An argparse `type=` for comma-separated names out of `valid()` (`everything`: all of them);
    `valid` is called only when the flag is parsed, so the parser stays cheap to build."""

    def names(text: str) -> list[str]:
        known = list(valid())
        chosen = known if text == everything else [part.strip() for part in text.split(",") if part.strip()]
        unknown = [name for name in chosen if name not in known]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(
                f"unknown {unknown or repr(text)}; valid: {', '.join(known)} (or {everything})"
            )
        return chosen

    return names
