"""STATUSTEXT as MAVLink 2 sends a long text: in 50-character chunks sharing an `id`, numbered by `chunk_seq`.

A text with id 0 is whole. A chunked one ends with a chunk shorter than 50 characters (its NUL terminator
fits); one left incomplete (a chunk lost) is given out as it stands after `STALE_S`, or when that sender
starts another id, so no text is lost for good.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: characters in one STATUSTEXT's text field
CHUNK_CHARS = 50
#: an unfinished chunked text is given out as it stands this long after its last chunk
STALE_S = 2.0


@dataclass(slots=True)
class _Partial:
    severity: int
    chunks: dict[int, str] = field(default_factory=dict)
    last_ns: int = 0

    def text(self) -> str:
        return "".join(self.chunks[i] for i in sorted(self.chunks))


class StatusTextAssembler:
    """Feed each STATUSTEXT to `add`; it returns the (severity, text) pairs complete now."""

    def __init__(self) -> None:
        self._partial: dict[tuple[int, int], _Partial] = {}  # (sender, id) -> chunks so far

    def add(
        self, sender: int, severity: int, text: str, text_id: int, chunk_seq: int, now_ns: int
    ) -> list[tuple[int, str]]:
        done = self.flush_stale(now_ns)
        if not text_id:
            return [*done, (severity, text)]
        for key in [k for k in self._partial if k[0] == sender and k[1] != text_id]:
            older = self._partial.pop(key)  # the sender has moved on: what came of the older text
            done.append((older.severity, older.text()))
        part = self._partial.setdefault((sender, text_id), _Partial(severity))
        part.chunks[chunk_seq] = text
        part.last_ns = now_ns
        if len(text) < CHUNK_CHARS:
            del self._partial[(sender, text_id)]
            done.append((part.severity, part.text()))
        return done

    def flush_stale(self, now_ns: int) -> list[tuple[int, str]]:
        stale = [k for k, p in self._partial.items() if now_ns - p.last_ns > STALE_S * 1e9]
        return [(p.severity, p.text()) for p in (self._partial.pop(k) for k in stale)]
