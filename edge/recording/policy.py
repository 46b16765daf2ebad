"""How the recorder writes: segment rotation, chunking, image quality and the disk budget.

No defaults here: they live in the config (`[recorder]`, `gridscout.edge.config.sections`), and
`gridscout.edge.runtime.settings.recorder_settings` builds this from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gridscout.edge.defaults import RECORDINGS_DIR


@dataclass(frozen=True)
class RecorderSettings:
    #: start a new segment after this long
    segment_max_s: float
    #: ... or once a segment holds this many megabytes
    segment_max_mb: float
    #: close a chunk (and write it to disk) at least this often: a kill -9 loses at most this much
    chunk_max_s: float
    #: ... or once it holds this many kilobytes
    chunk_max_kb: float
    #: fsync each chunk, so power loss also loses at most the open chunk
    fsync: bool
    #: camera frames are recorded as JPEG at this quality
    jpeg_quality: int
    #: retention: keep all recordings under this many megabytes (oldest go first; report evidence stays)
    max_total_mb: float
    #: free disk space kept for the report store: below it the recorder deletes old segments, then stops
    reserve_mb: float

    @property
    def segment_max_bytes(self) -> int:
        return int(self.segment_max_mb * 1024 * 1024)

    @property
    def chunk_max_bytes(self) -> int:
        return int(self.chunk_max_kb * 1024)

    @property
    def max_total_bytes(self) -> int:
        return int(self.max_total_mb * 1024 * 1024)

    @property
    def reserve_bytes(self) -> int:
        return int(self.reserve_mb * 1024 * 1024)


def recordings_dir(setting: str, data_dir: str | Path) -> Path:
    """`recorder.dir`, or `data_dir/recordings` when it is empty."""
    return Path(setting) if setting else Path(data_dir) / RECORDINGS_DIR
