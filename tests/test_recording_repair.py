"""Torn segments (a crash before the footer) made whole, so the stock `mcap` reader opens them."""

from __future__ import annotations

import time

import numpy as np
import pytest
from mcap.reader import make_reader

from gridscout.edge.recording.policy import RecorderSettings
from gridscout.edge.recording.recorder import Recorder
from gridscout.edge.recording.repair import is_torn, repair_torn
from gridscout.edge.runtime.messages import FrameMeta
from gridscout.hardware.camera import open_source

SETTINGS = RecorderSettings(
    segment_max_s=3600.0, segment_max_mb=1024.0, chunk_max_s=10.0, chunk_max_kb=2.0, fsync=False, jpeg_quality=90,
    max_total_mb=1024.0, reserve_mb=0.0,
)  # fmt: skip


def _record(directory, n: int, *, close: bool):
    rec = Recorder(directory, SETTINGS, run_id="crash", metadata={"source": "test"})
    for i in range(n):
        meta = FrameMeta(
            t_mono_ns=time.monotonic_ns(), frame_id=i, t_capture_mono_ns=time.monotonic_ns(),
            t_capture_wall_ns=time.time_ns(), width=64, height=48, source_name="cam", name=f"cam#{i}",
            t_source_s=i / 10,
        )  # fmt: skip
        rec.record("frames", meta, np.full((48, 64, 3), 10 + 7 * i, np.uint8))
    if close:
        rec.close()
        return rec.finished[0]
    return rec.segment.path  # as a kill -9 leaves it: the chunks written so far, no footer


def _stock_messages(path) -> int:
    with open(path, "rb") as f:
        reader = make_reader(f)
        return sum(1 for _ in reader.iter_messages())


def test_a_torn_segment_is_made_whole_and_keeps_every_readable_message(tmp_path):
    path = _record(tmp_path, 20, close=False)
    with open(path, "ab") as f:
        f.write(b"\x06" + (1 << 40).to_bytes(8, "little") + b"half a chunk")  # the chunk being written at the crash
    assert is_torn(path)
    with pytest.raises(Exception):  # noqa: B017 - what the stock reader raises on it varies
        _stock_messages(path)
    (repair,) = repair_torn(tmp_path)
    assert repair.path == path and repair.messages > 0 and not is_torn(path)
    assert _stock_messages(path) == repair.messages
    with open(path, "rb") as f:
        reader = make_reader(f)
        assert reader.get_summary() is not None
        (meta,) = [m for m in reader.iter_metadata() if m.name == "gridscout"]
    assert meta.metadata["source"] == "test" and "repaired_from" in meta.metadata  # kept, and marked
    frames = list(open_source(path))  # and the camera source replays it
    assert len(frames) > 0 and abs(int(frames[-1].image.mean()) - (10 + 7 * (len(frames) - 1))) <= 2


def test_a_finished_segment_and_the_one_being_written_are_left_alone(tmp_path):
    done = _record(tmp_path / "a", 5, close=True)
    before = done.read_bytes()
    assert not is_torn(done) and repair_torn(done.parent) == [] and done.read_bytes() == before
    open_one = _record(tmp_path / "b", 5, close=False)
    assert is_torn(open_one) and repair_torn(open_one.parent, keep=open_one) == []
