"""Frames from a folder of images, in sorted file-name order."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from gridscout.hardware.camera.base import FrameSource, SourceError
from gridscout.hardware.frame import Frame

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
DEFAULT_FOLDER_FPS = 10.0


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_image(path: Path) -> np.ndarray | None:
    """The image as HxWx3 BGR uint8, or None when it cannot be read or decoded."""
    try:
        data = np.fromfile(path, dtype=np.uint8)  # not cv2.imread: that fails on some non-ASCII paths
    except OSError:
        return None
    if data.size == 0:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


class ImageFolder(FrameSource):
    """Each image in a folder (not recursive; hidden files ignored) as one frame, named by file.

    `fps` is the nominal rate used for realtime pacing (default 10). Images that cannot be
    decoded are counted in `corrupt_frames` and skipped.
    """

    def __init__(self, path: str | Path, *, fps: float | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.uri = str(path)
        self.name = self.path.resolve().name or self.uri
        if fps is not None and fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.fps = fps if fps is not None else DEFAULT_FOLDER_FPS
        self.files = sorted(
            p for p in self.path.iterdir() if p.is_file() and is_image(p) and not p.name.startswith(".")
        )
        if not self.files:
            kinds = " ".join(sorted(IMAGE_SUFFIXES))
            raise SourceError(f"{self.path}: folder has no images ({kinds})")
        self.frame_count = len(self.files)

    def __iter__(self) -> Iterator[Frame]:
        frame_id = 0
        for path in self.files:
            image = read_image(path)
            if image is None:
                self._count_corrupt(f"{path.name} could not be decoded")
                continue
            t_mono, t_wall = time.monotonic_ns(), time.time_ns()
            yield Frame(image, frame_id, t_mono, t_wall, self.name, path.name)
            frame_id += 1
