"""`gridscout replay` as people run it: real subprocesses on real recordings (a fresh `gridscout run`, and the
process-replay references), its output folder, its exit statuses and its errors; `gridscout detect` on a
recording; the annotated video; the recorded pace."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import zmq
from mcap.writer import Writer

from gridscout.edge.offline.replay import DIFF_NAME, MARKER_NAME, MCAP_NAME, load_recording
from gridscout.edge.recording.naming import segments_in
from gridscout.edge.recording.reader import SegmentReader
from gridscout.edge.reports.store import ReportStore
from gridscout.edge.runtime.bus import Endpoints, Subscriber
from gridscout.edge.runtime.messages import TOPICS
from gridscout.edge.runtime.ports import free_port_block
from gridscout.hardware.camera import open_source
from sim_tests.process_replay import refs

DEFECT = refs.ref_path(refs.SCENES[0])
LIVE = refs.ref_path(refs.SCENES[1])


def gridscout(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gridscout.edge.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def replay(recording: Path, data: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    summary = data.parent / f"{data.name}-summary.json"
    result = gridscout("replay", str(recording), "--data", str(data), "--summary-json", str(summary), *extra,
                       cwd=data.parent)  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-3000:]
    return result, json.loads(summary.read_text())


def test_a_replay_of_a_gridscout_run_reproduces_its_reports(tmp_path):
    """Scenario: `gridscout run` records a pass over three missing caps; `gridscout replay` of that recording,
    with perception re-run on the recorded JPEG frames, finds the same defects: each report paired by what it is
    (class, frames, evidence box), whatever numbers the tracker gave their tracks, none added or removed. Their
    best confidences may move: a cap's score on a re-encoded frame differs from the run's (by more than the
    diff's 0.05 for a cap in a weakly found string), and the diff says so. With the recorded detections, control
    and the reporter reproduce the run's commands and report writes exactly, ids included (exit 0)."""
    data = tmp_path / "data"
    run = gridscout("run", "--source", "synthetic://demo?frames=40&seed=3", "--mode", "replay", "--no-api",
                    "--data", str(data), cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    (segment,) = segments_in(data / "recordings")
    recorded = load_recording(segment)
    assert len(recorded.outputs.final_reports()) >= 2, "the run should have reported the missing caps"

    result, summary = replay(segment, data)
    out = data / "replays" / segment.stem
    reports = summary["diff"]["reports"]
    assert reports["added"] == reports["removed"] == 0 and reports["same"] + reports["changed"] == reports["before"]
    assert all("confidence" in example for example in reports["examples"]), result.stdout  # changed by it alone
    assert "reports    " in result.stdout and f"recording  {out / MCAP_NAME}" in result.stdout
    pairs = summary["diff"]["report_pairs"]  # recorded id -> the replayed report paired with it
    assert set(pairs) == set(recorded.outputs.final_reports()), result.stdout
    with ReportStore(out) as store:  # the replay's own store holds one report per recorded report, paired
        assert sorted(r.id for r in store.list()) == sorted(pairs.values())
        assert store.device_id == recorded.device_id

    exact, summary = replay(segment, data, "--recorded-detections")
    assert exact.returncode == 0, exact.stdout
    assert summary["diff"]["identical"] and "outputs    the same as recorded" in exact.stdout
    assert all(ours == theirs for ours, theirs in summary["diff"]["report_pairs"].items())  # the same ids


def test_the_output_folder_holds_a_new_recording_a_diff_and_the_reports(tmp_path):
    data = tmp_path / "data"
    _, summary = replay(DEFECT, data)
    out = data / "replays" / DEFECT.stem
    assert summary["perception"] == "rerun" and summary["frames"] == 16
    diff = json.loads((out / DIFF_NAME).read_text())
    assert set(diff["diff"]) >= {"identical", "detections", "commands", "reports", "writes", "tolerances"}
    reader = SegmentReader(out / MCAP_NAME)
    topics = {m.topic for m in reader}
    assert not reader.truncated
    assert {"frames", "/camera/image", "detections", "/camera/annotations", "telemetry", "control_state",
            "vehicle_command", "report_event"} <= topics  # fmt: skip
    assert reader.metadata["gridscout"]["replay_of"] == DEFECT.name
    # the new recording is a recording like any other: it replays, and the camera HAL opens it
    again, _ = replay(out / MCAP_NAME, tmp_path / "again", "--recorded-detections")
    assert again.returncode == 0, again.stdout
    frames = list(open_source(out / MCAP_NAME))
    assert len(frames) == 16


def test_a_second_replay_replaces_the_first_but_never_a_folder_it_did_not_write(tmp_path):
    data = tmp_path / "data"
    replay(DEFECT, data, "--recorded-detections")
    out = data / "replays" / DEFECT.stem
    assert (out / MARKER_NAME).exists()
    second, _ = replay(DEFECT, data, "--recorded-detections")
    assert second.returncode == 0, second.stdout  # a fresh store: the same writes, created again
    (out / MARKER_NAME).unlink()
    third = gridscout("replay", str(DEFECT), "--data", str(data), "--recorded-detections", cwd=tmp_path)
    assert third.returncode == 2 and "not written by gridscout replay" in third.stderr


def test_by_default_a_replay_goes_to_the_data_dir_the_recording_is_in(tmp_path):
    recordings = tmp_path / "data" / "recordings"
    recordings.mkdir(parents=True)
    shutil.copyfile(DEFECT, recordings / DEFECT.name)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = gridscout("replay", str(recordings / DEFECT.name), "--recorded-detections", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "replays" / DEFECT.stem / MCAP_NAME).exists()
    assert not any(elsewhere.iterdir())


def test_a_changed_config_exits_1_and_the_summary_says_what_changed(tmp_path):
    config = tmp_path / "changed.toml"
    config.write_text("[reporter]\nmin_hits = 6\n[control.safety]\nmax_accel_mps2 = 0.25\n")
    result = gridscout("replay", str(DEFECT), "--config", str(config), "--data", str(tmp_path / "d"),
                       "--recorded-detections", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "outputs    CHANGED: commands, writes" in result.stdout
    assert f"config     {config}" in result.stdout
    assert "-> frame" in result.stdout  # the first changed commands and writes, shown


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p / "missing.mcap", "not found"),
        (lambda p: _write(p / "empty.mcap", b""), "empty"),
        (lambda p: _write(p / "noise.mcap", b"\x89PNG not an mcap file at all" * 10), "not an MCAP file"),
        (lambda p: _foreign_mcap(p / "foreign.mcap"), "not a GridScout recording"),
        (lambda p: _mkdir(p / "nothing"), "no recording segments"),
    ],
    ids=["missing", "empty", "not-mcap", "not-gridscout", "empty-folder"],
)
def test_a_recording_that_cannot_be_replayed_is_one_line_naming_it_and_exit_2(tmp_path, make, says):
    path = make(tmp_path)
    result = gridscout("replay", str(path), "--data", str(tmp_path / "d"), cwd=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"gridscout replay: error: {path}") and says in line, line


def test_a_recording_cut_short_replays_up_to_its_last_complete_chunk(tmp_path):
    """Scenario: the box lost power mid-run; the segment has no footer. The replay says so and replays
    what is there."""
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(DEFECT.read_bytes()[: int(DEFECT.stat().st_size * 0.6)])
    result, summary = replay(cut, tmp_path / "d", "--recorded-detections")
    assert result.returncode == 0, result.stdout
    assert "truncated  cut.mcap: ends after" in result.stdout
    assert summary["truncated"] and 0 < summary["frames"] < 16


def test_a_bad_model_is_exit_2_and_leaves_the_last_replay_alone(tmp_path):
    data = tmp_path / "d"
    replay(DEFECT, data, "--recorded-detections")
    result = gridscout("replay", str(DEFECT), "--data", str(data), "--model", str(tmp_path / "nope.onnx"),
                       cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2 and "nope.onnx: model not found" in result.stderr
    assert (data / "replays" / DEFECT.stem / MCAP_NAME).exists()


def test_a_folder_of_two_runs_is_refused_naming_both(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    for second, ref in enumerate((DEFECT, LIVE)):  # two runs' segments, named as the recorder names them
        run = load_recording(ref).run_id[:8]
        shutil.copyfile(ref, folder / f"20260101T00000{second}.000000Z_{run}_0000.mcap")
    assert len(segments_in(folder)) == 2
    result = gridscout("replay", str(folder), "--data", str(tmp_path / "d"), cwd=tmp_path)
    assert result.returncode == 2 and "more than one run" in result.stderr, result.stderr


def test_realtime_replays_at_the_recorded_pace_and_publishes_on_the_bus(tmp_path):
    """Scenario: a live tool listens on the bus while a recording is replayed --realtime. The replay takes at
    least 0.8 of the recorded time, and the tool hears the frames (with pixels), detections and commands."""
    base = free_port_block(len(TOPICS))
    config = tmp_path / "bus.toml"
    config.write_text(f"[bus]\ntcp_base_port = {base}\n[recorder]\njpeg_quality = 30\n")
    ctx = zmq.Context()
    sub = Subscriber(ctx, Endpoints("tcp", tcp_base_port=base), ["frames", "detections", "vehicle_command"])
    heard: Counter = Counter()
    try:
        recorded_s = load_recording(LIVE).duration_s
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gridscout.edge.cli", "replay", str(LIVE), "--data", str(tmp_path / "d"),
             "--config", str(config), "--recorded-detections", "--realtime"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        while proc.poll() is None:
            received = sub.recv(0.05)
            if received is not None:
                heard[received.topic] += 1
                if received.topic == "frames":
                    assert received.image is not None and received.image.shape == (240, 320, 3)
        elapsed = time.monotonic() - t0
        out, err = proc.communicate()
    finally:
        sub.close()
        ctx.destroy(linger=0)
    assert proc.returncode == 0, out + err
    assert elapsed >= 0.8 * recorded_s, (elapsed, recorded_s)
    assert "at the recorded pace" in out
    assert heard["frames"] >= 10 and heard["detections"] >= 10 and heard["vehicle_command"] > 0, heard


def test_realtime_on_a_busy_bus_port_is_one_line_and_exit_2(tmp_path):
    base = free_port_block(len(TOPICS))
    config = tmp_path / "bus.toml"
    config.write_text(f"[bus]\ntcp_base_port = {base}\n")
    with socket.socket() as taken:  # a chain already publishing frames there
        taken.bind(("127.0.0.1", base))
        taken.listen()
        result = gridscout("replay", str(LIVE), "--data", str(tmp_path / "d"), "--config", str(config),
                           "--recorded-detections", "--realtime", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"tcp://127.0.0.1:{base}" in line and "bus.tcp_base_port" in line, line


def test_video_export_draws_every_frame_with_boxes_and_the_vehicle_state(tmp_path):
    video = tmp_path / "replay.mp4"
    result, _ = replay(DEFECT, tmp_path / "d", "--video", str(video))
    assert f"video      {video}" in result.stdout
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 16 and frames[0].shape == (360, 480, 3)
    # the recorded frame 0 against the video's: the status band (white text on the scene darkened to 40%)
    plain = cv2.imdecode(np.frombuffer(next(_first_jpeg(DEFECT)), np.uint8), cv2.IMREAD_COLOR)
    band = (slice(330, 360), slice(0, 120))
    assert np.median(frames[0][band]) < 0.6 * np.median(plain[band])
    assert frames[0][band].max() > 200  # the text


def test_detect_reads_a_recording_through_the_camera_hal(tmp_path):
    jsonl = tmp_path / "d.jsonl"
    result = gridscout("detect", str(DEFECT), "--jsonl", str(jsonl), "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(lines) == 16 and lines[0]["name"] == f"{DEFECT.stem}#000000"
    assert any(d["class"] == "missing_cap" for line in lines for d in line["detections"])


def test_replay_help_names_the_forms_and_the_exit_statuses(tmp_path):
    result = gridscout("replay", "--help", cwd=tmp_path)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    needles = ["--realtime", "--video", "--recorded-detections", "--config", "--model", "--data"]
    needles += ["never moves a vehicle", "exit status: 0 replayed", "1 replayed; the outputs changed", "2 bad input"]
    for needle in needles:
        assert needle in text, needle


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _foreign_mcap(path: Path) -> Path:
    """A valid MCAP file of someone else's: one JSON channel that is not ours."""
    with open(path, "wb") as f:
        writer = Writer(f)
        writer.start()
        schema = writer.register_schema("pose", "jsonschema", b"{}")
        channel = writer.register_channel("/robot/pose", "json", schema)
        writer.add_message(channel, log_time=1, data=b'{"x": 1}', publish_time=1)
        writer.finish()
    return path


def _first_jpeg(path: Path):
    import base64

    for m in SegmentReader(path, topics_wanted=["/camera/image"]):
        yield base64.b64decode(m.message["data"])
        return
