"""A reporter restarted after a crash catches up from perception's journal: the defects published while it was down
are stored, none twice, and the store ends as an undisturbed run's (same reports, classes, confidences and best
frames); evidence whose frames went with the process is taken from the next frame that shows the defect, or from
the recording. A real store on disk, the stage's own clock, a real journal file, a real recorder's segment."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from gridscout.edge.config import Config
from gridscout.edge.daemons.perception_journal import JournalEntry, PerceptionJournal, read_journal
from gridscout.edge.daemons.reporterd import ReporterStage
from gridscout.edge.recording.frame_images import find_frame_images
from gridscout.edge.recording.recorder import Recorder
from gridscout.edge.reports.store import ReportStore
from gridscout.edge.runtime.messages import DetectionBox, FrameDetections, FrameMeta

CONFIG = Config().reporter.model_dump()
#: the frames' capture clock (UTC ns), which the recording's segment names and image stamps follow
WALL0 = 1_700_000_000_000_000_000
W, H = 320, 240
FRAMES = 120
#: (track id, class, first frame, last frame): one defect before the crash, one across it, one wholly inside the
#: outage (the one a restarted reporter used to lose), two first seen in it and still in view after, one after
DEFECTS = [(1, "missing_cap", 5, 30), (2, "broken_disc", 35, 70), (3, "flashover", 48, 58), (4, "missing_cap", 90, 110),
           (5, "broken_disc", 50, 80), (6, "missing_cap", 56, 66)]  # fmt: skip
#: the reporter is killed after this frame and restarts once perception has published this one
KILLED_AFTER, BACK_AT = 40, 62


def score(track: int, first: int, frame_id: int) -> float:
    """Rising and falling with the frame; track 5's surest frame is its first (in the outage), so no frame after the
    restart beats it: only the rule that a report without evidence takes the next frame gives it one."""
    if track == 5:
        return round(0.9 - 0.005 * (frame_id - first), 4)
    if track == 6:  # the first frame after the restart (its stand-in evidence) a little surer than the outage's best,
        # the next surer than that best by the step but not the stand-in: once lost (sim_tests' reporter kill, in CI)
        return {BACK_AT + 1: 0.61, BACK_AT + 2: 0.625}.get(frame_id, 0.6)
    return round(0.5 + 0.3 * math.sin(frame_id / 3 + track), 4)


def detections(frame_id: int) -> FrameDetections:
    """Frame `frame_id` at 10 fps, with the boxes of the defects in view."""
    boxes = tuple(
        DetectionBox(10.0 * track, 20.0, 10.0 * track + 8, 28.0, score(track, first, frame_id), name, track, True)
        for track, name, first, last in DEFECTS
        if first <= frame_id <= last
    )
    t_ns = 1_000_000_000 + frame_id * 100_000_000
    return FrameDetections(
        t_mono_ns=t_ns, frame_id=frame_id, t_capture_mono_ns=t_ns, t_capture_wall_ns=WALL0 + t_ns,
        t_source_s=frame_id / 10, width=W, height=H, boxes=boxes, infer_ms=1.0, model_name="m", model_sha256="ab" * 32,
    )  # fmt: skip


def stage(store: ReportStore, *, replay: bool) -> ReporterStage:
    return ReporterStage(CONFIG, store, run_id="run", replay=replay, emit=lambda _: None)


def frame(frame_id: int) -> tuple[FrameMeta, np.ndarray]:
    det = detections(frame_id)
    meta = FrameMeta(t_mono_ns=det.t_mono_ns, frame_id=frame_id, t_capture_mono_ns=det.t_capture_mono_ns,
                     t_capture_wall_ns=det.t_capture_wall_ns, width=W, height=H, source_name="cam",
                     name=f"cam#{frame_id}", t_source_s=det.t_source_s)  # fmt: skip
    return meta, np.full((H, W, 3), frame_id % 255, np.uint8)


def handle(reporter: ReporterStage, frame_ids: range) -> None:
    """Frames as they come over the bus: the image first, then its detections."""
    for frame_id in frame_ids:
        reporter.take_frame(*frame(frame_id))
        reporter.on_detections(detections(frame_id), detections(frame_id).t_capture_mono_ns)


def record(directory, frame_ids: range) -> Recorder:
    """The recorder's segment of those frames, still being written (each frame's chunk already on disk)."""
    settings = dataclasses.replace(Config().recorder.settings(), chunk_max_kb=1.0, fsync=False)
    recorder = Recorder(directory, settings, run_id="run", wall_ns=lambda: WALL0)
    for frame_id in frame_ids:
        assert recorder.record("frames", *frame(frame_id)), recorder.last_error
        recorder.record("detections", detections(frame_id))
    return recorder


def reports(store: ReportStore) -> dict[str, tuple]:
    return {r.id: (r.track_key, r.class_name, r.confidence, r.frame_id) for r in store.list(0, 1000)}


def undisturbed(tmp_path, *, replay: bool) -> ReportStore:
    store = ReportStore(tmp_path / "undisturbed", device_id="gs-test")
    reporter = stage(store, replay=replay)
    handle(reporter, range(FRAMES))
    reporter.close_all(10**12)
    return store


@pytest.mark.parametrize("replay", [True, False], ids=["replay", "live"])
def test_a_restarted_reporter_stores_what_was_published_while_it_was_down(tmp_path, replay):
    journal = PerceptionJournal(tmp_path)
    for frame_id in range(BACK_AT + 1):  # perception went on while the reporter was down
        journal.append(JournalEntry(detections(frame_id), next_id=5, stats={}))
    with (
        undisturbed(tmp_path, replay=replay) as reference,
        ReportStore(tmp_path / "data", device_id="gs-test") as store,
    ):
        before = stage(store, replay=replay)
        handle(before, range(KILLED_AFTER + 1))  # then kill -9: no close, its memory gone
        after = stage(store, replay=replay)
        stored = store.last_seen_by_track("run")
        writes = after.catch_up([entry.detections for entry in read_journal(journal.path)], stored)
        assert after.caught_up_to == BACK_AT and writes > 0
        handle(after, range(BACK_AT - 5, FRAMES))  # the bus repeats a few frames the journal already had
        after.close_all(10**12)

        assert reports(store) == reports(reference)  # the outage's own defect (track 3) too, none doubled
        outage_only = next(r for r in store.list(0, 1000) if r.track_key.endswith(":3"))
        assert store.evidence(outage_only.id) is None  # its frames are gone with the process that had them
        for report in store.list(0, 1000):  # the others have a frame: from before the crash, or the first after it
            if report.id != outage_only.id:
                assert store.evidence(report.id) is not None, report.track_key
        observations = {r.id: r.observations for r in store.list(0, 1000)}
        wanted = {r.id: r.observations for r in reference.list(0, 1000)}
        assert all(wanted[i] <= observations[i] <= wanted[i] + 1 for i in wanted), (observations, wanted)
        assert set(after.evidence_wanted) == {outage_only.track_key}  # track 5's came from a later frame

        # the recorder ran on: the outage-only defect's best frame is in its segment, and becomes its evidence
        recorder = record(tmp_path / "recordings", range(FRAMES))
        (det, _), seq = after.evidence_wanted[outage_only.track_key], store.latest_seq()
        images = find_frame_images(tmp_path / "recordings", after.wanted_frames())
        assert list(images) == [det.frame_id] and after.take_recorded_evidence(images) == 1
        evidence = store.get(outage_only.id)
        assert store.evidence(outage_only.id) == images[det.frame_id] and evidence.seq > seq  # pulled again
        assert (evidence.observations, evidence.confidence) == (outage_only.observations, outage_only.confidence)
        assert after.evidence_wanted == {} and reports(store) == reports(reference)
        recorder.close()


def test_a_frame_is_found_in_the_recording_by_its_id_and_capture_time_not_its_id_alone(tmp_path):
    """Frame ids start again with each run (and a replay's run id repeats): an image with the wanted id but another
    capture time is some other run's frame, and never becomes evidence."""
    record(tmp_path, range(5)).close()
    t3 = detections(3).t_capture_wall_ns
    assert set(find_frame_images(tmp_path, {3: t3, 4: t3})) == {3}
    assert find_frame_images(tmp_path, {}) == {} and find_frame_images(tmp_path / "none", {3: t3}) == {}


def test_without_a_journal_a_restarted_reporter_goes_on_from_the_bus(tmp_path):
    with ReportStore(tmp_path, device_id="gs-test") as store:
        reporter = stage(store, replay=True)
        assert reporter.catch_up(read_journal(tmp_path / "none.journal"), store.last_seen_by_track("run")) == 0
        assert reporter.caught_up_to == -1
        handle(reporter, range(FRAMES))
        reporter.close_all(10**12)
        assert {r.track_key.split(":")[-1] for r in store.list(0, 1000)} == {str(track) for track, *_ in DEFECTS}
