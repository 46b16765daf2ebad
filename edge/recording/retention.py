"""Keeping recordings under a disk budget: the oldest segments go first, but never one that holds the
evidence of a report the fleet has not pulled yet, nor one still being written.

The caller passes the protected time spans (wall-clock ns; `ReportStore.unpulled_spans()` gives the
spans of the reports not yet pulled); a segment overlapping one, give or take `margin_ns`, stays.
A segment's span comes from its MCAP summary, or, for one cut short, from its name (the start) and
its modification time (the last chunk written).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mcap.reader import make_reader

from gridscout.edge.recording.naming import segment_start_ns, segments_in

log = logging.getLogger(__name__)

#: a report's frames reach the recorder a little after their capture time; spans are widened by this
DEFAULT_MARGIN_NS = 5_000_000_000


@dataclass(frozen=True)
class SegmentInfo:
    path: Path
    start_ns: int
    end_ns: int
    size_bytes: int

    def overlaps(self, start_ns: int, end_ns: int, margin_ns: int = 0) -> bool:
        return self.start_ns - margin_ns <= end_ns and start_ns <= self.end_ns + margin_ns


@dataclass
class RetentionResult:
    deleted: list[Path] = field(default_factory=list)
    #: segments that would have gone for the budget but hold protected spans (or are being written)
    spared: list[Path] = field(default_factory=list)
    total_bytes: int = 0
    budget_bytes: int = 0

    @property
    def over_budget(self) -> bool:
        return self.total_bytes > self.budget_bytes


def segment_info(path: Path) -> SegmentInfo:
    """A segment's time span and size."""
    stat = path.stat()
    start = segment_start_ns(path) or stat.st_mtime_ns
    end = stat.st_mtime_ns
    try:
        with open(path, "rb") as f:
            summary = make_reader(f).get_summary()
        if summary is not None and summary.statistics is not None and summary.statistics.message_count:
            start, end = summary.statistics.message_start_time, summary.statistics.message_end_time
    except Exception:
        pass
    return SegmentInfo(path, start, max(start, end), stat.st_size)


def enforce_retention(
    directory: str | Path,
    budget_bytes: int,
    protected: Iterable[tuple[int, int]] = (),
    *,
    keep: Collection[Path] = (),
    margin_ns: int = DEFAULT_MARGIN_NS,
    free_up_bytes: int = 0,
) -> RetentionResult:
    """Delete the oldest segments in `directory` until they add up to `budget_bytes` or less, and to
    `free_up_bytes` less than they do now (room the disk needs), sparing any that overlaps a `protected`
    (start_ns, end_ns) span and those in `keep` (the open segment)."""
    spans = list(protected)
    keep_set = {Path(p).resolve() for p in keep}
    segments = [segment_info(p) for p in segments_in(directory)]
    total = sum(s.size_bytes for s in segments)
    budget_bytes = max(0, min(budget_bytes, total - free_up_bytes))
    result = RetentionResult(total_bytes=total, budget_bytes=budget_bytes)
    for seg in segments:  # oldest first
        if result.total_bytes <= budget_bytes:
            break
        if seg.path.resolve() in keep_set or any(seg.overlaps(a, b, margin_ns) for a, b in spans):
            result.spared.append(seg.path)
            continue
        with contextlib.suppress(FileNotFoundError):
            seg.path.unlink()
        result.deleted.append(seg.path)
        result.total_bytes -= seg.size_bytes
    if result.over_budget:
        log.warning(
            "recordings in %s take %.0f MB, over the %.0f MB budget: %d segments hold unpulled report evidence "
            "or are being written",
            directory, result.total_bytes / 2**20, budget_bytes / 2**20, len(result.spared),
        )  # fmt: skip
    return result
