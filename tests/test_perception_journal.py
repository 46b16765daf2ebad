"""Perception's journal: written per frame, read back after a kill, torn or damaged lines handled."""

from __future__ import annotations

import pytest

from gridscout.edge.daemons.perception_journal import JOURNAL_FILE, JournalEntry, JournalError, PerceptionJournal
from gridscout.edge.runtime.messages import DetectionBox, FrameDetections


def entry(frame_id: int, epoch: int = 0) -> JournalEntry:
    box = DetectionBox(1.0, 2.0, 30.0, 40.0, 0.8, "missing_cap", frame_id // 3, True)
    detections = FrameDetections(
        t_mono_ns=frame_id, frame_id=frame_id, t_capture_mono_ns=frame_id, t_capture_wall_ns=frame_id,
        t_source_s=frame_id / 10, width=640, height=480, boxes=(box,), infer_ms=5.0, model_name="m",
        model_sha256="s", epoch=epoch,
    )  # fmt: skip
    return JournalEntry(detections, next_id=frame_id // 3 + 1, stats={"frames": float(frame_id + 1)})


def test_what_one_process_wrote_the_next_reads_back(tmp_path):
    writer = PerceptionJournal(tmp_path)
    for k in range(5):
        writer.append(entry(k, epoch=2))
    read = PerceptionJournal(tmp_path).load()
    assert read == [entry(k, epoch=2) for k in range(5)]


def test_it_keeps_at_least_the_last_frames_and_no_more_than_twice_that(tmp_path):
    writer = PerceptionJournal(tmp_path, keep=10)
    for k in range(57):
        writer.append(entry(k))
        assert len((tmp_path / JOURNAL_FILE).read_bytes().splitlines()) <= 20
    assert [e.detections.frame_id for e in PerceptionJournal(tmp_path, keep=10).load()] == list(range(47, 57))


def test_a_line_torn_by_the_kill_is_dropped_and_the_journal_goes_on(tmp_path):
    writer = PerceptionJournal(tmp_path)
    for k in range(4):
        writer.append(entry(k))
    path = tmp_path / JOURNAL_FILE
    path.write_bytes(path.read_bytes()[:-25])  # killed while writing frame 3's line
    restarted = PerceptionJournal(tmp_path)
    assert [e.detections.frame_id for e in restarted.load()] == [0, 1, 2]
    restarted.append(entry(3))
    assert [e.detections.frame_id for e in PerceptionJournal(tmp_path).load()] == [0, 1, 2, 3]


def test_damage_before_the_last_line_is_an_error_naming_the_line(tmp_path):
    writer = PerceptionJournal(tmp_path)
    for k in range(4):
        writer.append(entry(k))
    path = tmp_path / JOURNAL_FILE
    lines = path.read_bytes().splitlines()
    lines[1] = lines[1][:10]
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(JournalError, match="line 2 of 4"):
        PerceptionJournal(tmp_path).load()


def test_no_journal_is_nothing_to_resume_and_reset_empties_it(tmp_path):
    journal = PerceptionJournal(tmp_path)
    assert journal.load() == []
    journal.append(entry(0))
    journal.reset()
    assert not (tmp_path / JOURNAL_FILE).exists() and PerceptionJournal(tmp_path).load() == []
