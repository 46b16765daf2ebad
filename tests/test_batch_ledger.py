"""The pieces of `gridscout batch` a re-run depends on, in-process on real files and a real SQLite store: which items
the SOURCEs name, the done-list's judgement of what is done, a worker's observation log answering as the store, and
an item stored and counted as one step that Ctrl-C cannot split."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest

from gridscout.edge.batch.items import collect_items
from gridscout.edge.batch.ledger import Ledger
from gridscout.edge.batch.observation_log import ObservationLog
from gridscout.edge.batch.run import _ctrl_c_deferred
from gridscout.edge.batch.worker import ItemOutcome
from gridscout.edge.reports.store import ReportObservation, ReportStore


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_sources_name_each_photo_video_and_recording_once_in_order(tmp_path):
    season = tmp_path / "season"
    for name in ("b/DJI_2.JPG", "a/DJI_1.jpg", "a/pass.MP4", "a/run.mcap", "a/notes.txt", "a/.hidden.jpg",
                 ".trash/DJI_9.jpg", "top.png"):  # fmt: skip
        _touch(season / name)
    listing = _touch(tmp_path / "list.txt", b"# a comment\nseason/a/DJI_1.jpg  # again\n\nseason/b\n")
    items = collect_items([str(season), str(listing)])
    assert [(Path(i.path).relative_to(season.resolve()).as_posix(), i.kind) for i in items] == [
        ("top.png", "photo"), ("a/DJI_1.jpg", "photo"), ("a/pass.MP4", "footage"), ("a/run.mcap", "footage"),
        ("b/DJI_2.JPG", "photo"),
    ]  # fmt: skip
    assert items[1].source_key == str((season / "a").resolve())
    with pytest.raises(ValueError, match="a list file inside a list file"):
        collect_items([str(_touch(tmp_path / "outer.txt", b"list.txt\n"))])
    with pytest.raises(ValueError, match="no SOURCE given"):
        collect_items([])


def test_a_done_item_is_skipped_while_its_bytes_are_the_same(tmp_path):
    photo = _touch(tmp_path / "photos" / "DJI_1.JPG", b"first bytes")
    store = ReportStore(tmp_path / "out")
    ledger = Ledger(store.path)
    try:
        (item,) = collect_items([str(photo.parent)])
        done = ItemOutcome(item, sha256=hashlib.sha256(b"first bytes").hexdigest(), frames=1)
        store.write_many([], also=Ledger.mark(done, set()))
        assert ledger.pending([item]) == ([], 1)
        os.utime(photo, ns=(item.mtime_ns + 10**9, item.mtime_ns + 10**9))  # touched: the same bytes
        (touched,) = collect_items([str(photo.parent)])
        assert ledger.pending([touched]) == ([], 1)
        assert ledger.pending([touched]) == ([], 1)  # and again, by its row's new time
        photo.write_bytes(b"other bytes")  # the same size, other content
        (changed,) = collect_items([str(photo.parent)])
        assert ledger.pending([changed]) == ([changed], 0)
        failed = ItemOutcome(changed, error="could not be decoded")
        store.write_many([], also=Ledger.mark(failed, set()))
        assert ledger.pending([changed]) == ([changed], 0)  # a failed item is tried again
    finally:
        ledger.close()
        store.close()


def test_a_workers_log_answers_each_write_as_the_store_does(tmp_path):
    """The worker's log stands in the store's place for `DetectReports` (the reporter's logic reads what each write
    answers): same id, new or not, and best class and confidence so far, write by write."""
    store = ReportStore(tmp_path, device_id="gs-test")
    log = ObservationLog("gs-test")

    def obs(key: str, name: str, conf: float) -> ReportObservation:
        return ReportObservation(track_key=key, class_name=name, confidence=conf, t_wall_ns=1, frame_id=0,
                                 model_name="m", model_sha256="s")  # fmt: skip

    sequence = [obs("t:1", "missing_cap", 0.5), obs("t:1", "broken_disc", 0.7), obs("t:2", "flashover", 0.4),
                obs("t:1", "missing_cap", 0.6), obs("t:2", "flashover", 0.4)]  # fmt: skip
    try:
        for o in sequence:
            in_store, in_log = store.write(o), log.write(o)
            assert (in_log.id, in_log.created, in_log.class_name, in_log.confidence) == (
                in_store.id, in_store.created, in_store.class_name, in_store.confidence,
            )  # fmt: skip
        assert log.observations == sequence
    finally:
        store.close()


def test_a_ctrl_c_while_an_item_is_stored_lands_once_it_is_stored_and_counted():
    """A Ctrl-C between an item's commit and its count would leave the summary saying fewer items are done than a
    re-run skips; held until the step ends, it then stops the batch as before, with the handler put back."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever runs the tests
    steps = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with _ctrl_c_deferred():
                steps.append("stored")
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # Python runs a pending handler within this
                steps.append("counted")
            steps.append("went on after Ctrl-C")
        assert steps == ["stored", "counted"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
