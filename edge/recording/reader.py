"""Reading recordings back: segments, complete or cut short, as (topic, log time, message) in log-time order.

`read_segment` yields every message of one segment in file order, which is log-time order (the
recorder never lets log time go backwards); `read_recording` does the same for a directory (or a
list) of segments, in name order, which is time order. Bus channels decode to their bus message
types (`FrameMeta`, `FrameDetections`, `VehicleTelemetry`, ...); Foxglove views decode to plain dicts.
A segment a kill -9 or a power cut left without its footer is read up to its last complete chunk;
`SegmentReader.truncated` then says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from mcap.records import Channel, Message, Metadata, Schema

from gridscout.edge.recording import topics
from gridscout.edge.recording.naming import segments_in
from gridscout.hardware.camera.mcap_file import Scan, read_records


class RecordedMessage(NamedTuple):
    #: the bus topic (`frames`, `telemetry`, ...) for bus channels, else the channel (`/camera/image`, ...)
    topic: str
    log_time_ns: int
    #: the bus message type for bus channels; a dict for Foxglove views
    message: Any
    #: the MCAP channel it was recorded on
    channel: str
    #: the MCAP sequence number (the camera frame id for frames, images, detections and annotations)
    sequence: int
    publish_time_ns: int


class SegmentReader:
    """One segment's messages. Iterate once; afterwards `truncated`, `detail`, `channels` and `metadata` are known."""

    def __init__(self, path: str | Path, *, topics_wanted: Iterable[str] | None = None, decode: bool = True) -> None:
        self.path = Path(path)
        self.wanted = set(topics_wanted) if topics_wanted is not None else None
        self.decode = decode
        self.scan = Scan()
        #: channel id -> MCAP channel
        self.channels: dict[int, Channel] = {}
        self.schemas: dict[int, Schema] = {}
        self.metadata: dict[str, dict[str, str]] = {}
        self.messages = 0

    @property
    def truncated(self) -> bool:
        return self.scan.truncated

    @property
    def detail(self) -> str:
        return self.scan.detail

    def __iter__(self) -> Iterator[RecordedMessage]:
        for record in read_records(self.path, self.scan):
            if isinstance(record, Message):
                channel = self.channels.get(record.channel_id)
                if channel is None:
                    continue  # a message before its channel: not something a valid file has
                bus_topic = channel.metadata.get(topics.TOPIC_KEY)
                name = bus_topic or channel.topic
                if self.wanted is not None and name not in self.wanted:
                    continue
                message: Any = record.data
                if self.decode:
                    message = topics.decode(bus_topic, record.data) if bus_topic else json.loads(record.data)
                self.messages += 1
                yield RecordedMessage(
                    name, record.log_time, message, channel.topic, record.sequence, record.publish_time
                )
            elif isinstance(record, Channel):
                self.channels[record.id] = record
            elif isinstance(record, Schema):
                self.schemas[record.id] = record
            elif isinstance(record, Metadata):
                self.metadata[record.name] = dict(record.metadata)


def read_segment(
    path: str | Path, *, topics_wanted: Iterable[str] | None = None, decode: bool = True
) -> Iterator[RecordedMessage]:
    """The messages of one segment (see `SegmentReader` for whether it was cut short)."""
    yield from SegmentReader(path, topics_wanted=topics_wanted, decode=decode)


def read_recording(
    source: str | Path | Iterable[str | Path], *, topics_wanted: Iterable[str] | None = None, decode: bool = True
) -> Iterator[RecordedMessage]:
    """The messages of a recordings directory (its segments, oldest first) or of the given segment files, in
    that order. `topics_wanted` names bus topics and/or Foxglove channels; None: everything."""
    if isinstance(source, str | Path):
        path = Path(source)
        paths = segments_in(path) if path.is_dir() else [path]
    else:
        paths = [Path(p) for p in source]
    wanted = list(topics_wanted) if topics_wanted is not None else None
    for path in paths:
        yield from SegmentReader(path, topics_wanted=wanted, decode=decode)
