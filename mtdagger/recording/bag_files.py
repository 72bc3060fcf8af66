"""Raw reads of rosbag2 MCAP bags: find the files, tell a closed bag from a killed one, stream records.

The layer under `bag_reader` (episode summaries), `depth_frames` (depth images) and `repair`
(rewriting killed recordings): each of them decides what to decode, this module only yields
(topic, stamp, decode) triples, lazily, from whichever of the two read paths fits the bag (see
`bag_reader`'s module doc: rosbags' `AnyReader` for a closed bag, mcap's `NonSeekingReader`
streamed front to back for a killed one).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from mtdagger.files import load_yaml

MCAP_MAGIC = b"\x89MCAP0\r\n"
_FOOTER_OPCODE = b"\x02"
_FOOTER_RECORD_SIZE = 1 + 8 + 20  # opcode + length + (summary_start, summary_offset_start, crc)


CORRUPT_CHUNK = (
    "a chunk fails its CRC check: the .mcap file was damaged after it was written (disk or copy "
    "error); its records are not read as data"
)


class BagError(ValueError):
    """A bag directory is missing, empty or unreadable; the message names the path."""


def locate_bag(path: Path) -> tuple[Path, list[Path]]:
    """(bag directory, its .mcap files sorted) for a bag directory or one .mcap file."""
    if not path.exists():
        raise BagError(f"{path}: no such bag directory")
    if path.is_file():
        if path.suffix != ".mcap":
            raise BagError(f"{path}: not a bag directory or .mcap file")
        return path.parent, [path]
    files = sorted(path.glob("*.mcap"))
    if not files:
        raise BagError(f"{path}: no .mcap file in this directory (not a rosbag2 MCAP bag)")
    return path, files


def has_footer(mcap_file: Path) -> bool:
    """Whether the file ends in an MCAP footer record + magic, i.e. it was closed."""
    size = mcap_file.stat().st_size
    tail_size = _FOOTER_RECORD_SIZE + len(MCAP_MAGIC)
    if size < len(MCAP_MAGIC) + tail_size:
        return False
    with mcap_file.open("rb") as handle:
        handle.seek(size - tail_size)
        tail = handle.read(tail_size)
    return tail.endswith(MCAP_MAGIC) and tail[:1] == _FOOTER_OPCODE


def read_custom_data(metadata_yaml: Path) -> dict[str, str]:
    """rosbag2's `custom_data` mapping from a bag's metadata.yaml (empty when it has none)."""
    try:
        info = load_yaml(metadata_yaml.read_text()) or {}
        data = info.get("rosbag2_bagfile_information", {}).get("custom_data") or {}
    except (yaml.YAMLError, AttributeError) as error:
        raise BagError(f"{metadata_yaml}: unreadable rosbag2 metadata ({error})") from error
    return {str(k): str(v) for k, v in data.items()}


# (topic, stamp ns, decode): decoding is deferred so readers only pay for the topics they use.
RawMessage = tuple[str, int, Callable[[], Any]]


def iter_anyreader(bag_dir: Path) -> Iterator[RawMessage]:
    """(topic, stamp ns, decode) of a closed bag through rosbags' `AnyReader` (uses the index)."""
    from rosbags.highlevel import AnyReader

    try:
        reader = AnyReader([bag_dir])
        reader.open()
    except Exception as error:
        raise BagError(f"{bag_dir}: rosbags cannot open the bag: {error}") from error
    try:
        for connection, stamp, raw in reader.messages():
            yield connection.topic, stamp, _lazy(reader.deserialize, raw, connection.msgtype)
    except Exception as error:
        if "checksum" in str(error).lower():  # rosbags verifies the chunk CRC (chunk_crc.py)
            raise BagError(f"{bag_dir}: {CORRUPT_CHUNK}") from error
        raise
    finally:
        reader.close()


def iter_mcap_messages(
    mcap_file: str | Path, warnings: list[str] | None = None
) -> Iterator[tuple[Any, Any, Any]]:
    """(schema, channel, message) records of one .mcap in file order, tolerating a truncated tail.

    Works on complete and killed files alike: it never looks for the footer. A truncated or
    damaged tail ends the iteration (with a note in `warnings`) instead of raising; a chunk whose
    CRC does not match its bytes (chunk_crc.py) is a BagError.
    """
    from mcap.exceptions import EndOfFile, InvalidMagic, McapError
    from mcap.reader import NonSeekingReader
    from mcap.stream_reader import CRCValidationError

    path = Path(mcap_file)
    with path.open("rb") as handle:
        try:
            records = NonSeekingReader(handle, validate_crcs=True).iter_messages(log_time_order=False)
            yield from records
        except InvalidMagic as error:
            raise BagError(f"{path}: not an MCAP file ({error})") from error
        except CRCValidationError as error:  # a whole chunk whose bytes changed: not a kill, damage
            raise BagError(f"{path}: {CORRUPT_CHUNK} (before byte {handle.tell()})") from error
        except EndOfFile:
            if warnings is not None:
                warnings.append(
                    f"{path}: truncated at byte {handle.tell()}; kept the complete chunks before it"
                )
        except (McapError, struct.error) as error:
            if warnings is not None:
                warnings.append(f"{path}: stopped at a damaged record ({type(error).__name__}: {error})")


def iter_mcap_stream(mcap_files: list[Path], warnings: list[str]) -> Iterator[RawMessage]:
    """(topic, log time ns, decode) of .mcap files streamed front to back (killed recordings)."""
    from mcap_ros2.decoder import DecoderFactory

    factory = DecoderFactory()
    for mcap_file in mcap_files:
        for schema, channel, message in iter_mcap_messages(mcap_file, warnings):
            decoder = factory.decoder_for(channel.message_encoding, schema)
            if decoder is None:
                continue
            yield channel.topic, message.log_time, _lazy(decoder, message.data)


def _lazy(function: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    return lambda: function(*args)
