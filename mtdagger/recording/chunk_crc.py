"""Chunk CRCs for the MCAP files our bags are written with.

rosbags' MCAP writer (0.11) writes every chunk with `uncompressed_crc = 0`, which the MCAP spec
reads as "no checksum": a chunk corrupted on disk (a flipped bit in a success label, a depth image)
then reads back silently as other data. `enable_chunk_crcs(writer)` makes an open rosbags
`Writer` record the CRC-32 of each chunk's uncompressed records, the field the spec defines for
it; readers verify it: rosbags' reader on a closed bag, and `bag_files.iter_mcap_messages`
(mcap's reader with `validate_crcs=True`) on a killed one. Each bag writer of the project calls it
right after `Writer.open()` (bag_writer.py, repair.py; the rehearsal's recorder,
rehearsal/bag_recorder.py, is to call it the same way). `ros2 bag record`'s MCAP plugin writes
chunk CRCs by default.

How: the storage's `close_chunk` is wrapped; after the original has written the chunk record, its
CRC field (opcode 1 + record length 8 + message start/end times and uncompressed size 3 x 8 bytes
into the record) is overwritten in place, and the file position restored. The first chunk's opcode
is read back, so a rosbags release that lays the chunk out differently fails loudly at the first
chunk rather than writing a wrong checksum.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

CHUNK_OPCODE = 0x06
CRC_OFFSET = 1 + 8 + 3 * 8  # opcode, record length, message_start_time, message_end_time, uncompressed_size


def enable_chunk_crcs(writer: Any) -> None:
    """Make the open rosbags `Writer` (MCAP storage) write a CRC-32 into every chunk it closes."""
    storage = writer.storage
    original = storage.close_chunk
    if getattr(original, "writes_crc", False):
        return

    checked = [False]

    def close_chunk_with_crc() -> None:
        crc = zlib.crc32(storage.chunk.bio.getbuffer())
        start = storage.bio.tell()
        original()
        end = storage.bio.tell()
        if not checked[0]:  # the layout, once per file (the writer's handle is write-only)
            _check_chunk_opcode(storage, start)
            checked[0] = True
        storage.bio.seek(start + CRC_OFFSET)
        storage.bio.write(struct.pack("<I", crc))
        storage.bio.seek(end)

    close_chunk_with_crc.writes_crc = True  # type: ignore[attr-defined]
    storage.close_chunk = close_chunk_with_crc


def _check_chunk_opcode(storage: Any, start: int) -> None:
    storage.bio.flush()
    with open(storage.path, "rb") as handle:
        handle.seek(start)
        opcode = handle.read(1)
    if opcode != bytes([CHUNK_OPCODE]):
        raise RuntimeError(
            f"rosbags' MCAP writer wrote record opcode {opcode!r} where a chunk (0x06) was expected; "
            "chunk CRCs cannot be added with this rosbags release"
        )
