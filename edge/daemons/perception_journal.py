"""Perception's journal: its last frames' tracked detections, so that a perception process restarted after a
crash (kill -9) continues every live track under its old id and the reporter doubles no report.

One JSON line per processed frame, in the run folder, written once the frame's detections are published. It
keeps at least the last `keep` frames: when it holds twice that, it is rewritten with the last `keep`
(atomically). A restarted process feeds those frames to a fresh tracker (`Tracker.replay`, 0.07 ms a frame)
and goes on from the last one. A restarted reporter reads it too (never writes it), to store the frames
published while it was down.

A torn last line (killed while writing it) is dropped: that frame is processed again, with the same ids. Any
other damage makes the journal unusable (`JournalError`): the restarted tracker then starts a new epoch of
ids, which the reporter keeps apart, as before there was a journal.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

import msgspec

from gridscout.edge.runtime.messages import FrameDetections

JOURNAL_FILE = "perception.journal"
#: frames replayed at a restart: 30 s at 10 fps, ten times as long as the tracker keeps a lost track
JOURNAL_FRAMES = 300


class JournalEntry(msgspec.Struct, frozen=True):
    """One processed frame: what was published, the tracker's next id after it, perception's counters."""

    detections: FrameDetections
    next_id: int
    stats: dict[str, float]


class JournalError(RuntimeError):
    """The journal cannot be trusted (damaged before its last line)."""


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(JournalEntry).decode


def read_journal(path: Path) -> list[JournalEntry]:
    """A journal's frames, oldest first, without touching it ([] when there is none): what a restarted perception
    and a restarted reporter (which catches up on the frames it missed) read. Raises JournalError when a line other
    than the last cannot be read."""
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise JournalError(f"{path}: {exc.strerror or exc}") from exc
    entries = []
    for number, line in enumerate(lines, 1):
        try:
            entries.append(_decode(line))
        except msgspec.DecodeError as exc:
            if number == len(lines):
                break  # torn by the kill: that frame was never acknowledged, and is processed again
            raise JournalError(f"{path}: line {number} of {len(lines)} is damaged ({exc})") from exc
    return entries


class PerceptionJournal:
    def __init__(self, run_dir: Path, keep: int = JOURNAL_FRAMES) -> None:
        self.path = Path(run_dir) / JOURNAL_FILE
        self.keep = keep
        self._lines: deque[bytes] = deque(maxlen=keep)
        self._written = 0  # lines in the file

    def load(self) -> list[JournalEntry]:
        """The frames a previous process of this run journalled, oldest first ([] when there is none).
        Raises JournalError when a line other than the last cannot be read."""
        kept = read_journal(self.path)[-self.keep :]
        self._lines.extend(_encode(e) for e in kept)
        self._rewrite()
        return kept

    def reset(self) -> None:
        """Start an empty journal (a new run, or one whose journal could not be trusted)."""
        self._lines.clear()
        self.path.unlink(missing_ok=True)
        self._written = 0

    def append(self, entry: JournalEntry) -> None:
        line = _encode(entry)
        self._lines.append(line)
        if self._written >= 2 * self.keep:
            self._rewrite()
            return
        with open(self.path, "ab") as f:
            f.write(line + b"\n")
        self._written += 1

    def _rewrite(self) -> None:
        """The file becomes the kept lines, whole or not at all (a kill mid-write leaves the old file)."""
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(b"".join(line + b"\n" for line in self._lines))
        os.replace(temporary, self.path)
        self._written = len(self._lines)
