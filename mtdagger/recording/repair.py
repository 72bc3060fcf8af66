"""Repair a killed evaluation bag so rosbags' `AnyReader` and `ros2 bag info` open it.

Why: a `deploy --record` killed mid-run leaves `<bag>/<name>.mcap` without its summary (index,
footer) and without `metadata.yaml`, which rosbag2 writes only on close. Our own reader streams
such a file (`bag_reader`), but every ROS tool needs the metadata. `ros2 bag reindex` rebuilds
`metadata.yaml` from the storage file; on a truncated MCAP that is not enough (the file has no
summary and ends mid-chunk), so this module does what reindex would do on a healthy file and more:
it streams every complete record of the killed file (`bag_files.iter_mcap_messages`, which
stops at the truncated tail) and re-records them, byte for byte and with their channels' QoS,
into a new rosbag2 bag written by rosbags (MCAP with summary + `metadata.yaml` with
per-topic counts, the `custom_data` metadata our writer stores, and the rosbag2 version of the
chosen distro). The killed episode stays incomplete (no end marker); every finished one survives.

Nothing is modified destructively. With `out`, the repaired bag is a new directory. In place,
the repaired bag is first written completely into a sibling temporary directory; then the killed
file is renamed to `<name>.mcap.unrepaired` (kept as the backup; the readers only look at
`*.mcap`) and the repaired file and `metadata.yaml` are moved in, `metadata.yaml` last, so a
repair that is itself killed either left the original in place or can be re-run (it picks up the
backup as its source).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from mtdagger.messages import topics
from mtdagger.recording import layout
from mtdagger.recording.bag_files import BagError, has_footer, iter_mcap_messages

BACKUP_SUFFIX = ".unrepaired"


@dataclass(frozen=True)
class RepairResult:
    bag: Path  # the readable bag directory (the input in place, or `out`)
    repaired: bool  # False when the bag was already complete and nothing was written
    messages: int
    topics: dict[str, int] = field(default_factory=dict)
    backup: Path | None = None  # the killed file kept aside (in-place repairs)
    warnings: list[str] = field(default_factory=list)


def needs_repair(bag_dir: Path) -> bool:
    files = sorted(bag_dir.glob("*.mcap"))
    return not (bag_dir / "metadata.yaml").is_file() or not files or not all(has_footer(f) for f in files)


def repair_bag(path: str | Path, out: str | Path | None = None, *, distro: str = "jazzy") -> RepairResult:
    """Make the bag at `path` (directory or .mcap file) readable by rosbags; see the module doc.

    Raises `BagError` (naming the path) when there is nothing to repair from or `out` exists.
    """
    if distro not in layout.ROSBAG2_VERSION:
        raise BagError(f"distro: unknown ROS distro {distro!r}; valid: {', '.join(layout.ROSBAG2_VERSION)}")
    source = Path(path)
    if not source.exists():
        raise BagError(f"{source}: no such bag directory")
    bag_dir = source.parent if source.is_file() else source
    if source.is_file() and source.suffix != ".mcap":
        raise BagError(f"{source}: not a bag directory or .mcap file")
    sources = [source] if source.is_file() else _source_files(bag_dir)
    if out is None and not needs_repair(bag_dir):
        return RepairResult(bag_dir, repaired=False, messages=-1)

    warnings: list[str] = []
    if out is not None:
        target = Path(out)
        if target.exists():
            raise BagError(f"--out {target}: already exists; choose a new directory (nothing was written)")
        counts = _rewrite(sources, target, distro, warnings)
        return RepairResult(target, True, sum(counts.values()), counts, None, warnings)
    # Written beside the bag under the bag's own name, so the repaired file is <name>.mcap too.
    holder = bag_dir.parent / f".{bag_dir.name}.repair-tmp"
    if holder.exists():
        shutil.rmtree(holder)  # our own leftover from a repair that was killed before the swap
    try:
        counts = _rewrite(sources, holder / bag_dir.name, distro, warnings)
        backup = _swap_in(bag_dir, sources, holder / bag_dir.name)
    finally:
        shutil.rmtree(holder, ignore_errors=True)
    return RepairResult(bag_dir, True, sum(counts.values()), counts, backup, warnings)


def _source_files(bag_dir: Path) -> list[Path]:
    """The killed .mcap files, or their backups when an earlier in-place repair was interrupted."""
    files = sorted(bag_dir.glob("*.mcap"))
    backups = sorted(bag_dir.glob(f"*.mcap{BACKUP_SUFFIX}"))
    if backups:
        return backups  # the backup is the original data; a .mcap beside it is our own output
    if not files:
        raise BagError(f"{bag_dir}: no .mcap file in this directory (not a rosbag2 MCAP bag)")
    return files


def _rewrite(sources: list[Path], target: Path, distro: str, warnings: list[str]) -> dict[str, int]:
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.rosbag2.metadata import parse_qos

    from mtdagger.messages.factory import RosbagsFactory
    from mtdagger.recording.chunk_crc import enable_chunk_crcs

    typestore = RosbagsFactory(distro=distro).typestore
    writer = Writer(target, version=layout.ROSBAG2_VERSION[distro], storage_plugin=StoragePlugin.MCAP)
    connections: dict[tuple[str, str], object] = {}
    counts: dict[str, int] = {}
    writer.open()
    enable_chunk_crcs(writer)
    try:
        for source in sources:
            for schema, channel, message in iter_mcap_messages(source, warnings):
                if channel.topic == topics.METADATA_TOPIC and topics.METADATA_TOPIC not in counts:
                    # Our writer also keeps the metadata JSON in rosbag2's custom_data.
                    writer.set_custom_data(layout.CUSTOM_DATA_KEY, _string_payload(message.data, typestore))
                key = (channel.topic, schema.name if schema is not None else "")
                if key not in connections:
                    connections[key] = _connection(writer, typestore, parse_qos, channel, schema, source)
                writer.write(connections[key], message.log_time, bytes(message.data))
                counts[channel.topic] = counts.get(channel.topic, 0) + 1
        if not counts:
            raise BagError(f"{sources[0]}: no readable messages (empty or corrupt .mcap); nothing to repair")
    except BaseException:
        writer.close()
        shutil.rmtree(target, ignore_errors=True)
        raise
    writer.close()
    return counts


def _string_payload(data: bytes, typestore) -> str:
    try:
        return str(typestore.deserialize_cdr(bytes(data), "std_msgs/msg/String").data)
    except Exception:  # an unreadable metadata message is not worth losing the bag over
        return ""


def _connection(writer, typestore, parse_qos, channel, schema, source: Path):
    if schema is None or channel.message_encoding != "cdr":
        raise BagError(f"{source}: channel {channel.topic!r} is not a ROS 2 CDR channel; cannot repair")
    try:
        typestore.hash_rihs01(schema.name)
    except Exception as error:
        raise BagError(
            f"{source}: topic {channel.topic!r} has type {schema.name!r}, unknown to the "
            f"typestore; cannot repair ({error})"
        ) from error
    qos_text = channel.metadata.get("offered_qos_profiles", "")
    try:
        qos = parse_qos(qos_text) if qos_text else []
    except Exception:
        qos = []
    return writer.add_connection(channel.topic, schema.name, typestore=typestore, offered_qos_profiles=qos)


def _swap_in(bag_dir: Path, sources: list[Path], repaired_dir: Path) -> Path:
    """Rename the killed file(s) aside, then move the repaired file and metadata.yaml in."""
    backup = None
    for source in sources:
        if source.name.endswith(BACKUP_SUFFIX):
            backup = source
            continue
        backup = source.with_name(source.name + BACKUP_SUFFIX)
        os.replace(source, backup)
    for stale in bag_dir.glob("*.mcap"):  # our own output of an interrupted swap
        stale.unlink()
    for produced in sorted(repaired_dir.glob("*.mcap")):
        os.replace(produced, bag_dir / produced.name)
    os.replace(repaired_dir / "metadata.yaml", bag_dir / "metadata.yaml")
    return backup  # type: ignore[return-value]
