"""Recordings that a crash tore or a bad disk damaged: a run repairs the torn segments it finds, and a run or
`detect` on a damaged recording reads every intact chunk and then fails, saying how many frames were lost
(both once exited 0 having read 48 of 260 frames)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import cv2
import numpy as np
from mcap.reader import make_reader

from gridscout.edge.defaults import DEMO_FOOTAGE
from gridscout.edge.recording.policy import RecorderSettings
from gridscout.edge.recording.recorder import Recorder
from gridscout.edge.recording.repair import is_torn
from gridscout.edge.runtime.messages import FrameMeta
from tests.test_mcap_source import _chunk_spans

FRAMES = 30
SETTINGS = RecorderSettings(
    segment_max_s=3600.0, segment_max_mb=1024.0, chunk_max_s=10.0, chunk_max_kb=64.0, fsync=False, jpeg_quality=80,
    max_total_mb=1024.0, reserve_mb=0.0,
)  # fmt: skip


def _recording(directory, *, close: bool = True):
    """FRAMES frames of the bundled footage as `gridscout run` records them, several to a chunk."""
    capture = cv2.VideoCapture(str(DEMO_FOOTAGE))
    rec = Recorder(directory, SETTINGS, run_id="footage")
    for i in range(FRAMES):
        ok, image = capture.read()
        assert ok
        meta = FrameMeta(
            t_mono_ns=time.monotonic_ns(), frame_id=i, t_capture_mono_ns=time.monotonic_ns(),
            t_capture_wall_ns=time.time_ns(), width=image.shape[1], height=image.shape[0], source_name="cam",
            name=f"cam#{i}", t_source_s=i / 10,
        )  # fmt: skip
        rec.record("frames", meta, np.ascontiguousarray(image))
    if not close:
        return rec.segment.path
    rec.close()
    return rec.finished[0]


def _damaged(tmp_path):
    path = _recording(tmp_path / "footage")
    data = bytearray(path.read_bytes())
    spans = _chunk_spans(bytes(data))
    assert len(spans) >= 3
    _, end = spans[1]
    data[end - 200 : end - 100] = bytes(100)
    path.write_bytes(bytes(data))
    return path


def _gridscout(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "gridscout.edge.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=240
    )


def test_detect_on_a_damaged_recording_reads_past_the_damage_and_fails_saying_what_was_lost(tmp_path, record_property):
    path = _damaged(tmp_path)
    done = _gridscout("detect", str(path), "--no-progress", "--summary-json", str(tmp_path / "s.json"), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert 0 < summary["frames"] < FRAMES and summary["missing_frames"] == FRAMES - summary["frames"]
    assert f"{summary['frames']} of the {FRAMES} images its index lists can be read" in done.stderr
    record_property(
        "figure", f"one damaged chunk: detect read {summary['frames']} of {FRAMES} frames, exit 1 naming it"
    )


def test_a_run_repairs_a_torn_segment_and_fails_on_a_damaged_source(tmp_path, record_property):
    """The data folder holds a segment a crash tore; the run's source is a recording with a damaged chunk. The
    run repairs the torn segment (the stock reader opens it after), replays every intact frame, and fails."""
    data = tmp_path / "data"
    torn = _recording(data / "recordings", close=False)
    assert is_torn(torn)
    run = _gridscout(
        "run", "--source", str(_damaged(tmp_path)), "--mode", "replay", "--no-api", "--data", str(data),
        "--summary-json", str(tmp_path / "summary.json"), cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert 0 < summary["missing_frames"] < FRAMES
    assert summary["frames"] == FRAMES - summary["missing_frames"]
    assert "could not give" in summary["failures"][0] and "damaged recording" in summary["failures"][0]
    assert summary["recording"]["repaired_segments"] == 1 and "1 torn segments of a crash repaired" in run.stdout
    assert not is_torn(torn)
    with open(torn, "rb") as f:
        kept = sum(1 for _ in make_reader(f).iter_messages())
    assert kept > 0
    record_property(
        "figure",
        f"torn segment repaired at start ({kept} messages, stock reader opens it); run read {summary['frames']} of "
        f"{FRAMES} frames of a damaged source, exit 1 naming it",
    )
