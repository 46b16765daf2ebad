"""Segment file names that sort by time: `<UTC start>_<run>_<index>.mcap`.

`20250314T101502.123456Z_3f2a9c1e_0007.mcap`: a fixed-width UTC start time first, so a plain sort of
the names of any number of runs is their order in time; then the run's id and the segment's index
in its run, so two segments never share a name.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

SUFFIX = ".mcap"
_NAME = re.compile(r"^(\d{8}T\d{6})\.(\d{6})Z_([0-9A-Za-z-]+)_(\d{4,})\.mcap$")


def segment_name(start_wall_ns: int, run_id: str, index: int) -> str:
    moment = datetime.fromtimestamp(start_wall_ns // 1_000_000_000, UTC)
    micros = (start_wall_ns // 1000) % 1_000_000
    run = re.sub(r"[^0-9A-Za-z-]", "", run_id)[:8] or "run"
    return f"{moment:%Y%m%dT%H%M%S}.{micros:06d}Z_{run}_{index:04d}{SUFFIX}"


def segment_start_ns(path: str | Path) -> int | None:
    """The start time a segment's name gives (ns since the epoch), or None for a name not ours."""
    match = _NAME.match(Path(path).name)
    if not match:
        return None
    moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + int(match.group(2)) * 1000


def is_segment(path: str | Path) -> bool:
    return segment_start_ns(path) is not None


def segments_in(directory: str | Path) -> list[Path]:
    """The segments in `directory`, oldest first (by name, which is by start time)."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_file() and is_segment(p)), key=lambda p: p.name)
