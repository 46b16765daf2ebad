"""Decode ultralytics detection outputs into boxes, scores and class ids.

Two layouts exist:
- dense `[1, 4 + nc, N]`: per anchor cx, cy, w, h then one score per class; needs NMS;
- end-to-end `[1, 300, 6]`: x1, y1, x2, y2, score, class; already suppressed (YOLO26, `nms=True`).
Boxes stay in model-input pixels here; `letterbox.unletterbox` maps them back.
"""

from __future__ import annotations

import cv2
import numpy as np


def nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou: float) -> np.ndarray:
    """Class-aware non-maximum suppression; returns kept indices, best score first."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), class_ids.tolist(), 0.0, iou)
    keep = np.asarray(keep, np.int64).reshape(-1)
    return keep[np.argsort(-scores[keep], kind="stable")]


def decode_dense(
    pred: np.ndarray, conf: float, iou: float, max_det: int = 300
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`pred` is (4 + nc, N) for one image. Returns xyxy boxes, scores, class ids after NMS."""
    class_scores = pred[4:]
    class_ids = class_scores.argmax(0)
    scores = class_scores[class_ids, np.arange(class_scores.shape[1])]
    mask = scores >= conf
    if not mask.any():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32)
    cx, cy, w, h = pred[:4, mask]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).astype(np.float32)
    scores, class_ids = scores[mask].astype(np.float32), class_ids[mask].astype(np.int32)
    keep = nms(boxes, scores, class_ids, iou)[:max_det]
    return boxes[keep], scores[keep], class_ids[keep]


def decode_end2end(pred: np.ndarray, conf: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`pred` is (300, 6) for one image: x1, y1, x2, y2, score, class."""
    rows = pred[pred[:, 4] >= conf]
    return rows[:, :4].astype(np.float32), rows[:, 4].astype(np.float32), rows[:, 5].astype(np.int32)


def decode(
    output: np.ndarray, nc: int, conf: float, iou: float, max_det: int = 300
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick the layout from the output's shape and decode one image (batch index 0)."""
    if output.ndim != 3:
        raise ValueError(f"expected a 3-d detection output, got shape {output.shape}")
    if output.shape[1] == 4 + nc:
        return decode_dense(output[0], conf, iou, max_det)
    if output.shape[2] == 6:
        return decode_end2end(output[0], conf)
    raise ValueError(f"output shape {output.shape} is neither [1, {4 + nc}, N] (dense) nor [1, N, 6] (end-to-end)")
