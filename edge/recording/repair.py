"""Torn segments made whole: a recording cut by a crash (kill -9, power loss) lacks its footer and index, and
the stock `mcap` reader gives up on it (RecordLengthLimitExceeded). A run repairs those of earlier runs when
its recorder starts: every record that can still be read (damaged chunks skipped) is written to a complete
MCAP file beside it, which then takes the torn one's place and name.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from mcap.records import Channel, Message, Metadata, Schema
from mcap.writer import MCAP0_MAGIC, CompressionType, Writer

from gridscout.edge.recording.naming import segments_in
from gridscout.hardware.camera.mcap_file import NotMcapError, Scan, read_records

log = logging.getLogger(__name__)

#: chunk size of a repaired segment (the recorder's own chunks are time-bound; this one only rewrites)
REPAIR_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Repair:
    path: Path
    messages: int
    damaged_chunks: int
    detail: str  # how the torn file ended


def is_torn(path: Path) -> bool:
    """A segment that does not end with MCAP's closing magic: its writer never finished it."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < 2 * len(MCAP0_MAGIC):
                return True
            f.seek(-len(MCAP0_MAGIC), os.SEEK_END)
            return f.read(len(MCAP0_MAGIC)) != MCAP0_MAGIC
    except OSError:
        return False


def repair_segment(path: Path) -> Repair:
    """Rewrite the torn segment at `path` as a complete MCAP file of every record still readable; atomic (the
    torn file stays until the whole one is on disk). Raises NotMcapError for a file with nothing to keep."""
    scan = Scan()
    tmp = path.with_name(path.name + ".repair")
    schema_ids: dict[int, int] = {}
    channel_ids: dict[int, int] = {}
    messages = 0
    try:
        with open(tmp, "wb") as out:
            writer = Writer(out, chunk_size=REPAIR_CHUNK_BYTES, compression=CompressionType.ZSTD)
            writer.start(profile="", library="gridscout-repair")
            for record in read_records(path, scan):
                if isinstance(record, Schema) and record.id not in schema_ids:
                    schema_ids[record.id] = writer.register_schema(record.name, record.encoding, record.data)
                elif isinstance(record, Channel) and record.id not in channel_ids:
                    channel_ids[record.id] = writer.register_channel(
                        record.topic, record.message_encoding, schema_ids.get(record.schema_id, 0), record.metadata
                    )
                elif isinstance(record, Message) and record.channel_id in channel_ids:
                    writer.add_message(
                        channel_ids[record.channel_id], record.log_time, record.data, record.publish_time,
                        record.sequence,
                    )  # fmt: skip
                    messages += 1
                elif isinstance(record, Metadata):
                    writer.add_metadata(record.name, {**record.metadata, "repaired_from": scan.detail or "torn"})
            writer.finish()
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return Repair(path, messages, scan.damaged_chunks, scan.detail)


def repair_torn(directory: Path, keep: Path | None = None) -> list[Repair]:
    """Repair every torn segment in `directory` but `keep` (one being written); each is logged. A segment with
    nothing readable is left as it is, with a warning."""
    repaired = []
    for path in segments_in(directory):
        if path == keep or not is_torn(path):
            continue
        try:
            result = repair_segment(path)
        except (NotMcapError, OSError) as exc:
            log.warning("torn segment %s could not be repaired: %s", path.name, exc)
            continue
        log.info(
            "repaired torn segment %s: %d messages kept, %d damaged chunks skipped (it %s)",
            path.name, result.messages, result.damaged_chunks, result.detail or "lacked its footer",
        )  # fmt: skip
        repaired.append(result)
    return repaired
