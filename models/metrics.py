"""Detection metrics: match predictions to ground truth, AP50 and AP50-95 per class.

Follows pycocotools: greedy matching by score at each IoU threshold 0.50:0.05:0.95, then the
mean over 101 recall points of the best precision at that recall or beyond (0 past the last
recall reached). This is slightly stricter than ultralytics' trapezoid, which draws a line from
the last recall reached down to precision 0 at recall 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
#: the overlap at which a kept box finds a truth box, for recall and false-box counts (AP uses IOU_THRESHOLDS)
MATCH_IOU = 0.5


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` (N, 4) with every box in `b` (M, 4), xyxy."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def found_and_false(truth: np.ndarray, kept: np.ndarray, iou: float = MATCH_IOU) -> tuple[np.ndarray, np.ndarray]:
    """(N,) True where a truth box is overlapped by some kept box at `iou` or more, and (M,) True where a kept box
    overlaps no truth box that much. Unlike `match`, one kept box may find several truth boxes (recall, not AP)."""
    truth, kept = np.asarray(truth, np.float64).reshape(-1, 4), np.asarray(kept, np.float64).reshape(-1, 4)
    overlaps = box_iou(truth, kept) >= iou
    return overlaps.any(axis=1), ~overlaps.any(axis=0)


def match(pred_boxes: np.ndarray, pred_scores: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """For one image and class: (N_pred, 10) bool, True where the prediction is a true positive
    at each IoU threshold. Predictions claim ground truth greedily, best score first."""
    tp = np.zeros((len(pred_boxes), len(IOU_THRESHOLDS)), bool)
    if len(pred_boxes) == 0 or len(gt_boxes) == 0:
        return tp
    iou = box_iou(pred_boxes, gt_boxes)
    order = np.argsort(-np.asarray(pred_scores), kind="stable")
    for t, threshold in enumerate(IOU_THRESHOLDS):
        taken = np.zeros(len(gt_boxes), bool)
        for i in order:
            candidates = np.where(~taken & (iou[i] >= threshold), iou[i], -1.0)
            j = int(candidates.argmax())
            if candidates[j] >= threshold:
                taken[j] = True
                tp[i, t] = True
    return tp


def average_precision(tp: np.ndarray, scores: np.ndarray, n_gt: int) -> np.ndarray:
    """AP at each IoU threshold from pooled (N, 10) true-positive flags and their scores."""
    if n_gt == 0:
        return np.full(tp.shape[1], np.nan)
    if len(scores) == 0:
        return np.zeros(tp.shape[1])
    order = np.argsort(-scores, kind="stable")
    tpc = np.cumsum(tp[order], axis=0)
    fpc = np.cumsum(~tp[order], axis=0)
    recall = tpc / n_gt
    precision = tpc / (tpc + fpc)
    grid = np.linspace(0, 1, 101)
    ap = np.zeros(tp.shape[1])
    for t in range(tp.shape[1]):
        envelope = np.flip(np.maximum.accumulate(np.flip(precision[:, t])))
        first = np.searchsorted(recall[:, t], grid, side="left")
        reached = first < len(envelope)
        ap[t] = np.where(reached, envelope[np.minimum(first, len(envelope) - 1)], 0.0).mean()
    return ap


@dataclass
class ClassStats:
    """Pooled predictions of one class over a data set."""

    scores: list[float] = field(default_factory=list)
    tp: list[np.ndarray] = field(default_factory=list)
    n_gt: int = 0

    def add(self, pred_boxes: np.ndarray, pred_scores: np.ndarray, gt_boxes: np.ndarray) -> None:
        self.tp.append(match(pred_boxes, pred_scores, gt_boxes))
        self.scores.extend(float(s) for s in pred_scores)
        self.n_gt += len(gt_boxes)

    def ap(self) -> np.ndarray:
        tp = np.concatenate(self.tp) if self.tp else np.zeros((0, len(IOU_THRESHOLDS)), bool)
        return average_precision(tp, np.asarray(self.scores), self.n_gt)

    def recall_at(self, conf: float, iou_index: int = 0) -> float:
        """Recall of predictions scoring at least `conf`, at IoU 0.5 by default."""
        if self.n_gt == 0:
            return float("nan")
        tp = np.concatenate(self.tp) if self.tp else np.zeros((0, len(IOU_THRESHOLDS)), bool)
        keep = np.asarray(self.scores) >= conf
        return float(tp[keep, iou_index].sum() / self.n_gt)
