"""Live capture from a camera device or a network stream, through cv2.VideoCapture.

A reader thread reads as fast as the device delivers and keeps only the newest frame, so latency
stays bounded when the consumer is slower than the camera (older frames are dropped and counted
in `dropped_frames`). Iteration raises `CameraStalled` when no frame has arrived for
`stall_timeout_s`, whether reads block or keep failing; `reopen()` reconnects.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import cv2
import numpy as np

from gridscout.hardware.camera.base import CameraStalled, FrameSource, SourceError
from gridscout.hardware.frame import Frame
from gridscout.hardware.secrets import redact_uri as redact

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
_FAILED_READ_BACKOFF_S = 0.01  # pause after a failed read, so a dead device does not spin a core
_MAX_PLAUSIBLE_FPS = 1000.0  # some stream demuxers report a time base (e.g. 90000) as the rate


class CaptureLike(Protocol):
    """The part of cv2.VideoCapture a live source uses."""

    def isOpened(self) -> bool: ...  # noqa: N802 - cv2's name
    def read(self) -> tuple[bool, Any]: ...
    def get(self, prop_id: int) -> float: ...
    def set(self, prop_id: int, value: float) -> bool: ...
    def release(self) -> None: ...


def _is_stream(uri: str) -> bool:
    return uri.split("://", 1)[0].lower() in STREAM_SCHEMES and "://" in uri


def default_name(uri: str) -> str:
    """`video0` for `0` or `/dev/video0`, the host for a stream, else the file stem."""
    if uri.isdigit():
        return f"video{int(uri)}"
    if _is_stream(uri):
        return urlsplit(uri).hostname or redact(uri)
    return Path(uri).stem or uri


def open_capture(uri: str, *, open_timeout_s: float = 5.0, read_timeout_s: float = 2.0) -> CaptureLike:
    """Open `uri` with cv2: a device index, a /dev path (V4L2 on Linux), a stream URL or a file."""
    if uri.isdigit():
        return cv2.VideoCapture(int(uri))
    if uri.startswith("/dev/") and sys.platform.startswith("linux"):
        return cv2.VideoCapture(uri, cv2.CAP_V4L2)
    if _is_stream(uri):
        # Timeouts so a dead host fails the open, and a silent one returns from read().
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(read_timeout_s * 1000),
        ]
        return cv2.VideoCapture(uri, cv2.CAP_FFMPEG, params)
    return cv2.VideoCapture(uri)


class LiveCapture(FrameSource):
    """Frames from a camera or stream, newest first-come; never ends on its own.

    `opener` returns a fresh cv2.VideoCapture-like object; by default `open_capture(uri)`. A
    video file path works too (it plays once at decode speed, then stalls), which is how the
    stall path is tested without a camera.
    """

    is_live = True

    def __init__(
        self,
        uri: str,
        *,
        name: str | None = None,
        stall_timeout_s: float = 2.0,
        fps: float | None = None,
        open_timeout_s: float = 5.0,
        opener: Callable[[], CaptureLike] | None = None,
    ) -> None:
        super().__init__()
        if stall_timeout_s <= 0:
            raise ValueError(f"stall_timeout_s must be > 0, got {stall_timeout_s}")
        self.uri = uri
        self.name = name or default_name(uri)
        self.stall_timeout_s = stall_timeout_s
        self.dropped_frames = 0
        self._requested_fps = fps
        self._opener = opener or (
            lambda: open_capture(uri, open_timeout_s=open_timeout_s, read_timeout_s=stall_timeout_s)
        )
        self._cond = threading.Condition()
        self._latest: tuple[np.ndarray, int, int] | None = None  # image, t_mono_ns, t_wall_ns
        self._last_frame_ns = 0
        self._failed_reads = 0
        self._next_id = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None
        self._cap: CaptureLike | None = self._open()

    def _open(self) -> CaptureLike:
        try:
            cap = self._opener()
        except cv2.error as e:
            raise SourceError(f"could not open camera {redact(self.uri)}: {e}") from e
        if not cap.isOpened():
            cap.release()
            stream = _is_stream(self.uri)
            why = (
                "host unreachable or offline, refused, or not a video stream"
                if stream
                else "no such device, or it is busy or offline"
            )
            raise SourceError(f"could not open {'stream' if stream else 'camera'} {redact(self.uri)} ({why})")
        if self._requested_fps is not None:
            cap.set(cv2.CAP_PROP_FPS, self._requested_fps)
        rate = cap.get(cv2.CAP_PROP_FPS)
        self.fps = rate if 0 < rate <= _MAX_PLAUSIBLE_FPS else None
        if self._requested_fps is not None and self.fps != self._requested_fps:
            log.warning("%s: asked for %.1f fps, device reports %s", self.name, self._requested_fps, self.fps)
        return cap

    def reopen(self) -> None:
        """Drop the current connection and open the URI again (for a supervisor's reconnect)."""
        self._stop_reader()
        self._closed = False
        self._cap = self._open()

    def _start_reader(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        if self._cap is None:
            raise SourceError(f"{self.name}: capture is closed; call reopen()")
        stop = threading.Event()
        cap, self._cap = self._cap, None  # from here the thread owns it and releases it
        with self._cond:
            self._latest = None
            self._failed_reads = 0
            self._last_frame_ns = time.monotonic_ns()
        self._stop = stop
        self._thread = threading.Thread(
            target=self._read_loop, args=(cap, stop), name=f"capture-{self.name}", daemon=True
        )
        self._thread.start()

    def _read_loop(self, cap: CaptureLike, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                ok, image = cap.read()
                if ok and image is not None and image.size:
                    t_mono, t_wall = time.monotonic_ns(), time.time_ns()
                    if image.ndim == 2:
                        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
                    with self._cond:
                        if self._latest is not None:
                            self.dropped_frames += 1
                        self._latest = (image, t_mono, t_wall)
                        self._last_frame_ns = t_mono
                        self._failed_reads = 0
                        self._cond.notify_all()
                else:
                    with self._cond:
                        self._failed_reads += 1
                    stop.wait(_FAILED_READ_BACKOFF_S)
        except Exception:  # a crashed reader must not die silently; the consumer sees a stall
            log.exception("%s: reader thread failed", self.name)
        finally:
            cap.release()

    def _stop_reader(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.stall_timeout_s + 1.0)
            if self._thread.is_alive():
                log.warning("%s: reader still blocked in read(); it releases the capture when read returns", self.name)
        self._thread = self._stop = None
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __iter__(self) -> Iterator[Frame]:
        if self._closed:
            raise SourceError(f"{self.name}: source is closed; call reopen()")
        self._start_reader()
        while True:
            with self._cond:
                while self._latest is None:
                    if self._closed:
                        return
                    waited_s = (time.monotonic_ns() - self._last_frame_ns) / 1e9
                    if waited_s >= self.stall_timeout_s:
                        why = f"{self._failed_reads} failed reads in a row" if self._failed_reads else "read blocked"
                        raise CameraStalled(
                            f"{self.name}: camera stalled, no frame for {waited_s:.1f} s "
                            f"(stall_timeout_s={self.stall_timeout_s}; {why})"
                        )
                    self._cond.wait(self.stall_timeout_s - waited_s)
                image, t_mono, t_wall = self._latest
                self._latest = None
            frame_id = self._next_id
            self._next_id += 1
            yield Frame(image, frame_id, t_mono, t_wall, self.name, f"{self.name}#{frame_id:06d}")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._stop_reader()
