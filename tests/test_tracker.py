"""The tracker keeps one id per physical object across frames, deterministically."""

import numpy as np
import pytest

from gridscout.hardware.sim.synthetic_source import SyntheticSource
from gridscout.perception.detections import Detections
from gridscout.perception.tracker import Tracker

NAMES = ("insulator", "missing_cap")


def frame(*objects):
    """Detections from (x1, y1, x2, y2, score, class_id) tuples."""
    rows = np.array(objects, np.float32).reshape(-1, 6)
    return Detections(rows[:, :4], rows[:, 4], rows[:, 5].astype(int), NAMES)


def random_sequence(seed: int, n_frames: int = 80) -> list[Detections]:
    """Several objects of both classes drifting across the frame, with misses, noise and false alarms."""
    rng = np.random.default_rng(seed)
    starts = rng.uniform([0, 0], [500, 350], (6, 2))
    sizes = rng.uniform([20, 20], [90, 120], (6, 2))
    velocity = rng.uniform(-6, 6, (6, 2))
    classes = np.array([0, 0, 0, 1, 1, 1])
    out = []
    for f in range(n_frames):
        rows = []
        for k in range(6):
            if rng.random() < 0.15:
                continue
            x, y = starts[k] + velocity[k] * f + rng.normal(0, 1.5, 2)
            rows.append((x, y, x + sizes[k, 0], y + sizes[k, 1], rng.uniform(0.3, 0.95), classes[k]))
        if rng.random() < 0.1:
            x, y = rng.uniform(0, 600, 2)
            rows.append((x, y, x + 30, y + 30, rng.uniform(0.3, 0.6), int(rng.integers(2))))
        out.append(frame(*rows))
    return out


def run(tracker: Tracker, frames: list[Detections]) -> list[list[int]]:
    return [tracker.update(d).track_ids.tolist() for d in frames]


def test_same_detections_give_same_ids_in_a_fresh_tracker():
    frames = random_sequence(seed=3)
    first, second = run(Tracker(), frames), run(Tracker(), frames)
    assert first == second
    assert sum(t >= 0 for row in first for t in row) > 100  # it did track


def test_ids_start_at_1_and_count_up_in_order_of_first_appearance_across_classes():
    ids = [t for row in run(Tracker(), random_sequence(seed=5)) for t in row if t >= 0]
    first_seen = list(dict.fromkeys(ids))
    assert first_seen == list(range(1, len(first_seen) + 1))


def test_output_is_a_new_detections_with_int64_ids():
    dets = frame((10, 10, 50, 50, 0.9, 0), (100, 10, 140, 50, 0.9, 1))
    tracker = Tracker()
    tracker.update(dets)
    out = tracker.update(dets)
    assert out is not dets and out.track_ids.dtype == np.int64 and out.track_ids.shape == (2,)
    assert dets.track_ids.tolist() == [-1, -1]  # the input is left alone
    assert np.array_equal(out.boxes, dets.boxes) and np.array_equal(out.class_ids, dets.class_ids)


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
    assert sorted(ids[1]) == [1, 2]


def test_small_box_moving_steadily_keeps_one_id():
    """A defect-sized box sweeping across the frame at 12 px/frame (half its width) keeps its id."""
    tracker = Tracker(frame_rate=10)
    ids = {int(tracker.update(frame((20 + 12 * i, 200, 44 + 12 * i, 224, 0.7, 1))).track_ids[0]) for i in range(40)}
    assert ids == {-1, 1}


def test_a_defect_moving_further_than_its_size_each_frame_keeps_one_id():
    """A 45 px missing cap at 70 px a frame (the demo line flown at 8.3 m/s): its boxes never overlap, so plain
    IoU never starts a track; tracked on buffered boxes it gets one id from its second frame."""

    def sweep(tracker: Tracker) -> list[int]:
        return [int(tracker.update(frame((10 + 70 * i, 200, 55 + 70 * i, 245, 0.8, 1))).track_ids[0]) for i in range(8)]

    assert sweep(Tracker(frame_rate=10)) == [-1] + [1] * 7
    assert sweep(Tracker(frame_rate=10, part_buffer=0)) == [-1] * 8


def test_neighbouring_defects_on_a_fast_string_keep_their_own_ids():
    """Two 24 px missing caps on neighbouring discs (30 px apart) moving 25 px a frame: their buffered boxes
    overlap each other, yet each keeps its own id; plain IoU hands the first a new id every frame."""

    def pair(tracker: Tracker) -> list[list[int]]:
        rows = []
        for i in range(10):
            x = 10 + 25 * i
            rows.append(tracker.update(frame((x, 200, x + 24, 224, 0.8, 1), (x + 30, 200, x + 54, 224, 0.7, 1))))
        return [out.track_ids.tolist() for out in rows]

    assert pair(Tracker(frame_rate=10)) == [[-1, -1]] + [[1, 2]] * 9
    assert pair(Tracker(frame_rate=10, part_buffer=0))[1:4] == [[1, -1], [2, -1], [3, -1]]


def test_min_consecutive_frames_delays_the_id():
    tracker = Tracker(min_consecutive_frames=3)
    ids = [int(tracker.update(frame((10, 10, 50, 50, 0.9, 0))).track_ids[0]) for _ in range(4)]
    assert ids == [-1, -1, 1, 1]
    assert int(Tracker(min_consecutive_frames=1).update(frame((10, 10, 50, 50, 0.9, 0))).track_ids[0]) == 1


def test_a_class_never_takes_another_class_track():
    """A defect box exactly on an insulator's box gets its own track, also after the insulator leaves."""
    tracker = Tracker()
    box = (100, 100, 160, 300)
    for _ in range(3):
        out = tracker.update(frame((*box, 0.9, 0)))
    insulator_id = int(out.track_ids[0])
    for _ in range(3):
        out = tracker.update(frame((*box, 0.9, 1)))
    assert int(out.track_ids[0]) not in (-1, insulator_id)
    out = tracker.update(frame((*box, 0.9, 0), (*box, 0.9, 1)))
    assert out.track_ids[0] == insulator_id and out.track_ids[1] not in (-1, insulator_id)


def test_short_gap_keeps_the_id_long_gap_gives_a_new_one():
    tracker = Tracker(frame_rate=10, lost_track_s=3.0)
    for i in range(4):
        out = tracker.update(frame((10 + i, 10, 50 + i, 50, 0.9, 0)))
    first = int(out.track_ids[0])
    for _ in range(20):  # gone for 2 s, less than lost_track_s
        tracker.update(Detections.empty(NAMES))
    out = tracker.update(frame((14, 10, 54, 50, 0.9, 0)))
    assert out.track_ids[0] == first  # back at once: no second confirmation needed
    for _ in range(40):  # gone for 4 s, longer than lost_track_s
        tracker.update(Detections.empty(NAMES))
    ids = [int(tracker.update(frame((14, 10, 54, 50, 0.9, 0))).track_ids[0]) for _ in range(2)]
    assert ids == [-1, first + 1]


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


def test_low_score_continues_a_track_but_does_not_start_one():
    tracker = Tracker(high_conf=0.5)
    for _ in range(2):
        out = tracker.update(frame((10, 10, 50, 50, 0.9, 0), (300, 10, 340, 50, 0.3, 0)))
    assert out.track_ids.tolist() == [1, -1]
    out = tracker.update(frame((11, 10, 51, 50, 0.3, 0), (300, 10, 340, 50, 0.3, 0)))
    assert out.track_ids.tolist() == [1, -1]


def test_empty_input_gives_empty_output():
    out = Tracker().update(Detections.empty(NAMES))
    assert len(out) == 0 and out.track_ids.shape == (0,) and out.track_ids.dtype == np.int64


def test_empty_frames_between_detections():
    tracker = Tracker()
    for _ in range(5):
        assert len(tracker.update(Detections.empty(NAMES))) == 0
    ids = [tracker.update(frame((10, 10, 50, 50, 0.9, 1))).track_ids.tolist() for _ in range(3)]
    assert tracker.update(Detections.empty(NAMES)).track_ids.shape == (0,)
    ids.append(tracker.update(frame((10, 10, 50, 50, 0.9, 1))).track_ids.tolist())
    assert ids == [[-1], [1], [1], [1]]  # one empty frame is not a lost track


def test_a_flickering_new_object_gets_no_id():
    """Confirmation needs `min_consecutive_frames` in a row: seen every other frame, it never gets one."""
    tracker = Tracker(min_consecutive_frames=2)
    for _ in range(6):
        assert tracker.update(frame((10, 10, 50, 50, 0.9, 1))).track_ids.tolist() == [-1]
        tracker.update(Detections.empty(NAMES))


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"frame_rate": 0}, "frame_rate"), ({"update_gain": 0}, "update_gain"), ({"part_buffer": -1}, "part_buffer")],
)
def test_bad_parameters_raise(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Tracker(**kwargs)


def test_synthetic_footage_gives_each_defect_one_track():
    """60 frames of the demo flight, truth boxes jittered by a seeded RNG as detections: one id per object."""
    source = SyntheticSource("synthetic://demo")
    rng = np.random.default_rng(7)
    tracker = Tracker(frame_rate=source.fps)
    seen: dict[str, set[int]] = {}
    owners: dict[int, set[str]] = {}
    for i in range(200, 260):  # two missing caps pass by (frames 210-224 and 234-254)
        truth = [t for t in source.truth(i) if t.class_name in NAMES]
        boxes = np.array([t.box for t in truth], np.float64).reshape(-1, 4)
        size = np.tile(boxes[:, 2:] - boxes[:, :2], 2)
        boxes += rng.normal(0, 0.03, boxes.shape) * size
        scores = rng.uniform(0.55, 0.95, len(truth))
        dets = Detections(boxes, scores, [NAMES.index(t.class_name) for t in truth], NAMES)
        for t, track in zip(truth, tracker.update(dets).track_ids.tolist(), strict=True):
            if track >= 0:
                seen.setdefault(t.object_id, set()).add(track)
                owners.setdefault(track, set()).add(t.object_id)
    defects = {t.object_id for i in range(200, 260) for t in source.truth(i) if t.class_name == "missing_cap"}
    assert len(defects) == 2
    assert all(len(seen.get(d, ())) == 1 for d in defects), {d: seen.get(d) for d in defects}
    assert all(len(objects) == 1 for objects in owners.values())  # no track jumps to another object
    assert all(len(tracks) == 1 for tracks in seen.values())  # insulators too


@pytest.mark.parametrize("seed", [3, 7, 11])
@pytest.mark.parametrize("window", [None, 15])
def test_a_tracker_rebuilt_from_its_published_frames_goes_on_with_the_same_ids(seed, window):
    """Scenario: perception is killed after frame 40 and a new one replays the journal (the whole past, or only
    its last 15 frames) into a fresh tracker. From frame 41 on it gives the ids the undisturbed tracker gives:
    the live tracks keep theirs and new ones count on from the same next id."""
    frames = random_sequence(seed=seed)
    undisturbed = Tracker()
    published, next_ids = [], []
    for d in frames:
        published.append(undisturbed.update(d).track_ids)
        next_ids.append(undisturbed.next_id)
    journal = range(40)[-window:] if window else range(40)
    rebuilt = Tracker()
    for k in journal:
        rebuilt.replay(frames[k], published[k], next_ids[k])
    after = run(rebuilt, frames[40:])
    expected = [ids.tolist() for ids in published[40:]]
    assert after == expected
    assert any(t >= 0 for row in expected[:5] for t in row)  # tracks were live across the restart


def test_without_the_journal_the_ids_of_live_tracks_would_change():
    """The premise of the test above: a fresh tracker on frames 41 on gives other ids."""
    frames = random_sequence(seed=3)
    undisturbed = run(Tracker(), frames)[40:]
    assert run(Tracker(), frames[40:]) != undisturbed
