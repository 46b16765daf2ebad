"""The rendered-footage figures the shipped-model test and the model card share: how caps are counted."""

import numpy as np

from gridscout.models.rendered_recall import FrameCaps, cap_figures


def _frame(found: list[tuple[list[float], float]], truth: list[list[float]]) -> FrameCaps:
    boxes = np.array([b for b, _ in found], np.float32).reshape(-1, 4)
    scores = np.array([s for _, s in found], np.float32)
    return FrameCaps(boxes, scores, np.array(truth, np.float32).reshape(-1, 4))


def test_a_cap_is_found_by_an_overlapping_box_and_a_box_on_no_cap_is_false():
    cap = [10, 10, 20, 20]
    frames = [
        _frame([([11, 11, 21, 21], 0.5), ([60, 60, 70, 70], 0.3)], [cap]),  # found at 0.5; a false box at 0.3
        _frame([], [cap]),  # missed
        _frame([([30, 30, 40, 40], 0.45)], []),  # a box on a frame with no cap
        _frame([], []),
    ]
    at_low = cap_figures(frames, 0.25)
    assert (at_low.recall, at_low.caps, at_low.frames) == (0.5, 2, 4)
    assert at_low.false_per_100_frames == 50.0  # 2 false boxes in 4 frames
    at_high = cap_figures(frames, 0.46)
    assert at_high.recall == 0.5 and at_high.false_per_100_frames == 0.0
    assert cap_figures(frames, 0.6).recall == 0.0
