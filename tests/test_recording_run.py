"""`gridscout run` records by default: a short real run (rendered footage, replay, simulated crawler) leaves an
MCAP segment with every topic that carried traffic, the camera images, their annotations and the telemetry."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

from gridscout.edge.config import Config, override
from gridscout.edge.recording.foxglove import ANNOTATIONS_TOPIC, IMAGE_TOPIC
from gridscout.edge.recording.naming import segments_in
from gridscout.edge.recording.reader import SegmentReader
from gridscout.edge.recording.topics import RECORDED_TOPICS
from gridscout.edge.runtime.process_table import enabled_processes
from gridscout.edge.runtime.summary import RecordingReport
from gridscout.hardware.camera import open_source

FRAMES = 20


def test_a_run_leaves_a_recording_of_the_whole_bus(tmp_path):
    data = tmp_path / "data"
    config = tmp_path / "gridscout.toml"
    config.write_text("[recorder]\njpeg_quality = 60\nsegment_max_s = 600\n")
    result = subprocess.run(
        [sys.executable, "-m", "gridscout.edge.cli", "run", "--config", str(config), "--source",
         f"synthetic://demo?frames={FRAMES}", "--mode", "replay", "--no-api", "--data", str(data),
         "--summary-json", str(tmp_path / "summary.json")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    recordings = data / "recordings"
    assert f"recording  {recordings}: 1 segments" in result.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["recording"]["errors"] == 0 and summary["recording"]["images"] == FRAMES

    (segment,) = segments_in(recordings)
    reader = SegmentReader(segment)
    counts = Counter(m.topic for m in reader)
    assert not reader.truncated  # closed cleanly on shutdown: summary and footer written
    quiet = {"report_event"}  # no defect in 20 rendered frames, so no report
    assert {t for t in RECORDED_TOPICS if t not in quiet} <= set(counts), counts
    assert counts["frames"] == counts[IMAGE_TOPIC] == FRAMES
    assert counts["detections"] == counts[ANNOTATIONS_TOPIC] == FRAMES
    assert counts["telemetry"] > 0 and counts["vehicle_command"] > 0
    assert reader.metadata["gridscout"]["mode"] == "replay"

    frames = list(open_source(segment))  # and the camera HAL replays what was recorded
    assert len(frames) == FRAMES and frames[0].image.shape == (480, 640, 3)


def test_the_recorder_can_be_turned_off():
    config = override(Config(), "recorder.enabled", False)
    assert "recorder" not in {p.name for p in enabled_processes(config)}
    assert "recorder" in {p.name for p in enabled_processes(Config())}
    assert RecordingReport(enabled=False).format() == "off (recorder.enabled = false)"


def test_a_recorder_in_trouble_is_loud_in_the_summary():
    report = RecordingReport.from_stats("/rec", {"segments": 2, "messages": 10, "errors": 3, "dropped": 40})
    assert report.failing
    assert report.format() == (
        "/rec: 2 segments, 10 messages (0 images); FAILING: 3 write errors, 40 messages dropped (see logs/recorder.log)"
    )
