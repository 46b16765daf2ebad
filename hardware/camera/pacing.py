"""Realtime pacing for file sources: release frames at their recorded rate."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from gridscout.hardware.camera.base import FrameSource, SourceError
from gridscout.hardware.frame import Frame


class Paced(FrameSource):
    """Wraps a file source so frame i is read at t0 + i/fps on the monotonic clock.

    The schedule is absolute, so sleep overshoot and decode time do not accumulate into drift.
    A consumer that falls behind gets the late frames back to back until it catches up (no frame
    is ever dropped: replay stays lock-step). The sleep happens *before* the inner source reads,
    so each frame's capture timestamps are the paced release times.
    """

    def __init__(self, inner: FrameSource, fps: float | None = None) -> None:
        # No super().__init__(): the corrupt-frame counter lives on the inner source.
        rate = fps if fps is not None else inner.fps
        if rate is None or rate <= 0:
            raise SourceError(f"{inner.uri}: realtime pacing needs a frame rate and none is known; pass fps=")
        self.inner = inner
        self.uri = inner.uri
        self.name = inner.name
        self.fps = float(rate)
        self.frame_count = inner.frame_count
        self.is_live = False

    @property
    def corrupt_frames(self) -> int:  # type: ignore[override]
        return self.inner.corrupt_frames

    def __getattr__(self, attr: str) -> Any:
        # Anything source-specific (e.g. a simulator's ground truth) comes from the inner source.
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def __iter__(self) -> Iterator[Frame]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[Frame]:
        """Paced frames from `start` on; the ones before it are skipped at once, not waited for."""
        frames = self.inner.iter_from(start)
        t0_ns: int | None = None
        i = 0
        try:
            while True:
                if t0_ns is not None:
                    delay_ns = t0_ns + round(i * 1e9 / self.fps) - time.monotonic_ns()
                    if delay_ns > 0:
                        time.sleep(delay_ns / 1e9)
                frame = next(frames, None)
                if frame is None:
                    return
                if t0_ns is None:
                    t0_ns = time.monotonic_ns()
                yield frame
                i += 1
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    def close(self) -> None:
        self.inner.close()
