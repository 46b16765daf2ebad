"""Each bench under bench/ runs end to end on a tiny input and writes figures that hold something, so a bench
that breaks fails CI (bench_detect has its own, in test_bench_detect.py).

Exit codes are bench/common.py's: 0 every target met, 1 a target missed (the figures are still written), 2 the
premise broke. A target may miss on a busy machine, and the bench still ran: 0 and 1 both pass here, and no
timing is asserted. The chain benches and the drone flight take a while: they are marked slow (`pytest -m slow`).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import PREMISE_BROKEN, TARGET_MISSED

REPO = Path(__file__).resolve().parent.parent


def run_bench(
    script: str, *args: str, out: Path, timeout: float, allowed: tuple[int, ...] = (0, TARGET_MISSED)
) -> tuple[subprocess.CompletedProcess, object]:
    """Run bench/<script> with `args` and --json `out`; the process and the JSON it wrote."""
    command = [sys.executable, str(REPO / "bench" / script), *args, "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    # 1: a target missed on a loaded machine; the bench still measured and wrote its figures
    assert done.returncode in allowed, done.stderr[-2000:]
    # an uncaught exception exits 1 too: tell it from a missed target
    assert "Traceback (most recent call last)" not in done.stderr, done.stderr[-2000:]
    assert out.exists(), done.stderr[-2000:]
    return done, json.loads(out.read_text())


def finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def assert_targets(targets, names: set[str] | None = None) -> None:
    """A non-empty list of {what, measured, limit, ok}; `names` among the whats."""
    assert isinstance(targets, list) and targets
    for t in targets:
        assert set(t) == {"what", "measured", "limit", "ok"}, t
        assert t["ok"] in (True, False, None), t
    assert (names or set()) <= {t["what"] for t in targets}


def test_bench_bus_times_every_method_over_both_transports(tmp_path):
    _, record = run_bench("bench_bus.py", "--frames", "20", "--repeats", "1", out=tmp_path / "bus.json", timeout=240)
    assert set(record["results"]) == {"ipc", "tcp"}
    for by_method in record["results"].values():
        assert set(by_method) == {"gridscout", "naive", "pickle"}
        for figures in by_method.values():
            assert finite(figures["lockstep"]) and figures["lockstep"] > 0
            assert finite(figures["stream"]) and figures["stream"] > 0
    assert all(finite(v) and v > 0 for v in record["floor_us"].values()) and set(record["floor_us"]) == {"ipc", "tcp"}


def test_bench_footprint_sizes_the_installed_runtime_closure_offline(tmp_path):
    _, record = run_bench("bench_footprint.py", "--closure", out=tmp_path / "footprint.json", timeout=120)
    assert finite(record["total_mb"]) and record["total_mb"] > 0
    assert {"numpy", "onnxruntime"} <= set(record["distributions"])  # the closure was walked, not empty
    assert_targets(record["targets"], {"runtime site-packages MB", "torch, scipy, matplotlib installed"})


def test_bench_tracker_offline_measures_what_build_trackers_holds_or_says_what_is_missing(tmp_path):
    """On a fresh clone build/trackers/ is empty and --offline installs nothing: each candidate's row says so.
    Where the candidate is installed, its figures are there instead. Writes its cache under build/bench_tracker/."""
    footage = "synthetic://drone?seed=1&frames=20&defect_rate=0.8"
    done, rows = run_bench(
        "bench_tracker.py", "--offline", "--only", "trackers", "--footage", footage,
        out=tmp_path / "tracker.json", timeout=600, allowed=(0, PREMISE_BROKEN),
    )  # fmt: skip
    assert [r["name"] for r in rows] == ["trackers"]
    (row,) = rows
    if "error" in row["size"]:  # measured nothing: it says what is missing, and exits 2
        assert row["size"]["error"] == "not installed in build/trackers/trackers (--offline)"
        assert "ERROR size: not installed in build/trackers/trackers (--offline)" in done.stdout
        assert done.returncode == PREMISE_BROKEN
        assert done.stderr.strip().splitlines()[-1] == (
            "bench_tracker: premise broken: no candidate could be measured (see the notes above)"
        )
    else:
        assert finite(row["size"]["total_mb"]) and row["size"]["total_mb"] > 0
        assert finite(row["rss"]["import_mb"]), row["rss"]
        for tag in ("model", "jitter"):
            assert set(row[tag]["classes"]) == {"insulator", "missing_cap"}, row[tag]
    assert "Quality on jittered truth" in done.stdout


def test_bench_crop_budget_times_each_budget_and_says_when_each_defect_is_confirmed(tmp_path):
    """The first 70 demo frames hold one rendered missing cap (frames 46-64): searched whole and at the default
    budget, both confirm it while it is in view; a budget of 1 searches at most one string a frame."""
    _, record = run_bench(
        "bench_crop_budget.py", "--frames", "70", "--rounds", "1", "--budgets", "0", "1", "2",
        out=tmp_path / "crop_budget.json", timeout=300,
    )  # fmt: skip
    assert record["frames"] == 70 and record["default_budget"] == 2
    assert set(record["budgets"]) == {"0", "1", "2"}
    for budget in record["budgets"].values():
        assert finite(budget["step_ms_p50"]) and budget["step_ms_p99"] >= budget["step_ms_p50"] > 0
        [defect] = budget["defects"]
        assert defect["span"] == [46, 64]
        assert defect["confirmed_at"] is not None and 46 <= defect["confirmed_at"] <= 66
    assert record["budgets"]["0"]["deferred"] == 0
    offered = sum(int(n) * count for n, count in record["strings_per_frame"].items())
    searched_at_one = 70 - record["strings_per_frame"].get("0", 0)
    assert record["budgets"]["1"]["deferred"] == offered - searched_at_one
    assert_targets(record["targets"], {"false confirmations beyond the unbounded search's"})


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bench_follow_tracking_flies_once_and_judges_the_tracks(tmp_path):
    _, rows = run_bench(
        "bench_follow_tracking.py", "--speeds", "10", "--no-hog", out=tmp_path / "follow.json", timeout=840
    )
    (row,) = rows
    assert row["speed_mps"] == 10.0 and row["hog"] is False
    assert isinstance(row["frames"], int) and row["frames"] > 0
    assert row["shipped"]["defects"] > 0  # defects in view: the flight went down the line
    for tracker in ("shipped", "plain_iou"):
        assert set(row[tracker]) == {"defects", "untracked", "tracks_per_defect", "id_switches"}
    assert isinstance(row["false_reports"], int)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_chain_runs_one_live_chain_and_two_bracketed_replays_and_judges_its_targets(tmp_path):
    _, record = run_bench(
        "bench_chain.py", "--frames", "20", "--repeats", "1", "--no-busy", "--no-burn", "--replay-rounds", "2",
        out=tmp_path / "chain.json", timeout=540,
    )  # fmt: skip
    raw = record["raw_detector"]
    assert raw["frames"] == 20 and finite(raw["fps"]) and raw["fps"] > 0
    assert set(record["runs"]) == {"live", "replay"}
    live = record["runs"]["live"]
    assert live["returncode"] == 0 and live["detections"] > 0 and live["commands_from_frames"] > 0
    assert finite(live["fps"]) and finite(live["cmd_latency_ms_p99"]) and finite(live["jitter_ms_p99"])
    # where the chain's own time goes, hop by hop, over the frame-tied commands it could follow end to end
    assert set(live["hops_ms"]) == {"perception", "control", "vehicle"}
    # what the host took while the chain ran: a jitter no scheduling inside the machine can prevent shows here
    assert live["steal_pct"] is not None and 0 <= live["steal_pct"] <= 100
    assert all(h["n"] > 0 and finite(h["p50"]) and h["p50"] >= 0 for h in live["hops_ms"].values())
    assert_targets(
        record["targets"],
        {"capture→command p99 ms (live)", "control jitter p99 ms (live)", "replay fps / raw fps (throughput)"},
    )
    # each replay between two raw passes (the second's "after" is the next one's "before"); the median judged
    first, second = record["runs"]["replay"]["rounds"]
    assert first["raw_fps_after"] == second["raw_fps_before"]
    for one in (first, second):
        assert one["ratio"] == pytest.approx(one["fps"] / ((one["raw_fps_before"] + one["raw_fps_after"]) / 2))
    (judged,) = [t for t in record["targets"] if t["what"].startswith("replay fps")]
    assert float(judged["measured"]) == pytest.approx((first["ratio"] + second["ratio"]) / 2, abs=1e-3)
    assert "load_average_end" in record["machine"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_recorder_runs_one_round_with_and_without_the_recorder(tmp_path):
    _, record = run_bench(
        "bench_recorder.py", "--frames", "20", "--rounds", "1", "--mode", "replay",
        out=tmp_path / "recorder.json", timeout=540,
    )  # fmt: skip
    assert [(r["mode"], r["config"]) for r in record["runs"]] == [("replay", "recorder"), ("replay", "no-recorder")]
    for run in record["runs"]:
        assert run["returncode"] == 0 and run["processed"] > 0 and finite(run["fps"]), run
    with_recorder, without = record["runs"]
    assert with_recorder["recording"]["segments"] >= 1 and with_recorder["recording"]["messages"].get("/camera/image")
    assert without["recording"]["segments"] == 0
    assert set(record["figures"]) == {"replay"} and finite(record["figures"]["replay"]["overhead_pct"])
    assert_targets(record["targets"], {"runs exited 0", "nothing recorded (B runs)"})
    assert {t["what"]: t["ok"] for t in record["targets"]}["runs exited 0"] is True


def test_the_machine_record_says_how_much_cpu_time_the_host_stole(monkeypatch):
    """Steal (a virtual machine's CPUs ready to run while the host ran something else) explains a disturbed run
    from outside the machine: finish_machine turns /proc/stat's counters at the start and end into a share."""
    from bench import common

    ticks = iter([[100, 0, 50, 800, 0, 0, 0, 50, 0, 0], [190, 0, 60, 1500, 0, 0, 0, 250, 0, 0]])
    monkeypatch.setattr(common, "cpu_ticks", lambda: next(ticks))
    info = common.finish_machine(common.machine())
    assert info["steal_pct"] == 20.0  # 200 of the 1000 ticks between the two reads
    assert "cpu_ticks_start" not in info  # the raw counters stay out of the JSON
    assert "20% of CPU time stolen by the host" in common.machine_line(info)
