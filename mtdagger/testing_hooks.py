"""Deterministic pause points for kill tests: `MTDAGGER_TEST_PAUSE_AT=<name>` stops the process there.

A SIGKILL test must hit one exact moment (mid round-0 rollouts, inside a checkpoint write, ...)
every time, whatever the machine's speed. Code calls `pause_point("checkpoint:round_001")` at such
moments; when the variable names that point, the process prints `PAUSED <name>` to stderr,
creates the file named by `MTDAGGER_TEST_PAUSE_FILE` (if set) and sleeps until it is killed.
Unset (always, outside tests), a pause point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import sys
import time

PAUSE_ENV = "MTDAGGER_TEST_PAUSE_AT"
PAUSE_FILE_ENV = "MTDAGGER_TEST_PAUSE_FILE"


def pause_point(name: str) -> None:
    if os.environ.get(PAUSE_ENV) != name:
        return
    print(f"PAUSED {name}", file=sys.stderr, flush=True)
    marker = os.environ.get(PAUSE_FILE_ENV)
    if marker:
        with open(marker, "w") as handle:
            handle.write(name)
    while True:  # until the test's SIGKILL
        time.sleep(1.0)
