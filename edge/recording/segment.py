"""One recording segment: an MCAP file written in chunks that reach the disk as they close.

The mcap library does the format; this decides when a chunk ends: once it holds `chunk_max_bytes`
or has been open `chunk_max_s`, it is compressed, written and flushed to the operating system
(and fsynced when asked). So a kill -9 (or, with fsync, a power cut) loses at most the open chunk,
and the reader recovers every chunk before it. Schemas and channels are registered when the segment
opens, so every segment stands alone.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from mcap.writer import CompressionType, Writer

from gridscout.edge.recording.foxglove import VIEWS
from gridscout.edge.recording.topics import MESSAGE_ENCODING, RECORDED_TOPICS, SCHEMA_ENCODING, bus_channel

#: the mcap writer never closes a chunk on its own; this class does (the library's own check runs after the
#: message is added, with no clock, and its flush to the file would sit in a user-space buffer)
_NEVER = 1 << 62
#: bytes a message costs in a chunk besides its payload (opcode, length, channel, sequence, two times)
_RECORD_OVERHEAD = 1 + 8 + 2 + 4 + 8 + 8


class SegmentWriter:
    """An open segment at `path` (created; never overwritten). Use `channel_id(...)` then `write(...)`."""

    def __init__(
        self,
        path: Path,
        *,
        chunk_max_bytes: int,
        chunk_max_s: float,
        fsync: bool,
        metadata: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.chunk_max_bytes = chunk_max_bytes
        self.chunk_max_s = chunk_max_s
        self.fsync = fsync
        self._clock = clock
        self._channels: dict[str, int] = {}
        self.opened_at = clock()
        self._chunk_opened_at: float | None = None
        self._chunk_bytes = 0
        self.written_bytes = 0
        self.messages = 0
        #: messages in chunks already written out: what a reader recovers if the process dies now
        self.written_messages = 0
        self.chunks = 0
        self.closed = False
        self._file = open(self.path, "xb")  # noqa: SIM115 - closed in close()
        try:
            self._mcap = Writer(self._file, chunk_size=_NEVER, compression=CompressionType.ZSTD)
            self._mcap.start(profile="", library="gridscout-recorder")
            if metadata:
                self._mcap.add_metadata("gridscout", metadata)
            for topic in RECORDED_TOPICS:
                ch = bus_channel(topic)
                self.add_channel(ch.channel, ch.schema_name, ch.schema, ch.metadata)
            for view in VIEWS:
                self.add_channel(view.channel, view.schema_name, view.schema)
            self.flush()
        except BaseException:  # a segment that could not even start (a full disk) leaves no empty file behind
            with contextlib.suppress(OSError):
                self._file.close()
            self.path.unlink(missing_ok=True)
            raise

    def add_channel(self, channel: str, schema_name: str, schema: bytes, metadata: dict[str, str] | None = None) -> int:
        schema_id = self._mcap.register_schema(schema_name, SCHEMA_ENCODING, schema)
        self._channels[channel] = self._mcap.register_channel(channel, MESSAGE_ENCODING, schema_id, metadata or {})
        self._chunk_bytes += len(schema)
        return self._channels[channel]

    def write(self, channel: str, data: bytes, *, log_time_ns: int, publish_time_ns: int, sequence: int = 0) -> None:
        """Add one message; the chunk goes to disk when it is full or old enough."""
        if self._chunk_opened_at is None:
            self._chunk_opened_at = self._clock()
        self._mcap.add_message(
            self._channels[channel], log_time_ns, data, publish_time_ns, sequence=sequence & 0xFFFFFFFF
        )
        self.messages += 1
        self._chunk_bytes += len(data) + len(channel) + _RECORD_OVERHEAD
        self.maybe_flush()

    def maybe_flush(self) -> bool:
        """Close the open chunk if it is full or has been open `chunk_max_s`; True if it did."""
        if self._chunk_opened_at is None:
            return False
        if self._chunk_bytes >= self.chunk_max_bytes or self._clock() - self._chunk_opened_at >= self.chunk_max_s:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        """Write the open chunk now (compressed, with its message index) and push it to the disk."""
        if self._chunk_opened_at is not None:
            self.chunks += 1
        self._mcap.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        self.written_bytes = self._file.tell()
        self.written_messages = self.messages
        self._chunk_bytes = 0
        self._chunk_opened_at = None

    @property
    def size_bytes(self) -> int:
        """Bytes on disk plus the open chunk (uncompressed)."""
        return self.written_bytes + self._chunk_bytes

    def age_s(self) -> float:
        return self._clock() - self.opened_at

    def close(self) -> None:
        """Write the last chunk, the summary and the footer; the file is then a complete MCAP file."""
        if self.closed:
            return
        self.closed = True
        try:
            if self._chunk_opened_at is not None:
                self.chunks += 1
            self._mcap.finish()
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
            self.written_bytes = self._file.tell()
        finally:
            self._file.close()

    def abandon(self) -> None:
        """Close the file after a write error, without the summary: it reads back as a truncated segment."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self._file.close()
