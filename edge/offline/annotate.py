"""Draw detections on a frame for people to look at."""

from __future__ import annotations

import cv2
import numpy as np

from gridscout.perception.detections import Detections
from gridscout.perception.taxonomy import is_defect

DEFECT_BGR = (0, 0, 255)
ASSET_BGR = (80, 200, 60)


def draw_detections(image: np.ndarray, detections: Detections) -> np.ndarray:
    """A copy of `image` with boxes, class, confidence and track id; defects in red."""
    out = image.copy()
    scale = max(0.4, min(out.shape[:2]) / 900)
    thickness = max(1, round(scale * 2))
    for box, score, name, track in zip(
        detections.boxes, detections.scores, detections.class_names, detections.track_ids, strict=True
    ):
        color = DEFECT_BGR if is_defect(name) else ASSET_BGR
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness + (1 if is_defect(name) else 0))
        label = f"{name} {score:.2f}" + (f" #{track}" if track >= 0 else "")
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y1 - 3 if y1 - th - base - 3 >= 0 else y2 + th + 3
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 2, ty + base - 1), color, -1)
        cv2.putText(out, label, (x1 + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out
