"""Camera frames back out of the recordings, by frame id and capture time: where a restarted reporter finds the
evidence images of the defects it caught up on (their frames went with the process that held them).

A frame is matched by both its id (the image's MCAP sequence) and its capture time (the image's stamp): frame ids
start again with each run, and a replay's run id repeats. The newest segments are read first, and only those whose
span can hold the frames; a segment still being written is read up to its last chunk on disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import msgspec

from gridscout.edge.recording import foxglove
from gridscout.edge.recording.naming import segment_start_ns, segments_in
from gridscout.edge.recording.reader import SegmentReader
from gridscout.edge.recording.retention import DEFAULT_MARGIN_NS


class _Stamp(msgspec.Struct):
    sec: int
    nsec: int


class _Image(msgspec.Struct):
    timestamp: _Stamp
    data: bytes = b""


_decode_image = msgspec.json.Decoder(_Image).decode


def find_frame_images(directory: str | Path, wanted: Mapping[int, int]) -> dict[int, bytes]:
    """The recorded JPEG of each wanted frame (frame id -> its capture time, UTC ns) that the segments in `directory`
    hold; frames not found are left out."""
    if not wanted:
        return {}
    first, last = min(wanted.values()), max(wanted.values())
    found: dict[int, bytes] = {}
    for segment in reversed(segments_in(directory)):
        start = segment_start_ns(segment)
        assert start is not None  # segments_in lists only named segments
        if start > last + DEFAULT_MARGIN_NS:
            continue  # opened after the frames were recorded
        for m in SegmentReader(segment, topics_wanted=[foxglove.IMAGE_TOPIC], decode=False):
            capture = wanted.get(m.sequence)
            if capture is None or m.sequence in found:
                continue
            image = _decode_image(m.message)
            if image.timestamp.sec * 1_000_000_000 + image.timestamp.nsec == capture:
                found[m.sequence] = image.data
        if len(found) == len(wanted) or start < first - DEFAULT_MARGIN_NS:
            break  # every frame found, or none of them can be older than this segment
    return found
