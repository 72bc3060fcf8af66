"""Stamps and headers: the part every message writer and reader shares.

Split from `mtdagger.messages.convert` so that the per-message-family modules (`convert`,
`geometry`) can all build headers without importing each other. Stamps are integer nanoseconds.
"""

from __future__ import annotations

import operator
from typing import Any

from mtdagger.messages.factory import MessageFactory

NANOSECONDS = 1_000_000_000


def checked_frame_id(frame_id: Any) -> str:
    """A frame id as a str, refused early: a wrong type would only fail deep inside rclpy."""
    if not isinstance(frame_id, str):
        raise TypeError(f"frame_id must be a str, got {type(frame_id).__name__}")
    return frame_id


def split_stamp(stamp_ns: int) -> tuple[int, int]:
    """Integer nanoseconds -> (sec, nanosec) as builtin_interfaces/Time holds them."""
    try:
        stamp = operator.index(stamp_ns)
    except TypeError:
        raise TypeError(f"stamp_ns must be an integer number of nanoseconds, got {stamp_ns!r}") from None
    if not 0 <= stamp < 2**31 * NANOSECONDS:
        raise ValueError(f"stamp_ns {stamp} does not fit builtin_interfaces/Time (0 .. 2^31 s)")
    return stamp // NANOSECONDS, stamp % NANOSECONDS


def time_msg(factory: MessageFactory, stamp_ns: int) -> Any:
    sec, nanosec = split_stamp(stamp_ns)
    return factory.new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)


def header(factory: MessageFactory, stamp_ns: int, frame_id: str) -> Any:
    return factory.new(
        "std_msgs/msg/Header", stamp=time_msg(factory, stamp_ns), frame_id=checked_frame_id(frame_id)
    )


def stamp_ns_from_header(msg_header: Any) -> int:
    return int(msg_header.stamp.sec) * NANOSECONDS + int(msg_header.stamp.nanosec)
