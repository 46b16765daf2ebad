"""The recorder: bus messages in, segments out. Routes each message to its bus channel and its
Foxglove view, rotates segments by age and size, and never lets a failure to record escape.

Log time is the wall clock when the message reached the recorder, never going backwards, so a
segment (and a directory of them, by name) reads back in log-time order. Publish time is the
message's own `t_mono_ns`, moved onto the wall clock. The MCAP sequence number of frames,
images, detections and annotations is the camera frame id.

A write that fails (disk full, directory gone) is counted in `errors`, logged, and the segment is
given up (it reads back as a truncated one); recording starts again in a new segment after
`retry_s`, and what arrives meanwhile is counted in `dropped`. `record` never raises.
"""

from __future__ import annotations

import errno
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridscout.control.vehicle import VehicleTelemetry
from gridscout.edge.recording import foxglove, topics
from gridscout.edge.recording.naming import segment_name
from gridscout.edge.recording.policy import RecorderSettings
from gridscout.edge.recording.segment import SegmentWriter
from gridscout.edge.runtime.messages import FrameDetections, FrameMeta

log = logging.getLogger(__name__)

#: after a failed write, wait this long before opening a new segment
RETRY_S = 1.0
#: how often the free disk space is looked at (and, while the disk is full, whether recording may resume)
DISK_CHECK_S = 2.0
#: once stopped for a full disk, recording resumes only with this much free beyond recorder.reserve_mb
RESUME_HEADROOM_BYTES = 16 * 1024 * 1024
#: the recording's `gridscout` metadata key holding the run's resolved config (JSON)
CONFIG_KEY = "config"
#: counters the recorder keeps (the recorder process sends them in its heartbeat; the run summary shows them)
STATS = ("messages", "images", "annotations", "locations", "segments", "bytes", "errors", "dropped",
         "frames_missed", "frames_without_pixels", "retention_errors", "disk_full", "disk_full_times")  # fmt: skip


class Recorder:
    def __init__(
        self,
        directory: str | Path,
        settings: RecorderSettings,
        *,
        run_id: str,
        metadata: dict[str, str] | None = None,
        on_rotate: Callable[[Path], None] | None = None,
        on_disk_low: Callable[[], None] | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
        mono_ns: Callable[[], int] = time.monotonic_ns,
        clock: Callable[[], float] = time.monotonic,
        retry_s: float = RETRY_S,
    ) -> None:
        self.directory = Path(directory)
        self.settings = settings
        self.run_id = run_id
        self.metadata = {"run_id": run_id, **(metadata or {})}
        self.on_rotate = on_rotate
        self.on_disk_low = on_disk_low
        self.disk_full = False
        self._disk_checked_at: float | None = None
        self._wall_ns, self._clock, self.retry_s = wall_ns, clock, retry_s
        self._wall_minus_mono = wall_ns() - mono_ns()
        self.stats: dict[str, float] = dict.fromkeys(STATS, 0.0)
        self.last_error = ""
        self.segment: SegmentWriter | None = None
        #: segments this recorder finished (closed or gave up), oldest first
        self.finished: list[Path] = []
        self._index = 0
        self._retry_at: float | None = None
        self._last_log_ns = 0
        self._last_frame_id: int | None = None
        self._last_fix_rx_ns = 0
        self._closed_bytes = 0

    # -- the public face ------------------------------------------------------------------------------

    def record(self, topic: str, msg: Any, image: Any = None) -> bool:
        """Record one bus message (and, for frames, its pixels, or its JPEG as bytes). False when it could not
        be recorded."""
        try:
            segment = self._segment_for_write()
            if segment is None:
                self.stats["dropped"] += 1
                return False
            self._write(segment, topic, msg, image)
            self.stats["bytes"] = self._closed_bytes + segment.size_bytes
            return True
        except Exception as exc:  # a recorder must never take the chain down; it says so instead
            self._failed(exc)
            return False

    def tick(self) -> None:
        """Close a chunk that has been open long enough, and rotate an old segment, with no message due."""
        if self.segment is None:
            return
        try:
            self.segment.maybe_flush()
            if self.segment.age_s() >= self.settings.segment_max_s:
                self._rotate()
        except Exception as exc:
            self._failed(exc)

    def close(self) -> None:
        """Finish the open segment (summary and footer written)."""
        if self.segment is None:
            return
        segment, self.segment = self.segment, None
        try:
            segment.close()
            self._closed_bytes += segment.written_bytes
        except Exception as exc:
            self._failed(exc)
        self.finished.append(segment.path)
        self.stats["bytes"] = self._closed_bytes

    @property
    def current_path(self) -> Path | None:
        return self.segment.path if self.segment is not None else None

    # -- writing --------------------------------------------------------------------------------------

    def _log_time(self) -> int:
        self._last_log_ns = max(self._wall_ns(), self._last_log_ns)
        return self._last_log_ns

    def _to_wall(self, t_mono_ns: int) -> int:
        return t_mono_ns + self._wall_minus_mono if t_mono_ns else 0

    def _write(self, segment: SegmentWriter, topic: str, msg: Any, image: Any) -> None:
        log_ns = self._log_time()
        frame_id = getattr(msg, "frame_id", -1)
        sequence = frame_id if frame_id >= 0 else 0
        publish_ns = self._to_wall(getattr(msg, "t_mono_ns", 0)) or log_ns
        channel = topics.bus_channel(topic).channel
        segment.write(channel, topics.encode(msg), log_time_ns=log_ns, publish_time_ns=publish_ns, sequence=sequence)
        self.stats["messages"] += 1
        if isinstance(msg, FrameMeta):
            self._frame(segment, msg, image, log_ns, publish_ns)
        elif isinstance(msg, FrameDetections):
            view = foxglove.encode(foxglove.annotations(msg))
            segment.write(foxglove.ANNOTATIONS_TOPIC, view, log_time_ns=log_ns, publish_time_ns=publish_ns,
                          sequence=sequence)  # fmt: skip
            self.stats["annotations"] += 1
        elif isinstance(msg, VehicleTelemetry) and msg.t_rx_mono_ns != self._last_fix_rx_ns:
            self._last_fix_rx_ns = msg.t_rx_mono_ns  # one fix per vehicle report, not per republish
            fix = foxglove.location(msg, self._to_wall(msg.t_rx_mono_ns) or log_ns)
            if fix is not None:
                segment.write(foxglove.LOCATION_TOPIC, foxglove.encode(fix), log_time_ns=log_ns,
                              publish_time_ns=publish_ns)  # fmt: skip
                self.stats["locations"] += 1

    def _frame(self, segment: SegmentWriter, meta: FrameMeta, image: Any, log_ns: int, publish_ns: int) -> None:
        if self._last_frame_id is not None and meta.frame_id > self._last_frame_id + 1:
            self.stats["frames_missed"] += meta.frame_id - self._last_frame_id - 1
        self._last_frame_id = max(meta.frame_id, self._last_frame_id if self._last_frame_id is not None else -1)
        if image is None:
            self.stats["frames_without_pixels"] += 1
            return
        if isinstance(image, bytes | bytearray | memoryview):
            view = foxglove.encode(foxglove.jpeg_image(meta, image))
        else:
            view = foxglove.encode(foxglove.image(meta, image, self.settings.jpeg_quality))
        segment.write(foxglove.IMAGE_TOPIC, view, log_time_ns=log_ns, publish_time_ns=publish_ns,
                      sequence=meta.frame_id)  # fmt: skip
        self.stats["images"] += 1

    # -- segments -------------------------------------------------------------------------------------

    def _segment_for_write(self) -> SegmentWriter | None:
        if not self._disk_allows():
            return None
        if self.segment is not None:
            if self.segment.age_s() >= self.settings.segment_max_s or (
                self.segment.size_bytes >= self.settings.segment_max_bytes
            ):
                self._rotate()
            return self.segment
        if self._retry_at is not None and self._clock() < self._retry_at:
            return None
        self._retry_at = None
        self._open()
        return self.segment

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / segment_name(self._wall_ns(), self.run_id, self._index)
        self._index += 1
        self.segment = SegmentWriter(
            path,
            chunk_max_bytes=self.settings.chunk_max_bytes,
            chunk_max_s=self.settings.chunk_max_s,
            fsync=self.settings.fsync,
            metadata={**self.metadata, "segment_index": str(self._index - 1)},
            clock=self._clock,
        )
        self.stats["segments"] += 1
        log.info("recording to %s", path)

    def _rotate(self) -> None:
        self.close()
        self._open()
        if self.on_rotate is None:
            return
        try:
            self.on_rotate(self.finished[-1])
        except Exception as exc:  # retention failing is not a recording failure, but it is said
            self.stats["retention_errors"] += 1
            log.error("after closing %s: %s: %s", self.finished[-1], type(exc).__name__, exc)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.directory if self.directory.exists() else self.directory.parent).free

    def _disk_allows(self) -> bool:
        """Whether the disk has room beyond `reserve_mb` (looked at every DISK_CHECK_S). Below it, old segments
        go first (`on_disk_low`: retention); then the recording stops, saying so, and the reports keep the
        space; it resumes once space is back."""
        now = self._clock()
        if self._disk_checked_at is not None and now - self._disk_checked_at < DISK_CHECK_S:
            return not self.disk_full
        self._disk_checked_at = now
        reserve = self.settings.reserve_bytes
        try:
            free = self.free_bytes()
            if free < reserve and self.on_disk_low is not None:
                self.on_disk_low()
                free = self.free_bytes()
        except Exception as exc:  # an unreadable disk is not a reason to stop recording
            log.warning("free space of %s unknown: %s: %s", self.directory, type(exc).__name__, exc)
            return not self.disk_full
        if free < reserve and not self.disk_full:
            self._disk_now_full(
                f"{free / 2**20:.1f} MB free, under recorder.reserve_mb ({self.settings.reserve_mb:g} MB)"
            )
        elif free >= reserve + RESUME_HEADROOM_BYTES and self.disk_full:
            self.disk_full, self.stats["disk_full"] = False, 0.0
            log.warning("recording again: %.1f MB free on the data disk", free / 2**20)
        return not self.disk_full

    def _disk_now_full(self, why: str) -> None:
        self.disk_full, self.stats["disk_full"] = True, 1.0
        self.stats["disk_full_times"] += 1
        self.last_error = f"data disk full: {why}"
        log.error("data disk full in %s: %s; recording stops (reports go on), resumes when space is back",
                  self.directory, why)  # fmt: skip
        if self.segment is not None:
            self.close()

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC and not self.disk_full:
            self._abandon_segment()
            self._disk_now_full(str(exc))
            self._disk_checked_at = self._clock()
            return
        self.stats["errors"] += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        where = self.segment.path if self.segment is not None else self.directory
        if self.stats["errors"] <= 3 or self.stats["errors"] % 100 == 0:
            log.error("recording failed (%d errors so far) in %s: %s", self.stats["errors"], where, self.last_error)
        self._abandon_segment()
        self._retry_at = self._clock() + self.retry_s

    def _abandon_segment(self) -> None:
        """Give up the open segment after a write error: it reads back as a truncated one."""
        if self.segment is not None:
            self.segment.abandon()
            self.finished.append(self.segment.path)
            self.segment = None
