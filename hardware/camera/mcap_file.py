"""Frames from an MCAP recording: the `foxglove.CompressedImage` messages of its camera channel.

Any MCAP file whose images are `foxglove.CompressedImage` in JSON encoding (what `gridscout run`
records) opens here; this module knows the Foxglove standard, not GridScout's bus messages, so the
HAL still imports nothing above it. A recording cut short (power loss, kill -9) is read as far as
its last complete chunk: `read_records` stops at the truncation point and says so. A damaged chunk
(its CRC or compression broken) is skipped and reading goes on with the next; a recording whose
index lists more images than could be read says so in `shortfall`.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import msgspec
import numpy as np
from mcap.exceptions import EndOfFile, InvalidMagic, McapError
from mcap.records import Channel, Chunk, McapRecord, Message, Schema, Statistics
from mcap.stream_reader import StreamReader, breakup_chunk

from gridscout.hardware.camera.base import FrameSource, SourceError
from gridscout.hardware.frame import Frame

log = logging.getLogger(__name__)

IMAGE_SCHEMA = "foxglove.CompressedImage"
#: the channel `gridscout run` records the camera on; preferred when a file has several image channels
DEFAULT_IMAGE_TOPIC = "/camera/image"
#: a record claiming to be longer than this is corruption, not data (the reader would try to allocate it)
RECORD_SIZE_LIMIT = 1 << 30

try:  # the mcap reader's chunk decompressors; their errors mark a chunk cut short
    from zstandard import ZstdError
except ImportError:  # pragma: no cover - mcap depends on zstandard
    ZstdError = McapError  # type: ignore[assignment,misc]

#: what the mcap stream reader raises where a file ends mid-record, mid-chunk or with a bad chunk CRC
_TRUNCATION = (McapError, ValueError, struct.error, ZstdError, EOFError, RuntimeError)


class NotMcapError(SourceError):
    """The file is empty or does not start with the MCAP magic."""


@dataclass
class Scan:
    """What `read_records` found out about the file while reading it."""

    #: the file ended (or broke) before its footer: reading stopped at the last complete record
    truncated: bool = False
    #: why reading stopped early, for people
    detail: str = ""
    #: complete records read
    records: int = 0
    #: chunks skipped because their CRC or compression was broken, and the first one's error
    damaged_chunks: int = 0
    damaged_detail: str = ""


def read_records(path: str | Path, scan: Scan | None = None) -> Iterator[McapRecord]:
    """Every record of the MCAP file at `path`, in file order, with chunks opened (schemas, channels and
    messages inside them come out as records). A file cut short yields what precedes the cut and sets
    `scan.truncated`; a damaged chunk is skipped (`scan.damaged_chunks`) and reading goes on; a file that is
    not MCAP at all raises `NotMcapError`."""
    scan = scan if scan is not None else Scan()
    with open(path, "rb") as f:
        stream = StreamReader(f, emit_chunks=True, validate_crcs=True, record_size_limit=RECORD_SIZE_LIMIT)
        records = stream.records
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except (InvalidMagic, EndOfFile, struct.error) as exc:
                if scan.records == 0:
                    what = "empty" if isinstance(exc, EndOfFile) else "not an MCAP file (bad magic)"
                    raise NotMcapError(f"{path}: {what}") from exc
                scan.truncated, scan.detail = True, f"ends after {scan.records} records ({type(exc).__name__})"
                return
            except _TRUNCATION as exc:
                scan.truncated = True
                scan.detail = f"ends after {scan.records} records ({type(exc).__name__}: {exc})"
                return
            if isinstance(record, Chunk):
                try:
                    inner = breakup_chunk(record, validate_crc=True)
                except _TRUNCATION as exc:  # the chunk's frame was intact (its length read), its content not
                    scan.damaged_chunks += 1
                    scan.damaged_detail = scan.damaged_detail or f"{type(exc).__name__}: {exc}"
                    continue
                scan.records += len(inner)
                yield from inner
                continue
            scan.records += 1
            yield record


class _Time(msgspec.Struct):
    sec: int = 0
    nsec: int = 0


class _CompressedImage(msgspec.Struct):
    """`foxglove.CompressedImage` in JSON encoding: `data` is base64, which msgspec decodes into bytes."""

    timestamp: _Time = msgspec.field(default_factory=_Time)
    frame_id: str = ""
    data: bytes = b""
    format: str = ""


_DECODER = msgspec.json.Decoder(_CompressedImage)


@dataclass(frozen=True)
class _ImageChannel:
    id: int
    topic: str
    count: int
    first_log_ns: int
    last_log_ns: int
    #: images the file's index (its summary's statistics) lists; None: no index (a file cut short)
    promised: int | None = None


class McapFile(FrameSource):
    """The images of one `foxglove.CompressedImage` channel of an MCAP file, in file order.

    `topic` picks the channel; by default `/camera/image`, or the file's only image channel.
    `Frame.t_capture_wall_ns` is the image's own timestamp; `Frame.name` is `<stem>#<n>` with `n` the
    message's sequence number (the camera's frame id in a GridScout recording). `fps` is the rate
    the images were recorded at unless given. Images that do not decode are counted as corrupt.
    """

    def __init__(self, path: str | Path, *, fps: float | None = None, topic: str | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.uri = str(path)
        self.name = self.path.stem
        if fps is not None and fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        if not self.path.is_file():
            raise SourceError(f"{self.path}: not found (expected an MCAP recording with {IMAGE_SCHEMA} images)")
        self.scan = Scan()
        self.channel = self._find_channel(topic)
        self.topic = self.channel.topic
        self.frame_count = self.channel.count
        span_s = (self.channel.last_log_ns - self.channel.first_log_ns) / 1e9
        recorded = (self.channel.count - 1) / span_s if self.channel.count > 1 and span_s > 0 else None
        self.fps = fps if fps is not None else recorded
        if self.scan.truncated:
            log.warning("%s: truncated recording, read up to its last complete chunk (%s)", self.path, self.scan.detail)
        if self.channel.promised is not None and self.channel.count < self.channel.promised:
            self.missing_frames = self.channel.promised - self.channel.count
            self.shortfall = (
                f"{self.path}: {self.channel.count} of the {self.channel.promised} images its index lists can be "
                f"read ({self.scan.damaged_chunks} damaged chunks skipped: {self.scan.damaged_detail})"
            )
            log.error("%s", self.shortfall)

    def _find_channel(self, topic: str | None) -> _ImageChannel:
        schemas: dict[int, Schema] = {}
        channels: dict[int, Channel] = {}
        seen: dict[int, list[int]] = {}  # channel id -> [count, first log time, last log time]
        listed: dict[int, int] = {}  # channel id -> messages, as the index says
        try:
            for record in read_records(self.path, self.scan):
                if isinstance(record, Statistics):
                    listed = dict(record.channel_message_counts)
                elif isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    channels[record.id] = record
                elif isinstance(record, Message):
                    stats = seen.setdefault(record.channel_id, [0, record.log_time, record.log_time])
                    stats[0] += 1
                    stats[2] = record.log_time
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot be read ({exc})") from exc
        images = {
            c.id: c for c in channels.values() if c.schema_id in schemas and schemas[c.schema_id].name == IMAGE_SCHEMA
        }
        found = ", ".join(sorted(f"{c.topic} ({schemas[c.schema_id].name})" for c in channels.values()
                                 if c.schema_id in schemas)) or "no channels"  # fmt: skip
        wanted = [c for c in images.values() if c.topic == (topic or DEFAULT_IMAGE_TOPIC)]
        if topic is None and not wanted and len(images) == 1:
            wanted = list(images.values())
        if not wanted:
            which = f"a {IMAGE_SCHEMA} channel named {topic!r}" if topic else f"a {IMAGE_SCHEMA} channel"
            truncated = f"; the file is truncated ({self.scan.detail})" if self.scan.truncated else ""
            raise SourceError(f"{self.path}: no camera images: expected {which}, found {found}{truncated}")
        channel = wanted[0]
        if channel.message_encoding != "json":
            raise SourceError(
                f"{self.path}: channel {channel.topic} is {channel.message_encoding!r}-encoded; expected 'json'"
            )
        count, first, last = seen.get(channel.id, [0, 0, 0])
        if count == 0:
            raise SourceError(f"{self.path}: channel {channel.topic} has no images")
        return _ImageChannel(channel.id, channel.topic, count, first, last, listed.get(channel.id))

    def __iter__(self) -> Iterator[Frame]:
        frame_id = 0
        scan = Scan()
        for record in read_records(self.path, scan):
            if not isinstance(record, Message) or record.channel_id != self.channel.id:
                continue
            image = self._decode(record)
            if image is None:
                continue
            msg, pixels = image
            t_wall = msg.timestamp.sec * 1_000_000_000 + msg.timestamp.nsec
            yield Frame(pixels, frame_id, time.monotonic_ns(), t_wall, self.name, f"{self.name}#{record.sequence:06d}")
            frame_id += 1

    def _decode(self, record: Message) -> tuple[_CompressedImage, np.ndarray] | None:
        try:
            msg = _DECODER.decode(record.data)
        except msgspec.DecodeError as exc:
            self._count_corrupt(f"message {record.sequence} is not a CompressedImage ({exc})")
            return None
        pixels = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR) if msg.data else None
        if pixels is None:
            self._count_corrupt(f"message {record.sequence}: {msg.format or 'image'} data did not decode")
            return None
        return msg, pixels
