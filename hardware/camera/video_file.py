"""Frames from a video file (.mp4, .avi, .mkv, .mov, ...) through cv2.VideoCapture."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

from gridscout.hardware.camera.base import FrameSource, SourceError
from gridscout.hardware.frame import Frame
from gridscout.hardware.secrets import redact_uri

log = logging.getLogger(__name__)

#: consecutive failed reads after which the file is taken to have ended
MAX_CONSECUTIVE_FAILURES = 5


class VideoFile(FrameSource):
    """Every decodable frame of a video file, in order, as fast as it decodes.

    Opening checks that the file opens and its first frame decodes. While iterating, a frame
    that fails to decode (or decodes to a different shape) is counted in `corrupt_frames` and
    skipped. A failed read counts as corrupt when a frame is known to be there: the index is
    below `frame_count`, or a later frame decodes. `Frame.name` is `<stem>#<index in file>`, so
    a skipped frame leaves a gap in names but not in `frame_id`. Each iteration starts at the
    beginning of the file.
    """

    def __init__(self, path: str | Path, *, fps: float | None = None) -> None:
        """`path`: a video file, or an http(s):// URL read the same way, every frame (a replay of a stream)."""
        super().__init__()
        self.uri = str(path)
        url = "://" in self.uri
        self.path = Path(urlsplit(self.uri).path) if url else Path(path)
        self.shown = redact_uri(self.uri) if url else str(self.path)  # for messages: a URL without credentials
        self.name = self.path.stem or "stream"
        self._closed = False
        self._cap: cv2.VideoCapture | None = None
        self._first: np.ndarray | None = None
        cap, self._first = self._open()
        self._cap = cap
        self.shape = self._first.shape
        rate = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps is not None else (rate if rate > 0 else None)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 else None

    def _open(self) -> tuple[cv2.VideoCapture, np.ndarray]:
        try:
            cap = cv2.VideoCapture(self.uri)
            ok, first = cap.read() if cap.isOpened() else (False, None)
        except cv2.error as e:
            raise SourceError(f"{self.shown}: could not be decoded as a video ({e})") from e
        if not ok or first is None or first.ndim != 3:
            cap.release()
            raise SourceError(f"{self.shown}: could not be decoded as a video (corrupt, truncated or not a video)")
        return cap, first

    def __iter__(self) -> Iterator[Frame]:
        if self._closed:
            raise SourceError(f"{self.path}: source is closed")
        if self._first is None:  # the open capture has been read from: start over
            self._cap, self._first = self._open()
        cap, pending = self._cap, self._first
        self._first = None
        frame_id = index = failures = unconfirmed = 0
        try:
            while not self._closed:
                if pending is not None:
                    ok, image, pending = True, pending, None
                else:
                    ok, image = cap.read()
                if ok and image is not None and image.shape == self.shape:
                    for k in range(index - unconfirmed, index):  # failed reads followed by a good frame
                        self._count_corrupt(f"frame #{k} failed to decode")
                    failures = unconfirmed = 0
                    t_mono, t_wall = time.monotonic_ns(), time.time_ns()
                    yield Frame(image, frame_id, t_mono, t_wall, self.name, f"{self.name}#{index:06d}")
                    frame_id += 1
                elif ok and image is not None:
                    self._count_corrupt(f"frame #{index} decoded as {image.shape}, expected {self.shape}")
                else:
                    if self.frame_count is not None and index >= self.frame_count:
                        return  # the normal end
                    failures += 1
                    if failures > MAX_CONSECUTIVE_FAILURES:
                        if self.frame_count is not None:
                            log.warning(
                                "%s: gave up after %d failed reads at frame %d of %d (truncated?)",
                                self.name, failures, index, self.frame_count,
                            )  # fmt: skip
                        return
                    if self.frame_count is not None:
                        self._count_corrupt(f"frame #{index} failed to decode")
                    else:
                        unconfirmed += 1
                index += 1
        finally:
            cap.release()
            if self._cap is cap:
                self._cap = None

    def close(self) -> None:
        self._closed = True
        if self._cap is not None:
            self._cap.release()
            self._cap = None
