"""A reporter restarted after a crash catches up from perception's journal: the defects published while it was down
are stored, none twice, and the store ends as an undisturbed run's (same reports, classes, confidences and best
frames); only evidence whose frames are gone is taken from the next frame that shows the defect. A real store on
disk, the stage's own clock, a real journal file."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gridscout.edge.config import Config
from gridscout.edge.daemons.perception_journal import JournalEntry, PerceptionJournal, read_journal
from gridscout.edge.daemons.reporterd import ReporterStage
from gridscout.edge.reports.store import ReportStore
from gridscout.edge.runtime.messages import DetectionBox, FrameDetections, FrameMeta

CONFIG = Config().reporter.model_dump()
W, H = 320, 240
FRAMES = 120
#: (track id, class, first frame, last frame): one defect before the crash, one across it, one wholly inside the
#: outage (the one a restarted reporter used to lose), one first seen in it and still in view after, one after
DEFECTS = [(1, "missing_cap", 5, 30), (2, "broken_disc", 35, 70), (3, "flashover", 48, 58), (4, "missing_cap", 90, 110),
           (5, "broken_disc", 50, 80)]  # fmt: skip
#: the reporter is killed after this frame and restarts once perception has published this one
KILLED_AFTER, BACK_AT = 40, 62


def score(track: int, first: int, frame_id: int) -> float:
    """Rising and falling with the frame; track 5's surest frame is its first (in the outage), so no frame after the
    restart beats it: only the rule that a report without evidence takes the next frame gives it one."""
    if track == 5:
        return round(0.9 - 0.005 * (frame_id - first), 4)
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
        t_mono_ns=t_ns, frame_id=frame_id, t_capture_mono_ns=t_ns, t_capture_wall_ns=1_700_000_000_000_000_000 + t_ns,
        t_source_s=frame_id / 10, width=W, height=H, boxes=boxes, infer_ms=1.0, model_name="m", model_sha256="ab" * 32,
    )  # fmt: skip


def stage(store: ReportStore, *, replay: bool) -> ReporterStage:
    return ReporterStage(CONFIG, store, run_id="run", replay=replay, emit=lambda _: None)


def handle(reporter: ReporterStage, frame_ids: range) -> None:
    """Frames as they come over the bus: the image first, then its detections."""
    for frame_id in frame_ids:
        det = detections(frame_id)
        meta = FrameMeta(t_mono_ns=det.t_mono_ns, frame_id=frame_id, t_capture_mono_ns=det.t_capture_mono_ns,
                         t_capture_wall_ns=det.t_capture_wall_ns, width=W, height=H, source_name="cam",
                         name=f"cam#{frame_id}", t_source_s=det.t_source_s)  # fmt: skip
        reporter.take_frame(meta, np.full((H, W, 3), frame_id % 255, np.uint8))
        reporter.on_detections(det, det.t_capture_mono_ns)


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


def test_without_a_journal_a_restarted_reporter_goes_on_from_the_bus(tmp_path):
    with ReportStore(tmp_path, device_id="gs-test") as store:
        reporter = stage(store, replay=True)
        assert reporter.catch_up(read_journal(tmp_path / "none.journal"), store.last_seen_by_track("run")) == 0
        assert reporter.caught_up_to == -1
        handle(reporter, range(FRAMES))
        reporter.close_all(10**12)
        assert {r.track_key.split(":")[-1] for r in store.list(0, 1000)} == {"1", "2", "3", "4", "5"}
