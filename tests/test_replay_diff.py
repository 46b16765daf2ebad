"""The replay diff (edge/offline/replay_diff.py): what counts as the same, changed, added or removed per stage."""

from __future__ import annotations

import json

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
