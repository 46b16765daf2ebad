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
    assert "scaling efficiency, pool" in done.stdout and "Ray's overhead" in done.stdout
    assert "the pool at 2 against detect can reach at most" in done.stdout
