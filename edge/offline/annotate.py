"""Draw detections (and, for a replay, the vehicle's state) on a frame for people to look at."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from gridscout.perception.detections import Detections
from gridscout.perception.taxonomy import is_defect

DEFECT_BGR = (0, 0, 255)
ASSET_BGR = (80, 200, 60)
PANEL_BGR = (0, 0, 0)
TEXT_BGR = (255, 255, 255)

#: one box to draw: (x1, y1, x2, y2), score, class name, track id (-1: not confirmed)
Drawable = tuple[Sequence[float], float, str, int]


def _scale(image: np.ndarray) -> float:
    return max(0.4, min(image.shape[:2]) / 900)


def draw_boxes(image: np.ndarray, boxes: Iterable[Drawable]) -> np.ndarray:
    """A copy of `image` with boxes, class, confidence and track id; defects in red."""
    out = image.copy()
    scale = _scale(out)
    thickness = max(1, round(scale * 2))
    for box, score, name, track in boxes:
        color = DEFECT_BGR if is_defect(name) else ASSET_BGR
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness + (1 if is_defect(name) else 0))
        label = f"{name} {score:.2f}" + (f" #{track}" if track >= 0 else "")
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y1 - 3 if y1 - th - base - 3 >= 0 else y2 + th + 3
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 2, ty + base - 1), color, -1)
        cv2.putText(out, label, (x1 + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_BGR, 1, cv2.LINE_AA)
    return out


def draw_detections(image: np.ndarray, detections: Detections) -> np.ndarray:
    """A copy of `image` with the detector's boxes, class, confidence and track id; defects in red."""
    return draw_boxes(
        image,
        zip(detections.boxes, detections.scores, detections.class_names, detections.track_ids, strict=True),
    )


def draw_status(image: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """`image` (drawn on in place, and returned) with `lines` of text on a darkened band at its bottom left."""
    if not lines:
        return image
    scale = _scale(image)
    sizes = [cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, 1) for line in lines]
    step = max(th + base for (_, th), base in sizes) + 4
    width = min(image.shape[1], max(tw for (tw, _), _ in sizes) + 8)
    top = max(0, image.shape[0] - step * len(lines) - 4)
    panel = image[top:, :width]
    panel[:] = (panel * 0.4).astype(image.dtype)  # darkened, so the text reads on any scene
    for i, line in enumerate(lines):
        y = top + step * (i + 1) - 2
        cv2.putText(image, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_BGR, 1, cv2.LINE_AA)
    return image
