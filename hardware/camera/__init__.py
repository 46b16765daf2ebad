"""Camera sources, chosen by URI with `open_source`.

- `0`, `1`, ... or `/dev/video0`: a camera device (live).
- `rtsp://`, `rtsps://`, `http://`, `https://`: a network stream (live).
- `clip.mp4` (.avi, .mkv, .mov, ...): a video file.
- `folder/`: a folder of images, in sorted order.
- `synthetic://...`: rendered scenes from `gridscout.hardware.sim`.
- `run.mcap`: a recording; the frames of its `foxglove.CompressedImage` camera channel.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

# FFmpeg's own messages ("moov atom not found") went to the terminal before our one line naming the input; the
# sources say what went wrong themselves. Read when OpenCV first opens a video; a user's own setting wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
# OpenCV's own messages likewise ("can't be used to capture by name" for a dead stream, "Camera index out of
# range" from a backend tried in passing); read at its first message
os.environ.setdefault("OPENCV_LOG_LEVEL", "FATAL")

from gridscout.hardware.camera.base import CameraStalled, FrameSource, SourceError
from gridscout.hardware.camera.capture import STREAM_SCHEMES, LiveCapture, redact
from gridscout.hardware.camera.folder import IMAGE_SUFFIXES, ImageFolder
from gridscout.hardware.camera.image_size import DEFAULT_MAX_IMAGE_PIXELS
from gridscout.hardware.camera.mcap_file import McapFile
from gridscout.hardware.camera.pacing import Paced
from gridscout.hardware.camera.video_file import VideoFile

__all__ = [
    "CameraStalled",
    "FrameSource",
    "ImageFolder",
    "LiveCapture",
    "McapFile",
    "Paced",
    "SourceError",
    "VideoFile",
    "open_source",
]

ACCEPTED_FORMS = (
    "a camera index (0, 1, ...) or device path (/dev/video0), "
    "a stream URL (rtsp://, rtsps://, http://, https://), a video file (.mp4, .avi, .mkv, .mov, ...), "
    "a folder of images, an .mcap recording, or synthetic://..."
)
#: URI schemes served by simulators, as "module:factory" (a callable taking the URI). The HAL's device code
#: never imports the simulators; they are loaded by name when such a URI is opened.
SIMULATED_SOURCES = {"synthetic": "gridscout.hardware.sim.synthetic_source:open_synthetic"}
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


def open_source(
    uri: str | os.PathLike[str],
    *,
    realtime: bool = False,
    fps: float | None = None,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> FrameSource:
    """Open the frame source named by `uri` (see the module docstring for the forms).

    `realtime=True` paces file sources (video, folder, synthetic) at their recorded rate; by
    default they run as fast as they decode. Live sources are realtime by nature and ignore it.
    `fps` overrides a file source's rate (a folder's defaults to 10); for a camera it is the
    rate requested from the device. A folder skips images of more than `max_image_pixels`. Raises
    `SourceError` naming the URI when it cannot be opened.
    """
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    source = _open(os.fspath(uri), fps, max_image_pixels)
    if realtime and not source.is_live:
        source = Paced(source, fps=fps)
    return source


def _open(uri: str, fps: float | None, max_image_pixels: int) -> FrameSource:
    scheme_match = _SCHEME.match(uri)
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        if scheme in SIMULATED_SOURCES:
            return _simulated(scheme, uri)
        if scheme in STREAM_SCHEMES:
            return LiveCapture(uri, fps=fps)
        raise SourceError(f"unknown source {redact(uri)!r}: scheme {scheme}:// is not supported; use {ACCEPTED_FORMS}")
    if uri.isdigit():
        return LiveCapture(uri, fps=fps)

    path = Path(uri).expanduser()
    if path.suffix.lower() == ".mcap":
        return McapFile(path, fps=fps)
    if not path.exists():
        raise SourceError(f"{uri}: not found; expected {ACCEPTED_FORMS}")
    if uri.startswith("/dev/"):
        return LiveCapture(uri, fps=fps)
    if path.is_dir():
        return ImageFolder(path, fps=fps, max_pixels=max_image_pixels)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise SourceError(f"{uri}: a single image is not a source; put it in a folder and open the folder")
    if path.is_file():
        return VideoFile(path, fps=fps)
    raise SourceError(f"unknown source {uri!r}: expected {ACCEPTED_FORMS}")


def _simulated(scheme: str, uri: str) -> FrameSource:
    """A simulated camera, loaded by name from `SIMULATED_SOURCES` only when its URI is opened."""
    module_name, _, factory = SIMULATED_SOURCES[scheme].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if not module_name.startswith(e.name or "\0"):
            raise
        raise SourceError(f"{uri}: {scheme}:// sources are not available here ({module_name} is missing)") from e
    return getattr(module, factory)(uri)
