"""bench/bench_recorder.py's pure parts: the overhead and its target, the run order, the recording check.
Nothing here runs the chain or times anything."""

from __future__ import annotations

import math
import time

import pytest

from bench.bench_recorder import (
    REQUIRED_CHANNELS,
    WITH,
    WITHOUT,
    RecordingCheck,
    mode_figures,
    overhead_pct,
    recording_problems,
    scan_recording,
    schedule,
    within_target,
)
from gridscout.control.vehicle import VehicleState, VehicleTelemetry
from gridscout.edge.recording.recorder import Recorder
from tests.recording_writer import SETTINGS, frame


def test_overhead_is_the_share_of_the_rate_lost_and_the_target_holds_both_ways():
    assert overhead_pct(9.5, 10.0) == pytest.approx(5.0)
    assert overhead_pct(10.5, 10.0) == pytest.approx(-5.0)
    assert within_target(overhead_pct(9.51, 10.0)) and within_target(overhead_pct(10.49, 10.0))
    assert not within_target(overhead_pct(9.4, 10.0)) and not within_target(overhead_pct(10.6, 10.0))
    # not measured (a run that processed nothing) is a FAIL, never a PASS
    assert math.isnan(overhead_pct(float("nan"), 10.0)) and math.isnan(overhead_pct(10.0, 0.0))
    assert not within_target(float("nan"))


def test_the_two_configurations_alternate_and_each_round_flips_their_order():
    order = schedule(3, ("live", "replay"))
    assert [c for _, m, c in order if m == "live"] == [WITH, WITHOUT, WITHOUT, WITH, WITH, WITHOUT]
    assert [c for _, m, c in order if m == "replay"] == [WITH, WITHOUT, WITHOUT, WITH, WITH, WITHOUT]
    assert [r for r, _, _ in order] == [0] * 4 + [1] * 4 + [2] * 4


def complete(frames: int = 10) -> RecordingCheck:
    messages = {ch: frames for ch in REQUIRED_CHANNELS}
    return RecordingCheck(segments=1, bytes=1000, messages=messages, span_s=1.0)


def test_the_recording_check_fails_a_missing_empty_partial_or_unclosed_recording():
    assert recording_problems(complete(), 10) == []
    assert recording_problems(RecordingCheck(), 10) == ["no recording written (no .mcap segment, or only empty ones)"]
    assert recording_problems(RecordingCheck(segments=1, bytes=0), 10)
    for channel in REQUIRED_CHANNELS:
        check = complete()
        del check.messages[channel]
        assert f"no messages on {channel}" in recording_problems(check, 10)
    assert recording_problems(complete(frames=5), 10) == ["5 images for 10 frames published"]
    unclosed = complete()
    unclosed.truncated = 1
    assert recording_problems(unclosed, 10) == ["1 segments left without a footer"]
    # with the recorder off, any segment is the problem
    assert recording_problems(RecordingCheck(), 10, enabled=False) == []
    assert recording_problems(complete(), 10, enabled=False)


def test_scan_reads_back_what_a_recorder_wrote(tmp_path):
    recorder = Recorder(tmp_path / "recordings", SETTINGS, run_id="benchtest")
    for i in range(3):
        meta, pixels, det = frame(i)
        recorder.record("frames", meta, pixels)
        recorder.record("detections", det)
    now = time.monotonic_ns()
    recorder.record("telemetry", VehicleTelemetry(now, now, VehicleState.MOVING, True, position_m=1.0, speed_mps=0.5))
    recorder.close()

    check = scan_recording(tmp_path)
    assert check.segments == 1 and check.bytes > 0 and check.truncated == 0
    assert check.messages["/camera/image"] == 3 and check.messages["/bus/telemetry"] == 1
    assert recording_problems(check, 3) == []
    assert recording_problems(check, 4) == ["3 images for 4 frames published"]
    assert scan_recording(tmp_path / "nothing") == RecordingCheck()


def run(rnd: int, mode: str, config: str, fps: float, mb: float = 0.0) -> dict:
    return {
        "round": rnd, "mode": mode, "config": config, "fps": fps, "frames_published": 100,
        "dropped_perception": 0, "dropped_camera": 0, "recorder_cpu_s": 1.0 if config == WITH else float("nan"),
        "recording": {"bytes": int(mb * 1e6)}, "chain_cpu_ms_per_frame": 40.0 + mb,
        "other_cores": 0.5,
    }  # fmt: skip


def test_each_mode_is_judged_on_the_medians_of_its_runs():
    runs = [run(0, "replay", WITH, 19.0, 5.0), run(0, "replay", WITHOUT, 20.0)]
    runs += [run(1, "replay", WITHOUT, 10.0), run(1, "replay", WITH, 20.0, 5.0)]
    runs += [run(2, "replay", WITH, 18.0, 5.0), run(2, "replay", WITHOUT, 21.0)]
    figures = mode_figures(runs, "replay", footage_s=10.0)
    assert figures["fps_with"] == 19.0 and figures["fps_without"] == 20.0
    assert figures["overhead_pct"] == pytest.approx(5.0) and figures["ratio_per_round"] == [0.95, 2.0, 18 / 21]
    assert figures["recorder_cpu_ms_per_frame"] == pytest.approx(10.0) and figures["recording_mb_per_frame"] == 0.05
    assert figures["chain_cpu_added_pct"] == pytest.approx(12.5)
    assert math.isnan(figures["recording_mb_per_min"])  # per minute of footage: live runs only
    assert mode_figures(runs[:2], "live", footage_s=10.0)["ok"] is False  # no live runs: not measured
