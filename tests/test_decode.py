"""Decoding both ultralytics layouts and class-aware NMS, against hand-computed cases."""

import numpy as np
import pytest

from gridscout.perception.decode import decode, decode_dense, decode_end2end, nms


def dense(rows: list[tuple[float, float, float, float, list[float]]]) -> np.ndarray:
    """Build a (4 + nc, N) prediction from (cx, cy, w, h, class scores) rows."""
    return np.array([[cx, cy, w, h, *scores] for cx, cy, w, h, scores in rows], np.float32).T


def test_dense_converts_centre_format_and_picks_the_best_class():
    pred = dense([(50, 40, 20, 10, [0.1, 0.9]), (10, 10, 4, 4, [0.05, 0.1])])
    boxes, scores, classes = decode_dense(pred, conf=0.25, iou=0.7)
    np.testing.assert_allclose(boxes, [[40, 35, 60, 45]])
    np.testing.assert_allclose(scores, [0.9])
    assert classes.tolist() == [1]


def test_nms_suppresses_overlap_within_a_class_only():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10]], np.float32)  # IoU(0,1) = 9/11
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert nms(boxes, scores, np.array([0, 0, 1]), iou=0.5).tolist() == [0, 2]
    assert nms(boxes, scores, np.array([0, 0, 0]), iou=0.5).tolist() == [0]
    # below the IoU threshold both stay
    assert nms(boxes, scores, np.array([0, 0, 0]), iou=0.85).tolist() == [0, 1]


def test_dense_nms_keeps_highest_and_orders_by_score():
    pred = dense([(5, 5, 10, 10, [0.6]), (6, 5, 10, 10, [0.95]), (100, 100, 10, 10, [0.7])])
    boxes, scores, _ = decode_dense(pred, conf=0.25, iou=0.5)
    np.testing.assert_allclose(scores, [0.95, 0.7])
    np.testing.assert_allclose(boxes[0], [1, 0, 11, 10])


def test_end2end_layout_filters_by_score_only():
    pred = np.zeros((1, 300, 6), np.float32)
    pred[0, 0] = [1, 2, 3, 4, 0.8, 1]
    pred[0, 1] = [1, 2, 3, 4, 0.1, 0]
    boxes, scores, classes = decode(pred, nc=2, conf=0.25, iou=0.7)
    np.testing.assert_allclose(boxes, [[1, 2, 3, 4]])
    assert classes.tolist() == [1] and scores.tolist() == pytest.approx([0.8])
    assert len(decode_end2end(pred[0], conf=0.9)[0]) == 0


def test_decode_picks_layout_by_shape_and_rejects_others():
    dense_out = dense([(5, 5, 2, 2, [0.9, 0.1])])[None]
    assert decode(dense_out, nc=2, conf=0.5, iou=0.7)[2].tolist() == [0]
    with pytest.raises(ValueError, match=r"neither \[1, 6, N\]"):
        decode(np.zeros((1, 7, 10), np.float32), nc=2, conf=0.5, iou=0.7)
    with pytest.raises(ValueError, match="3-d"):
        decode(np.zeros((7, 10), np.float32), nc=2, conf=0.5, iou=0.7)


def test_nothing_above_threshold_gives_empty_arrays():
    boxes, scores, classes = decode_dense(dense([(5, 5, 2, 2, [0.1])]), conf=0.5, iou=0.7)
    assert boxes.shape == (0, 4) and scores.shape == (0,) and classes.shape == (0,)
