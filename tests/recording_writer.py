"""A process that records frames until it is killed, for tests/test_recording.py's kill -9 test.

`python -m tests.recording_writer DIR`: records 64x48 frames (gray level = frame id % 256) and their
detections through `gridscout.edge.recording.Recorder` into DIR, as fast as it can, with 20 ms chunks.
Each time a chunk has reached the file it prints how many messages the file then holds, so the test
knows what a reader must recover however the kill falls.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from gridscout.edge.recording.policy import RecorderSettings
from gridscout.edge.recording.recorder import Recorder
from gridscout.edge.runtime.messages import DetectionBox, FrameDetections, FrameMeta

SETTINGS = RecorderSettings(
    segment_max_s=3600.0,
    segment_max_mb=1024.0,
    chunk_max_s=0.02,
    chunk_max_kb=64.0,
    fsync=False,
    jpeg_quality=80,
    max_total_mb=1024.0,
    reserve_mb=0.0,
)


def frame(i: int) -> tuple[FrameMeta, np.ndarray, FrameDetections]:
    now = time.monotonic_ns()
    wall = time.time_ns()
    meta = FrameMeta(
        t_mono_ns=now, frame_id=i, t_capture_mono_ns=now, t_capture_wall_ns=wall, width=64, height=48,
        source_name="test", name=f"test#{i}", t_source_s=i / 10,
    )  # fmt: skip
    box = DetectionBox(4.0, 5.0, 30.0, 40.0, 0.8, "missing_cap", 1, True)
    det = FrameDetections(
        t_mono_ns=now + 1, frame_id=i, t_capture_mono_ns=now, t_capture_wall_ns=wall, t_source_s=i / 10,
        width=64, height=48, boxes=(box,), infer_ms=1.0, model_name="m", model_sha256="0" * 64,
    )  # fmt: skip
    return meta, np.full((48, 64, 3), i % 256, np.uint8), det


def main() -> None:
    recorder = Recorder(Path(sys.argv[1]), SETTINGS, run_id="killtest")
    chunks = 0
    i = 0
    while True:
        meta, pixels, det = frame(i)
        recorder.record("frames", meta, pixels)
        recorder.record("detections", det)
        i += 1
        segment = recorder.segment
        assert segment is not None, recorder.last_error
        if segment.chunks != chunks:
            chunks = segment.chunks
            print(segment.written_messages, flush=True)


if __name__ == "__main__":
    main()
