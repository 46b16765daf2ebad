"""Whole chain on the bundled demo footage: video file -> cascade -> tracker -> JSONL, via the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

from gridscout.edge.defaults import DEMO_FOOTAGE
from gridscout.models.metrics import ClassStats


def detect_jsonl(tmp_path, name: str, *extra: str) -> list[dict]:
    out = tmp_path / f"{name}.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridscout.edge.cli",
            "detect",
            str(DEMO_FOOTAGE),
            "--jsonl",
            str(out),
            "--no-progress",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> list[dict]:
    return detect_jsonl(tmp_path_factory.mktemp("run"), "first")


@pytest.fixture(scope="module")
def truth() -> list[dict]:
    return [json.loads(line) for line in DEMO_FOOTAGE.with_suffix(".truth.jsonl").read_text().splitlines()]


def test_same_footage_gives_the_same_output(demo_run, tmp_path):
    """An engineer replays a recording to check a change: two runs must agree exactly,
    thread count included (onnxruntime's results do not depend on it for these models)."""
    assert detect_jsonl(tmp_path, "second", "--threads", "1") == demo_run


def test_defects_in_the_demo_are_found_and_tracked(demo_run, truth):
    """Every missing cap the drone passes is reported at IoU 0.5 in most of its frames,
    and confirmed tracks carry it: each visible stretch of defect frames holds a tracked defect."""
    stats = ClassStats()
    for record, expected in zip(demo_run, truth, strict=True):
        defects = [d for d in record["detections"] if d["class"] == "missing_cap"]
        stats.add(
            np.array([d["box"] for d in defects], np.float32).reshape(-1, 4),
            np.array([d["confidence"] for d in defects], np.float32),
            np.array([b["box"] for b in expected["boxes"] if b["class"] == "missing_cap"], np.float32).reshape(-1, 4),
        )
    assert stats.recall_at(0.0) >= 0.8
    defect_frames = [t["frame"] for t in truth if any(b["class"] == "missing_cap" for b in t["boxes"])]
    stretches = np.split(defect_frames, np.flatnonzero(np.diff(defect_frames) > 1) + 1)
    for stretch in stretches:
        tracked = {
            d["track_id"]
            for i in stretch
            for d in demo_run[i]["detections"]
            if d["class"] == "missing_cap" and d["track_id"] is not None
        }
        assert tracked, f"no tracked defect in frames {stretch[0]}-{stretch[-1]}"
    all_tracks = {
        d["track_id"] for r in demo_run for d in r["detections"] if d["class"] == "missing_cap" and d["track_id"]
    }
    assert len(all_tracks) <= 3 * len(stretches), "one physical defect should be one track, not many"
