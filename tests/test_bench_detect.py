"""bench_detect on a tiny input: it runs end to end, and its premise check catches a replay that misses runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.bench_detect import (
    check_replay_premise,
    frame_breakdown,
    load_frames,
    record_session_runs,
    stage_detectors,
    time_rounds,
)
from bench.common import PREMISE_BROKEN, TARGET_MISSED, PremiseError
from gridscout.edge.defaults import DEFAULT_MODEL, DEMO_FOOTAGE
from gridscout.perception.model_loader import load_model

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def shipped():
    frames, _ = load_frames(str(DEMO_FOOTAGE), 40)  # strings come into view after the first 12
    return load_model(DEFAULT_MODEL, threads=1), frames


def test_the_replay_holds_every_stage_and_a_missed_run_breaks_the_premise(shipped):
    """Scenario: the old bench wrapped the tiled stage one's wrapper, never its detector, and replayed stage two
    alone. Recording at each detector's session and counting again at onnxruntime's own run catches that."""
    model, frames = shipped
    log = record_session_runs(model, frames)
    runs = check_replay_premise(model, frames, log)
    assert runs["stage_one"] == len(frames) and runs.get("stage_two", 0) >= 1
    assert [type(d).__name__ for d in stage_detectors(model)] == ["Detector", "Detector"]
    assert all(not hasattr(d.session, "log") for d in stage_detectors(model))  # the recorder is taken off again
    stage_two_only = [entry for entry in log if entry[1] == 1]
    with pytest.raises(PremiseError, match=r"the recorder saw \d+ on 1: the raw path would not replay them all"):
        check_replay_premise(model, frames, stage_two_only)


def test_the_bench_runs_on_a_few_frames_and_writes_its_figures(tmp_path):
    out = tmp_path / "detect.json"
    command = [sys.executable, str(REPO / "bench" / "bench_detect.py"), "--frames", "4", "--repeats", "1",
               "--photos", "0", "--skip-ultralytics", "--threads", "1", "--json", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode in (0, TARGET_MISSED), done.stderr  # a target may miss on a busy box; the bench ran
    record = json.loads(out.read_text())
    assert record["session_runs"]["stage_one"] == 4 and record["machine"]["threads"] == 1
    assert "load_average_end" in record["machine"] and record["machine"]["onnxruntime"]
    assert [t["what"] for t in record["targets"]] == ["pipeline_vs_raw"]
    assert "machine: " in done.stdout and "ultralytics: skipped" in done.stdout
    breakdown = record["breakdown"]
    assert sum(f["frames"] for f in breakdown["by_crops"].values()) == 4 and breakdown["stage_one_run_ms"] > 0
    assert "where a frame's time goes" in done.stdout and "frames searching 0 crop(s):" in done.stdout


def test_the_breakdown_groups_each_frames_runs_by_the_crops_it_searched():
    """Three frames: stage one alone; stage one and two crops; stage one and one crop (times in seconds)."""
    log = [(None, 0, {}), (None, 0, {}), (None, 1, {}), (None, 1, {}), (None, 0, {}), (None, 1, {})]
    seconds = [0.020, 0.022, 0.010, 0.012, 0.024, 0.011]
    b = frame_breakdown(log, [0, 1, 4], seconds)
    assert b["stage_one_run_ms"] == 22.0 and b["stage_two_run_ms"] == 11.0
    assert b["by_crops"] == {
        0: {"frames": 1, "median_ms": 20.0, "max_ms": 20.0},
        1: {"frames": 1, "median_ms": 35.0, "max_ms": 35.0},
        2: {"frames": 1, "median_ms": 44.0, "max_ms": 44.0},
    }
    assert b["frame_ms_median"] == 35.0


def test_the_pipeline_records_where_each_frame_starts(shipped):
    model, frames = shipped
    starts: list[int] = []
    log = record_session_runs(model, frames[:5], starts)
    assert len(starts) == 5 and starts[0] == 0 and all(log[i][1] == 0 for i in starts)  # each frame opens on stage one


def test_a_missing_comparison_is_an_error_unless_asked_to_skip(tmp_path):
    """Without ultralytics importable, the bench refuses to print a table that silently lacks its column."""
    blocker = tmp_path / "ultralytics.py"
    blocker.write_text("raise ImportError('not installed here')\n")
    command = [sys.executable, str(REPO / "bench" / "bench_detect.py"), "--frames", "2", "--repeats", "1",
               "--photos", "0", "--threads", "1"]  # fmt: skip
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == PREMISE_BROKEN
    assert done.stderr.strip().splitlines()[-1] == (
        "bench_detect: premise broken: ultralytics is not installed (pip install -e '.[train]'), or pass "
        "--skip-ultralytics"
    )


def test_each_round_times_every_path_once_and_reverses_the_order_every_other_round():
    """The order alternates, so a path timed first is not always the one the machine's drift favours; each round
    keeps its own figures, from which the ratios are taken."""
    calls: list[str] = []

    def timer(name: str, seconds: float):
        def run() -> float:
            calls.append(name)
            return seconds

        return run

    rounds = time_rounds({"pipeline": timer("pipeline", 2.0), "raw": timer("raw", 1.0)}, 10, 3)
    assert calls == ["pipeline", "raw", "raw", "pipeline", "pipeline", "raw"]
    assert rounds == [{"pipeline": 5.0, "raw": 10.0}] * 3
