"""The tracker keeps one id per physical object across frames."""

import numpy as np
from gridscout.perception.detections import Detections
from gridscout.perception.tracker import Tracker

NAMES = ("insulator", "missing_cap")


def frame(*objects):
    """Detections from (x1, y1, x2, y2, score, class_id) tuples."""
    rows = np.array(objects, np.float32).reshape(-1, 6)
    return Detections(rows[:, :4], rows[:, 4], rows[:, 5].astype(int), NAMES)


def test_moving_object_keeps_one_id_and_classes_get_distinct_ids():
    tracker = Tracker(frame_rate=10)
    ids = []
    for i in range(10):
        out = tracker.update(
            frame((100 + 5 * i, 50, 160 + 5 * i, 300, 0.9, 0), (120 + 5 * i, 100, 140 + 5 * i, 120, 0.8, 1))
        )
        ids.append(out.track_ids.tolist())
    assert ids[0] == [-1, -1]  # a new track needs two consecutive frames
    assert all(row == ids[1] for row in ids[1:])
    assert len(set(ids[1])) == 2 and min(ids[1]) >= 1


def test_two_objects_of_one_class_and_a_new_object_after_loss():
    tracker = Tracker(frame_rate=10, lost_track_s=0.3)
    for i in range(4):
        out = tracker.update(frame((10 + i, 10, 50 + i, 50, 0.9, 0), (300 + i, 10, 340 + i, 50, 0.9, 0)))
    first = set(out.track_ids.tolist())
    assert len(first) == 2 and -1 not in first
    for _ in range(10):  # both vanish for 1 s, longer than lost_track_s
        tracker.update(Detections.empty(NAMES))
    for i in range(3):
        out = tracker.update(frame((10 + i, 10, 50 + i, 50, 0.9, 0)))
    assert out.track_ids[0] >= 1 and out.track_ids[0] not in first


def test_empty_input_gives_empty_output():
    out = Tracker().update(Detections.empty(NAMES))
    assert len(out) == 0 and out.track_ids.shape == (0,)
