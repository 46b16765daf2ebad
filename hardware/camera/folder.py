"""Frames from a folder of images, in sorted file-name order, each with its photo's camera pose when it has one."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gridscout.hardware.camera.base import FrameSource, SourceError
from gridscout.hardware.camera.image_size import DEFAULT_MAX_IMAGE_PIXELS, image_size
from gridscout.hardware.camera.photo_pose import read_photo_pose
from gridscout.hardware.frame import CameraPose, Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
DEFAULT_FOLDER_FPS = 10.0
#: photos whose missing or bad pose metadata is logged one by one; the rest are only counted
POSE_WARNINGS_LOGGED = 3


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_image(path: Path) -> np.ndarray | None:
    """The image as HxWx3 BGR uint8, or None when it cannot be read or decoded."""
    return _decode(_read_bytes(path))


def _read_bytes(path: Path) -> np.ndarray | None:
    try:
        data = np.fromfile(path, dtype=np.uint8)  # not cv2.imread: that fails on some non-ASCII paths
    except OSError:
        return None
    return data


def _decode(data: np.ndarray | None) -> np.ndarray | None:
    return cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None


def _not_decodable(data: np.ndarray | None, max_pixels: int) -> str | None:
    """Why these bytes must not be decoded (None: they may): unreadable, empty, no header, or too many pixels for
    memory."""
    if data is None:
        return "cannot be read"
    if not data.size:
        return "is empty (0 bytes)"
    # the whole file, not a first slice: TIFF writers put the IFD after the pixels, and a camera's APPn segments
    # (a DJI thermal R-JPEG's raw data) can put a JPEG's size hundreds of kB in; a view copies nothing
    size = image_size(memoryview(data))
    if size is None:
        return "has no readable image header"
    if size[0] * size[1] > max_pixels:
        mp = size[0] * size[1] / 1e6
        return f"is {size[0]}x{size[1]} ({mp:.0f} MP), above camera.max_image_pixels ({max_pixels / 1e6:g} MP)"
    return None


@dataclass(frozen=True)
class Photo:
    """One photo read on its own: its frame (with the camera pose its EXIF/XMP gives) and the file's bytes as read."""

    frame: Frame
    data: bytes


def read_photo(path: Path, *, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, frame_id: int = 0) -> Photo:
    """`path` as `ImageFolder` would give it (named by file, its folder the source), read once. SourceError naming
    the file when it cannot be read, has too many pixels or does not decode."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if (unsafe := _not_decodable(data, max_pixels)) is not None:
        raise SourceError(f"{path}: {unsafe}")
    image = _decode(data)
    if image is None:
        raise SourceError(f"{path}: could not be decoded")
    raw = data.tobytes()
    pose, _ = read_photo_pose(raw)  # what it lacks shows where its defects cannot be placed
    source_name = path.resolve().parent.name
    frame = Frame(image, frame_id, time.monotonic_ns(), time.time_ns(), source_name, path.name, pose)
    return Photo(frame, raw)


class ImageFolder(FrameSource):
    """Each image in a folder (not recursive; hidden files ignored) as one frame, named by file.

    `fps` is the nominal rate used for realtime pacing (default 10). Images that cannot be
    decoded, and images of more than `max_pixels` (read from the header, before decoding), are counted in
    `corrupt_frames` and skipped, each with a warning naming it. Each frame carries the camera pose its photo's
    EXIF/XMP gives (`Frame.pose`); a photo whose metadata is missing or bad is still a frame (pose None,
    or a pose without angles), with a warning logged and counted in `pose_warnings`.
    """

    def __init__(
        self, path: str | Path, *, fps: float | None = None, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.uri = str(path)
        self.name = self.path.resolve().name or self.uri
        if fps is not None and fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.fps = fps if fps is not None else DEFAULT_FOLDER_FPS
        self.max_pixels = max_pixels
        self.files = sorted(
            p for p in self.path.iterdir() if p.is_file() and is_image(p) and not p.name.startswith(".")
        )
        if not self.files:
            kinds = " ".join(sorted(IMAGE_SUFFIXES))
            raise SourceError(f"{self.path}: folder has no images ({kinds})")
        self.frame_count = len(self.files)
        self.pose_warnings = 0

    def __iter__(self) -> Iterator[Frame]:
        frame_id = 0
        for path in self.files:
            data = _read_bytes(path)
            if (unsafe := _not_decodable(data, self.max_pixels)) is not None:
                self._count_corrupt(f"{path.name} {unsafe}")
                continue
            image = _decode(data)
            if image is None:
                self._count_corrupt(f"{path.name} could not be decoded")
                continue
            t_mono, t_wall = time.monotonic_ns(), time.time_ns()
            yield Frame(image, frame_id, t_mono, t_wall, self.name, path.name, self._pose(path.name, data.tobytes()))
            frame_id += 1

    def _pose(self, name: str, data: bytes) -> CameraPose | None:
        pose, warning = read_photo_pose(data)
        if warning is not None:
            self.pose_warnings += 1
            if self.pose_warnings <= POSE_WARNINGS_LOGGED:
                more = "; further ones are counted only" if self.pose_warnings == POSE_WARNINGS_LOGGED else ""
                log.warning("%s: %s (%d photos so far without a full pose%s)", name, warning, self.pose_warnings, more)
        return pose
