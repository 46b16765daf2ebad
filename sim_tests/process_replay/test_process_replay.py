"""Process replay: each stage re-run on the reference recordings' inputs gives the expected outputs.

Tolerances (`refs.TOLERANCES`): perception boxes IoU >= 0.95, scores within 0.02, track ids exact (no
renumbering); control and the reporter exact (report ids too). A failure prints what changed (counts and
the first examples). When a change is intended: `python -m sim_tests.process_replay.refs --update-refs`
(or run these tests with GRIDSCOUT_UPDATE_REFS=1), and commit the new expected outputs with the change.
"""

from __future__ import annotations

import json

import pytest

from sim_tests.process_replay import refs

CASES = [(scene, stage) for scene in refs.SCENES for stage in refs.STAGES]


@pytest.mark.parametrize(("scene", "stage"), CASES, ids=[f"{s.name}-{stage}" for s, stage in CASES])
def test_a_stage_on_recorded_inputs_gives_the_expected_outputs(tmp_path, scene, stage):
    if refs.updating():
        refs.update(scene)
    d = refs.compare(scene, stage, tmp_path / "out")
    model = json.loads(refs.expected_path(scene).read_text())["model_sha256"]
    hint = "\n(intended? python -m sim_tests.process_replay.refs --update-refs, and commit the expected outputs)"
    why = f"{scene.name}: {stage} changed (expected outputs made with model {model[:12]}):\n{refs.describe(d, stage)}"
    assert d.identical, why + hint


def test_the_references_exercise_what_they_are_for():
    """The expected outputs are worth comparing: detections with a confirmed defect track, a report, a hold,
    and live mode's triggered steps (a reference that lost them would pass while testing little)."""
    defect = json.loads(refs.expected_path(refs.SCENES[0]).read_text())["stages"]
    assert any(box[0] == "missing_cap" and box[2] >= 0 for boxes in defect["perception"]["detections"].values()
               for box in boxes)  # fmt: skip
    assert {r["created"] for r in defect["reporter"]["reports"]} == {True, False}
    assert "HOLD" in {c["mode"] for c in defect["control"]["commands"]}
    live = refs.load_recording(refs.ref_path(refs.SCENES[1]))
    assert live.mode == "live" and len(live.frames) == len(live.detections) > 10
    assert sum(p.stat().st_size for p in refs.REFS.iterdir()) < 600 * 1024  # the checked-in references stay small


@pytest.mark.parametrize(
    ("stage", "override", "expect"),
    [
        ("perception", {"perception.conf": 0.6}, "removed"),
        ("control", {"control.safety.max_accel_mps2": 0.25}, "0.013 m/s"),
        ("control", {"control.safety.perception_timeout_s": 5.0}, "perception_stale"),
        ("reporter", {"reporter.min_hits": 6}, "report"),
    ],
    ids=["perception-threshold", "control-ramp", "control-gate-timeout", "reporter-min-hits"],
)
def test_the_comparison_fails_and_says_what_changed_when_a_stage_changes(tmp_path, stage, override, expect):
    """Scenario: a threshold moved in one stage. The stage's comparison is no longer identical, and the diff
    names the stage and shows the changed outputs, so the failure says what happened."""
    scene = refs.SCENES[0]
    d = refs.compare(scene, stage, tmp_path / "out", override)
    assert not d.identical
    changed = {"perception": "detections", "control": "commands", "reporter": "writes"}[stage]
    assert changed in d.changed_stages()
    section = getattr(d, changed)
    assert section.examples and any(expect in e for e in section.examples), refs.describe(d, stage)


def test_the_comparison_is_deterministic(tmp_path):
    """The same recording, model and config give the same outputs twice (perception included)."""
    scene = refs.SCENES[0]
    first = refs.replay(scene, "perception", tmp_path / "a").outputs
    second = refs.replay(scene, "perception", tmp_path / "b").outputs
    assert first.to_json() == second.to_json()
