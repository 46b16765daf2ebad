"""Read YOLO label files (`class cx cy w h`, normalized) into pixel boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_yolo_labels(path: Path) -> np.ndarray:
    """Rows of (class, cx, cy, w, h), normalized; empty (0, 5) when the file is missing or empty."""
    if not path.exists():
        return np.zeros((0, 5))
    rows = [list(map(float, line.split())) for line in path.read_text().splitlines() if line.strip()]
    return np.array(rows, np.float64).reshape(-1, 5)


def to_xyxy(rows: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel (x1, y1, x2, y2) boxes of label rows, for an image of `width` x `height`."""
    cx, cy, w, h = rows[:, 1] * width, rows[:, 2] * height, rows[:, 3] * width, rows[:, 4] * height
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)


def centre_inside(inner: np.ndarray, outer: np.ndarray) -> bool:
    """Whether `inner`'s centre lies in `outer` (xyxy): the rule that puts a defect on its string."""
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return bool(outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3])
