"""The replay diff (edge/offline/replay_diff.py): what counts as the same, changed, added or removed per stage."""

from __future__ import annotations

import json

import pytest

from gridscout.edge.offline.replay_diff import Box, Command, Outputs, ReportWrite, Tolerances, diff, iou

CAP = Box("missing_cap", 0.80, 2, (100.0, 100.0, 130.0, 130.0))
INSULATOR = Box("insulator", 0.70, 1, (50.0, 40.0, 300.0, 200.0))


def moved(box: Box, dx: float = 0.0, score: float = 0.0, track: int | None = None) -> Box:
    x1, y1, x2, y2 = box.xyxy
    return Box(box.class_name, box.score + score, box.track_id if track is None else track,
               (x1 + dx, y1, x2 + dx, y2))  # fmt: skip


def test_boxes_within_tolerance_are_the_same_and_the_rest_say_why():
    before = Outputs(detections={0: [CAP, INSULATOR], 1: [CAP], 2: [CAP]})
    after = Outputs(
        detections={
            0: [moved(INSULATOR, dx=1.0), moved(CAP, score=0.01)],  # order does not matter; small moves pass
            1: [moved(CAP, score=-0.2, track=5)],  # paired, but score and track changed
            2: [],  # the cap is gone
            3: [CAP],  # a frame the run had no output for
        }
    )
    d = diff(before, after).detections
    assert (d.same, d.changed, d.added, d.removed) == (2, 1, 1, 1)
    assert "score 0.80 -> 0.60" in d.examples[0] and "track 2 -> 5" in d.examples[0]
    assert any("frame 2: removed missing_cap" in e for e in d.examples)
    assert any("frame 3: added" in e and "not in the run's output" in e for e in d.examples)


def test_boxes_of_different_classes_are_never_paired():
    d = diff(Outputs(detections={0: [CAP]}), Outputs(detections={0: [Box("insulator", *list(vars(CAP).values())[1:])]}))
    assert (d.detections.added, d.detections.removed) == (1, 1)
    assert iou(CAP.xyxy, CAP.xyxy) == 1.0 and iou(CAP.xyxy, INSULATOR.xyxy) < 0.1


def test_commands_are_aligned_in_order_and_times_are_not_compared():
    go = [Command(50.0 * i, i, 0.025 * i, False, "PATROL", "cruise") for i in range(6)]
    later = [Command(c.t_ms + 0.07, c.frame_id, c.speed_mps, c.stop, c.mode, c.reason) for c in go]
    assert diff(Outputs(commands=go), Outputs(commands=later)).commands.identical
    changed = [*later[:3], Command(150.0, 3, 0.0, True, "PATROL", "perception_stale"), *later[4:], later[-1]]
    d = diff(Outputs(commands=go), Outputs(commands=changed)).commands
    assert (d.same, d.changed, d.added, d.removed) == (5, 1, 1, 0)
    assert "-> frame 3 STOP PATROL (perception_stale)" in d.examples[0]


def test_a_report_can_be_the_same_while_its_writes_are_not():
    rid = "468d9e7e-e76b-5595-bd50-b034b6486390"
    run = [ReportWrite(7, rid, True, "missing_cap", 0.58), ReportWrite(9, rid, False, "missing_cap", 0.86)]
    replay = [ReportWrite(6, rid, True, "missing_cap", 0.55), ReportWrite(7, rid, False, "missing_cap", 0.60),
              ReportWrite(9, rid, False, "missing_cap", 0.87)]  # fmt: skip
    d = diff(Outputs(reports=run), Outputs(reports=replay))
    assert d.reports.identical and not d.writes.identical
    assert d.changed_stages() == ["writes"]
    strict = diff(Outputs(reports=run), Outputs(reports=replay), Tolerances(confidence=0.0))
    assert strict.reports.changed == 1
    assert "0.860 (frames 7-9, 2 writes) -> missing_cap 0.870 (frames 6-9, 3 writes)" in strict.reports.examples[0]


def test_a_consistent_track_renumbering_is_the_same_and_a_split_track_is_not():
    run = Outputs(detections={f: [moved(CAP, dx=10.0 * f), INSULATOR] for f in range(4)})
    renumbered = Outputs(
        detections={f: [moved(CAP, dx=10.0 * f, track=7), moved(INSULATOR, track=2)] for f in range(4)}
    )
    d = diff(run, renumbered).detections
    assert d.identical and (d.same, d.changed) == (8, 0)
    assert d.renumbered == [
        "track 1 is track 2 in the replay (renumbered)",
        "track 2 is track 7 in the replay (renumbered)",
    ]
    assert "all the same (2 renumbered)" in diff(run, renumbered).format()
    strict = diff(run, renumbered, Tolerances(renumbering=False)).detections
    assert strict.changed == 8 and not strict.renumbered and "track 2 -> 7" in strict.examples[0]
    # the cap's track splits in two: its last frame does not follow the mapping (2 -> 7)
    split = Outputs(detections={f: [moved(CAP, dx=10.0 * f, track=7 if f < 3 else 8), INSULATOR] for f in range(4)})
    d = diff(run, split).detections
    assert (d.same, d.changed) == (7, 1)
    assert d.examples == ["frame 3: missing_cap 0.80 #2 [130,100,160,130] changed (track 2 -> 8 (elsewhere 7))"]
    # a box tracked on one side only is a change, whatever the numbering
    untracked = Outputs(
        detections={f: [moved(CAP, dx=10.0 * f, track=-1 if f == 0 else 2), INSULATOR] for f in range(4)}
    )
    assert diff(run, untracked).detections.changed == 1


def defect(rid: str, track: int, *, name: str = "missing_cap", dx: float = 0.0, first: int = 30, best: float = 0.8,
           last: int = 39) -> Outputs:  # fmt: skip
    """A defect track moving 10 px a frame over frames first..last, and its report's writes as the reporter
    makes them: created on the second frame, a new best (the evidence) on the fourth, closed on the last."""
    frames = range(first, last + 1)
    scores = {f: best if f == first + 3 else 0.6 for f in frames}
    x = {f: 100.0 + dx + 10.0 * (f - first) for f in frames}
    return Outputs(
        detections={f: [Box(name, scores[f], track, (x[f], 100.0, x[f] + 30.0, 130.0))] for f in frames},
        reports=[
            ReportWrite(first + 1, rid, True, name, 0.6),
            ReportWrite(first + 3, rid, False, name, best),
            ReportWrite(last, rid, False, name, best),
        ],
    )


def together(*outputs: Outputs) -> Outputs:
    """Several defects in one run: their boxes frame by frame, their writes in frame order."""
    out = Outputs()
    for o in outputs:
        for fid, boxes in o.detections.items():
            out.detections.setdefault(fid, []).extend(boxes)
    out.reports = sorted((w for o in outputs for w in o.reports), key=lambda w: w.frame_id)
    return out


def test_a_renumbered_track_gives_the_same_report_under_another_id():
    """Scenario: re-run perception numbers the track 6 where the run had 7, so the report's id differs; the
    replay's frames a little later and its confidence a little higher. The same report, said as an id change."""
    run = defect("399c9a90-aaaa", 7, first=30, best=0.635)
    replay = defect("8fd205bf-bbbb", 6, first=31, best=0.656, dx=10.0)  # the same boxes, from a frame later
    d = diff(run, replay)
    assert d.reports.identical and d.reports.same == 1 and not d.reports.examples
    assert d.report_pairs == {"399c9a90-aaaa": "8fd205bf-bbbb"}
    (note,) = d.reports.renumbered
    assert note.startswith("same report, id 399c9a90 -> 8fd205bf (track renumbered): missing_cap 0.635")
    assert "reports    1 recorded, 1 replayed: all the same (1 renumbered)" in d.format()
    assert "first/last frame ± 5, evidence IoU >= 0.5; best confidence ± 0.05" in d.format()
    # the writes, compared through the pairing: the same report, written a frame later
    assert d.writes.same == 1 and "report 8fd205bf" in d.writes.examples[0]
    same_frames = diff(run, defect("8fd205bf-bbbb", 6, best=0.656))
    assert same_frames.writes.identical and same_frames.identical
    assert json.loads(json.dumps(same_frames.to_json()))["report_pairs"] == {"399c9a90-aaaa": "8fd205bf-bbbb"}
    # held to ids (the process-replay references): the same report, but its id changed
    strict = diff(run, defect("8fd205bf-bbbb", 6, best=0.656), Tolerances(renumbering=False))
    assert strict.reports.changed == 1 and "id 399c9a90 -> 8fd205bf (track renumbered)" in strict.reports.examples[0]
    assert not strict.writes.identical


def test_two_defects_pair_by_what_they_are_even_when_their_numbers_cross():
    """The run's track 3 is the replay's track 4, and the replay's track 3 is the run's track 2: same ids on
    different defects must not pair."""
    run = together(defect("r2", 2), defect("r3", 3, dx=200.0, best=0.7))
    replay = together(defect("r3", 3, best=0.81), defect("r4", 4, dx=200.0, best=0.72))
    d = diff(run, replay)
    assert d.report_pairs == {"r2": "r3", "r3": "r4"} and d.reports.identical and len(d.reports.renumbered) == 2
    assert d.writes.identical


@pytest.mark.parametrize(
    "replay",
    [
        defect("r9", 9, name="broken_disc"),  # another class
        defect("r9", 9, dx=120.0),  # a box far from the run's
        defect("r9", 9, first=36),  # first frame 6 later (beyond 5)
        defect("r9", 9, last=45),  # last frame 6 later
    ],
    ids=["other-class", "far-box", "first-frame-far", "last-frame-far"],
)
def test_a_report_of_something_else_does_not_pair(replay):
    d = diff(defect("r1", 1), replay)
    assert (d.reports.same, d.reports.changed, d.reports.added, d.reports.removed) == (0, 0, 1, 1)
    assert d.report_pairs == {} and d.changed_stages() == ["detections", "reports", "writes"]
    assert d.reports.examples[0].startswith("removed report r1") and d.reports.examples[1].startswith("added report r9")


def test_a_paired_report_whose_confidence_moved_beyond_tolerance_is_changed():
    d = diff(defect("r1", 1, best=0.80), defect("r2", 2, best=0.90))
    assert (d.reports.same, d.reports.changed, d.reports.added, d.reports.removed) == (0, 1, 0, 0)
    assert d.report_pairs == {"r1": "r2"}
    assert d.reports.examples == [
        "report r1: missing_cap 0.800 (frames 31-39, 3 writes) -> missing_cap 0.900 (frames 31-39, 3 writes): "
        "confidence 0.800 -> 0.900"
    ]
    assert diff(defect("r1", 1, best=0.80), defect("r2", 2, best=0.84)).reports.identical  # within ± 0.05


def test_a_report_created_later_by_the_same_track_is_the_same_within_5_frames():
    """Scenario: `reporter.min_hits` 2 -> 6 creates the report 4 frames later: the same report, other writes.
    6 frames later it is not paired, and the diff says why the replay's report of the same id is not it."""
    d = diff(defect("r1", 1), defect("r1", 1, first=34, dx=40.0))  # the same boxes; created on frame 35
    assert d.report_pairs == {"r1": "r1"} and d.reports.identical and not d.writes.identical
    later = diff(defect("r1", 1), defect("r1", 1, first=36, dx=60.0))
    assert (later.reports.added, later.reports.removed) == (1, 1)
    assert "(not the replay's r1: first frame 31 -> 37, beyond ± 5)" in later.reports.examples[0]


def test_without_detections_only_the_same_id_pairs():
    """A reporter-only comparison has no boxes to judge by: a report pairs with its own id only."""
    run, replay = Outputs(reports=defect("r1", 1).reports), Outputs(reports=defect("r2", 2).reports)
    d = diff(run, replay)
    assert (d.reports.added, d.reports.removed) == (1, 1)
    assert diff(run, Outputs(reports=defect("r1", 1).reports)).report_pairs == {"r1": "r1"}


def test_outputs_survive_json_and_the_diff_is_readable():
    out = Outputs(
        detections={0: [CAP], 4: []},
        commands=[Command(1.5, 0, 0.0, True, "WAIT", "no telemetry")],
        reports=[ReportWrite(0, "r", True, "missing_cap", 0.5)],
    )
    back = Outputs.from_json(json.loads(json.dumps(out.to_json())))
    d = diff(out, back)
    assert d.identical and back.detections[4] == [] and back.commands == out.commands
    text = d.format()
    assert text.splitlines()[0].startswith("detections 1 recorded, 1 replayed: all the same")
    assert json.loads(json.dumps(d.to_json()))["identical"] is True
    assert (
        diff(out, Outputs())
        .format(only=["commands"], before="expected")
        .startswith("commands   1 expected, 0 replayed: 0 same, 0 changed, 0 added, 1 removed")
    )
