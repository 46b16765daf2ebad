"""AP and matching against hand-computed cases."""

import numpy as np
import pytest

from gridscout.models.metrics import ClassStats, average_precision, box_iou, found_and_false, match


def test_iou_hand_computed():
    np.testing.assert_allclose(box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30]]), [[1 / 3, 0]])


def test_greedy_match_gives_each_truth_to_one_prediction():
    gt = np.array([[0, 0, 10, 10]])
    tp = match(np.array([[0, 0, 10, 10], [0, 0, 10, 9]]), np.array([0.5, 0.9]), gt)
    # the higher score claims the truth at IoU 0.5..0.9; at 0.95 its IoU 0.9 fails, the other wins
    assert tp[:, 0].tolist() == [False, True]
    assert tp[:, -1].tolist() == [True, False]


def test_found_and_false_counts_recall_not_ap():
    truth = np.array([[0, 0, 10, 10], [0, 0, 10, 9], [50, 50, 60, 60]])
    # one box finds both overlapping truths (recall, unlike AP's one-to-one match); the box at IoU 1/3 is false
    found, false = found_and_false(truth, np.array([[0, 0, 10, 10], [5, 0, 15, 10]]))
    assert found.tolist() == [True, True, False]
    assert false.tolist() == [False, True]
    # no truth, or no box: every box false, every truth missed, with the right shapes
    assert found_and_false(np.zeros((0, 4)), truth)[1].tolist() == [True, True, True]
    assert found_and_false(truth, np.zeros((0, 4)))[0].tolist() == [False, False, False]


def test_ap_perfect_half_and_none():
    perfect = average_precision(np.ones((2, 1), bool), np.array([0.9, 0.8]), 2)
    assert perfect[0] == pytest.approx(1.0, abs=0.01)
    # one hit out of two truths, found first: AP ~ 0.5
    half = average_precision(np.array([[True]]), np.array([0.9]), 2)
    assert half[0] == pytest.approx(0.5, abs=0.01)
    assert average_precision(np.zeros((0, 1), bool), np.zeros(0), 3)[0] == 0.0


def test_class_stats_recall_at_threshold():
    stats = ClassStats()
    stats.add(
        np.array([[0, 0, 10, 10], [20, 20, 30, 30]]), np.array([0.9, 0.2]), np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    )
    assert stats.recall_at(0.5) == 0.5 and stats.recall_at(0.1) == 1.0
