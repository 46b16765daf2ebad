"""bench/bench_batch.py runs end to end in its tiny mode (8 photos, every configuration once, Ray included) and
writes figures that hold something. No timing is asserted: --tiny judges no target. About 30 s on two cores."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_batch_tiny_measures_every_configuration(tmp_path):
    record_path = tmp_path / "batch.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_batch.py"), "--tiny", "--json", str(record_path)],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith("machine: ")
    record = json.loads(record_path.read_text())
    assert set(record["figures"]) == {"detect", "detect@1t", "pool@1", "pool@2", "ray@1", "ray@2"}
    for figures in record["figures"].values():
        assert math.isfinite(figures["wall_s"]) and figures["wall_s"] > 0
        assert figures["core_s_per_photo"] > 0 and figures["worker_rss_mb"] > 50  # a worker holds a model
    assert {r["reports"] for r in record["runs"]} == {record["runs"][0]["reports"]}
    assert [t["ok"] for t in record["targets"]] == [None, None]
    assert all(len(t["rounds"]) == 1 and t["value"] > 0 for t in record["targets"])
    assert "scaling efficiency, pool" in done.stdout and "Ray's overhead" in done.stdout
    assert "the pool at 2 against detect can reach at most" in done.stdout


def test_each_target_is_the_median_of_its_ratios_inside_rounds():
    """A machine that slows by half in round 2 does not move the ratios: each is taken between the runs of one round."""
    from bench.bench_batch import build_targets, round_ratios

    rates = [{"detect": 100.0, "pool@2": 180.0, "ray@2": 171.0}, {"detect": 50.0, "pool@2": 90.0, "ray@2": 72.0},
             {"detect": 100.0, "pool@2": 160.0, "ray@2": 160.0}]  # fmt: skip
    runs = [{"round": i, "config": c, "photos_per_h": r} for i, row in enumerate(rates) for c, r in row.items()]
    assert round_ratios(runs, "ray@2", "pool@2") == pytest.approx([0.95, 0.8, 1.0])
    ray, pool = build_targets(runs, judge=True)
    assert ray["value"] == pytest.approx(0.95) and ray["ok"] is True and ray["measured"] == "0.95x"
    assert pool["value"] == pytest.approx(1.8) and pool["ok"] is True
    # (the ratio of each configuration's median rate would give 160 / 160 = 1.00, from runs minutes apart)
    runs.append({"round": 3, "config": "ray@2", "photos_per_h": 10.0})  # a round cut short: no pair, no ratio
    assert len(round_ratios(runs, "ray@2", "pool@2")) == 3
    assert build_targets(runs, judge=False)[0]["ok"] is None
    lone = build_targets([{"round": 0, "config": "ray@2", "photos_per_h": 5.0}], judge=True)[0]
    assert lone["value"] is None and lone["ok"] is None and lone["rounds"] == []  # nothing to judge: no verdict
