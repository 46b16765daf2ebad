"""The one frame type every camera source yields."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image and where and when it came from.

    `image` is HxWx3 BGR uint8. `frame_id` counts delivered frames from 0 per source.
    `t_capture_mono_ns` is `time.monotonic_ns()` at capture (for latency);
    `t_capture_wall_ns` is `time.time_ns()` (for reports). `name` names the frame for people:
    the file name in a folder source, else `<source>#<index>`.
    """

    image: np.ndarray
    frame_id: int
    t_capture_mono_ns: int
    t_capture_wall_ns: int
    source_name: str
    name: str

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
