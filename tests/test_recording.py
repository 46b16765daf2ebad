"""The MCAP recording library on real files: every topic recorded and read back, Foxglove views, segment
rotation, a writer killed with kill -9 mid-write whose segment is recovered, retention that never deletes
unpulled report evidence, and a recorder whose disk fails that says so and carries on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gridscout.control.vehicle import VehicleState, VehicleTelemetry
from gridscout.edge.recording import foxglove
from gridscout.edge.recording.naming import segment_name, segment_start_ns, segments_in
from gridscout.edge.recording.policy import RecorderSettings
from gridscout.edge.recording.reader import SegmentReader, read_recording
from gridscout.edge.recording.recorder import Recorder
from gridscout.edge.recording.retention import enforce_retention, segment_info
from gridscout.edge.recording.topics import RECORDED_TOPICS, bus_channel
from gridscout.edge.reports.store import ReportObservation, ReportStore
from gridscout.edge.runtime.messages import (
    TOPICS,
    CameraStatus,
    ChainStatus,
    CommandWritten,
    ControlState,
    DetectionBox,
    FrameAck,
    FrameDetections,
    FrameMeta,
    ProcessHeartbeat,
    ProcessState,
    ReportEvent,
    RunControl,
    StorageStatus,
    VehicleCommand,
    VehicleStatus,
    check_subscriber,
)
from gridscout.edge.runtime.process_table import PROCESSES

ROOT = Path(__file__).resolve().parents[1]
W, H = 64, 48


def settings(**overrides: object) -> RecorderSettings:
    values: dict = dict(
        segment_max_s=3600.0, segment_max_mb=1024.0, chunk_max_s=10.0, chunk_max_kb=1024.0, fsync=False,
        jpeg_quality=90, max_total_mb=1024.0, reserve_mb=0.0,
    )  # fmt: skip
    values.update(overrides)
    return RecorderSettings(**values)


def meta(i: int, wall_ns: int | None = None) -> FrameMeta:
    now = time.monotonic_ns()
    return FrameMeta(
        t_mono_ns=now, frame_id=i, t_capture_mono_ns=now, t_capture_wall_ns=wall_ns or time.time_ns(),
        width=W, height=H, source_name="test", name=f"test#{i}", t_source_s=i / 10,
    )  # fmt: skip


def pixels(i: int) -> np.ndarray:
    return np.full((H, W, 3), 10 + 15 * i, np.uint8)


BOX = DetectionBox(4.0, 5.0, 30.0, 40.0, 0.87, "missing_cap", 7, True)


def detections(i: int, wall_ns: int = 1_700_000_000_123_456_789) -> FrameDetections:
    now = time.monotonic_ns()
    return FrameDetections(
        t_mono_ns=now, frame_id=i, t_capture_mono_ns=now, t_capture_wall_ns=wall_ns, t_source_s=i / 10,
        width=W, height=H, boxes=(BOX, DetectionBox(40, 2, 60, 20, 0.5, "insulator", -1, False)), infer_ms=3.5,
        model_name="m", model_sha256="0" * 64,
    )  # fmt: skip


def telemetry(rx_ns: int, lat: float | None = 45.07, lon: float | None = 7.68) -> VehicleTelemetry:
    return VehicleTelemetry(
        time.monotonic_ns(), rx_ns, VehicleState.MOVING, True, position_m=3.5, speed_mps=0.5, lat_deg=lat,
        lon_deg=lon, alt_m=312.0,
    )  # fmt: skip


#: one message of each bus type; a type in the topic table without one here fails the test below
SAMPLES: dict[type, object] = {
    FrameMeta: meta(3),
    FrameAck: FrameAck(t_mono_ns=5, frame_id=3),
    CameraStatus: CameraStatus(
        t_mono_ns=5, state="streaming", source="x.mp4", frames=4, dropped_frames=0, corrupt_frames=0, reconnects=0
    ),
    FrameDetections: detections(3),
    ControlState: ControlState(
        t_mono_ns=5, mode="CRUISE", desired_speed_mps=0.5, reason="r", gate_reasons=("a",), target_track_id=-1
    ),
    VehicleCommand: VehicleCommand(t_mono_ns=5, speed_mps=0.5, stop=False, reason="cruise", mode="CRUISE"),
    VehicleTelemetry: telemetry(7),
    VehicleStatus: VehicleStatus(
        t_mono_ns=5,
        uri="sim-crawler",
        link="CONNECTED",
        detail="",
        connected_once=True,
        handshakes=1,
        link_drops=0,
        retries=0,
        unanswered=0,
        clamped=0,
        refusals={"NO_SESSION": 1},
        max_speed_mps=1.0,
    ),
    CommandWritten: CommandWritten(
        t_mono_ns=5, seq=9, speed_mps=0.5, stop=False, t_write_mono_ns=6, t_capture_mono_ns=4
    ),
    ReportEvent: ReportEvent(
        t_mono_ns=5, report_id="r1", seq=2, class_name="missing_cap", confidence=0.9, created=True
    ),
    RunControl: RunControl(t_mono_ns=5, state="running"),
    StorageStatus: StorageStatus(
        t_mono_ns=5,
        data_dir="/data",
        state="low",
        free_mb=3.5,
        reserve_mb=200.0,
        store_errors=0,
        store_pending=0,
        detail="3.5 MB free, under recorder.reserve_mb (200 MB): recording stops",
    ),
    ChainStatus: ChainStatus(
        t_mono_ns=5,
        state="running",
        processes=(ProcessState("camera", True, True, 0), ProcessState("perception", False, False, 1, "restarting")),
    ),
    ProcessHeartbeat: ProcessHeartbeat(t_mono_ns=5, process="camera", pid=1, ready=True, stats={"frames": 3.0}),
}


# -- every topic ------------------------------------------------------------------------------------------


def test_the_recorder_consumes_every_topic_it_can_hear():
    """Scenario: a topic added to the table without the recorder among its consumers fails here (and the
    recorder process, which subscribes to `RECORDED_TOPICS`, would fail at start-up)."""
    assert set(RECORDED_TOPICS) == {name for name, t in TOPICS.items() if t.pubsub}
    for topic in RECORDED_TOPICS:
        check_subscriber("recorder", topic)
    unheard = {name for name, t in TOPICS.items() if not t.pubsub}
    assert unheard == {"heartbeat"}, "only the heartbeats' PUSH/PULL is out of the recorder's reach"
    assert "recorder" in {p.name for p in PROCESSES}


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_every_topic_has_a_json_schema_and_round_trips(tmp_path, topic):
    """Each topic's message type has a self-contained JSON schema naming its fields, and a message of it
    written through the recorder reads back equal."""
    row = TOPICS[topic]
    assert row.type in SAMPLES, f"no sample message for {row.type.__name__}: add one to SAMPLES"
    channel = bus_channel(topic)
    schema = json.loads(channel.schema)
    assert schema["title"] == f"gridscout.{row.type.__name__}"
    assert "$ref" not in channel.schema.decode() and "$defs" not in schema
    sample = SAMPLES[row.type]
    fields = getattr(row.type, "__struct_fields__", None) or row.type.__dataclass_fields__
    assert set(fields) == set(schema["properties"])
    if not row.pubsub:
        return  # not on the recorder's bus, but it could be recorded if it were
    rec = Recorder(tmp_path, settings(), run_id="t")
    assert rec.record(topic, sample, pixels(3) if row.carries_pixels else None)
    rec.close()
    (got,) = [m for m in read_recording(tmp_path) if m.channel == channel.channel]
    assert got.topic == topic and got.message == sample


def test_every_recorded_topic_has_a_channel_in_every_segment(tmp_path):
    """Schemas and channels are registered when a segment opens: any segment alone says what is in it."""
    rec = Recorder(tmp_path, settings(), run_id="t")
    rec.record("run_control", SAMPLES[RunControl])
    rec.close()
    reader = SegmentReader(rec.finished[0])
    list(reader)
    topics = {c.topic for c in reader.channels.values()}
    assert {f"/bus/{t}" for t in RECORDED_TOPICS} | {v.channel for v in foxglove.VIEWS} == topics
    assert reader.metadata["gridscout"]["run_id"] == "t"
    assert not reader.truncated


# -- Foxglove views ---------------------------------------------------------------------------------------


def test_frames_detections_and_position_are_recorded_as_foxglove_views(tmp_path):
    rec = Recorder(tmp_path, settings(), run_id="t")
    wall = 1_700_000_000_123_456_789
    rec.record("frames", meta(0, wall), pixels(0))
    rec.record("detections", detections(0, wall))
    rec.record("telemetry", telemetry(100))
    rec.record("telemetry", telemetry(100))  # the same vehicle report republished: one fix
    rec.record("telemetry", telemetry(200, lat=None, lon=None))  # no fix known: no LocationFix
    rec.close()
    by_channel: dict[str, list] = {}
    for m in read_recording(tmp_path):
        by_channel.setdefault(m.channel, []).append(m)

    (img,) = by_channel[foxglove.IMAGE_TOPIC]
    assert set(img.message) == {"timestamp", "frame_id", "data", "format"}
    assert img.message["timestamp"] == {"sec": 1_700_000_000, "nsec": 123_456_789}
    assert img.message["format"] == "jpeg" and img.message["frame_id"] == "camera"
    import base64

    import simplejpeg

    decoded = simplejpeg.decode_jpeg(base64.b64decode(img.message["data"]), colorspace="BGR")
    assert decoded.shape == (H, W, 3) and abs(int(decoded.mean()) - 10) <= 2

    (ann,) = by_channel[foxglove.ANNOTATIONS_TOPIC]
    assert set(ann.message) == {"circles", "points", "texts"}
    box, other = ann.message["points"]
    assert box["type"] == 2  # LINE_LOOP
    assert [(p["x"], p["y"]) for p in box["points"]] == [(4, 5), (30, 5), (30, 40), (4, 40)]
    assert box["timestamp"] == img.message["timestamp"]  # Foxglove pairs annotations with their image by it
    assert set(box) == set(foxglove.IMAGE_ANNOTATIONS_SCHEMA["properties"]["points"]["items"]["properties"])
    assert box["outline_color"] != other["outline_color"]  # defects stand out
    texts = [t["text"] for t in ann.message["texts"]]
    assert texts == ["missing_cap 0.87 #7", "insulator 0.50"]

    (fix,) = by_channel[foxglove.LOCATION_TOPIC]
    assert set(fix.message) == set(foxglove.LOCATION_FIX_SCHEMA["properties"])
    assert (fix.message["latitude"], fix.message["longitude"], fix.message["altitude"]) == (45.07, 7.68, 312.0)
    assert len(fix.message["position_covariance"]) == 9
    assert len(by_channel["/bus/telemetry"]) == 3


def test_foxglove_schemas_carry_the_exact_field_names():
    props = foxglove.COMPRESSED_IMAGE_SCHEMA["properties"]
    assert list(props) == ["timestamp", "frame_id", "data", "format"]
    assert props["data"]["contentEncoding"] == "base64"
    assert list(props["timestamp"]["properties"]) == ["sec", "nsec"]
    ann = foxglove.IMAGE_ANNOTATIONS_SCHEMA["properties"]
    assert list(ann) == ["circles", "points", "texts"]
    points = ann["points"]["items"]["properties"]
    assert list(points) == ["timestamp", "type", "points", "outline_color", "outline_colors", "fill_color", "thickness"]
    assert [c["title"] for c in points["type"]["oneOf"]][2] == "LINE_LOOP"
    texts = ann["texts"]["items"]["properties"]
    assert list(texts) == ["timestamp", "position", "text", "font_size", "text_color", "background_color"]
    loc = foxglove.LOCATION_FIX_SCHEMA["properties"]
    assert set(loc) == {"timestamp", "frame_id", "latitude", "longitude", "altitude", "position_covariance",
                        "position_covariance_type"}  # fmt: skip
    assert {v.schema_name for v in foxglove.VIEWS} == {
        "foxglove.CompressedImage", "foxglove.ImageAnnotations", "foxglove.LocationFix"
    }  # fmt: skip


# -- segments ---------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_segments_rotate_by_time_and_by_size_and_sort_by_time(tmp_path):
    clock = FakeClock()
    wall = [1_700_000_000_000_000_000]
    rec = Recorder(
        tmp_path, settings(segment_max_s=10.0, segment_max_mb=0.05), run_id="rot", clock=clock,
        wall_ns=lambda: wall[0],
    )  # fmt: skip
    for i in range(3):  # by time: a new segment each 10 s
        rec.record("frame_ack", FrameAck(t_mono_ns=1, frame_id=i))
        clock.t += 6.0
        wall[0] += 6_000_000_000
        rec.tick()
    by_time = len(rec.finished)
    assert by_time == 1
    noise = np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)
    for i in range(40):  # by size: 50 kB segments of incompressible frames
        rec.record("frames", meta(i), noise)
        wall[0] += 1_000_000
    rec.close()
    segments = segments_in(tmp_path)
    assert len(segments) == len(rec.finished) >= 4
    assert [p.name for p in segments] == sorted(p.name for p in segments)
    starts = [segment_start_ns(p) for p in segments]
    assert starts == sorted(starts) and starts[0] == 1_700_000_000_000_000_000
    for path in segments[1:-1]:
        assert path.stat().st_size < 0.05 * 2**20 * 1.5
    messages = list(read_recording(tmp_path))  # a directory reads back in order, across segments
    times = [m.log_time_ns for m in messages]
    assert times == sorted(times)
    assert [m.message.frame_id for m in messages if m.topic == "frames"] == list(range(40))


def test_segment_names_sort_by_time_across_runs():
    a = segment_name(1_700_000_000_000_000_000, "zzzz", 9)
    b = segment_name(1_700_000_000_000_001_000, "aaaa", 0)
    assert a < b
    assert segment_start_ns(b) == 1_700_000_000_000_001_000


def test_chunks_reach_the_file_by_time_so_a_crash_loses_at_most_the_open_chunk(tmp_path):
    """Scenario: messages trickle in (a few a second); each chunk is on disk within chunk_max_s even with
    no later message to trigger it (the recorder's tick), so a file copy taken mid-run reads back."""
    clock = FakeClock()
    rec = Recorder(tmp_path, settings(chunk_max_s=0.5), run_id="c", clock=clock)
    rec.record("run_control", RunControl(t_mono_ns=1, state="running"))
    path = rec.current_path
    assert path is not None
    assert list(read_recording(path)) == []  # still in the open chunk
    clock.t += 0.6
    rec.tick()
    assert [m.topic for m in read_recording(path)] == ["run_control"]
    rec.close()


def _cut(path: Path, size: int, into: Path) -> Path:
    into.write_bytes(path.read_bytes()[:size])
    return into


def test_a_segment_cut_anywhere_reads_back_up_to_its_last_whole_chunk(tmp_path):
    """Every cut point of a real segment: the reader never raises, never yields a damaged message, and
    recovers every chunk that lies wholly before the cut."""
    rec = Recorder(tmp_path / "rec", settings(chunk_max_kb=4.0), run_id="cut")
    for i in range(30):
        rec.record("frames", meta(i), pixels(i % 10))
        rec.record("detections", detections(i))
    rec.close()
    (path,) = rec.finished
    full = list(read_recording(path))
    size = path.stat().st_size
    recovered = []
    for cut in range(0, size, max(size // 97, 1)):
        if cut < 8:
            continue
        reader = SegmentReader(_cut(path, cut, tmp_path / "cut.mcap"))
        got = list(reader)
        assert reader.truncated
        assert got == full[: len(got)]  # a prefix, intact
        recovered.append(len(got))
    assert recovered == sorted(recovered) and recovered[-1] > len(full) * 0.8
    assert len(set(recovered)) > 5  # many chunks, each recovered as soon as it is whole


def test_a_writer_killed_with_kill_9_leaves_a_segment_the_reader_recovers(tmp_path):
    """Scenario: power-loss-like death of the recorder mid-write. A real process records as fast as it can
    with 20 ms chunks; kill -9 lands wherever it lands. The reader gets every message of every chunk the
    writer had written (it said how many), in order, frame ids without a gap, and says the file is cut."""
    out = tmp_path / "rec"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.recording_writer", str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        written = [int(proc.stdout.readline()) for _ in range(8)]  # eight chunks on disk, still writing
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        written += [int(line) for line in proc.stdout.read().split()]
    finally:
        if proc.poll() is None:
            proc.kill()
    (path,) = segments_in(out)
    reader = SegmentReader(path)
    messages = list(reader)
    assert reader.truncated, "a killed writer leaves no footer"
    assert len(messages) >= written[-1] > 0
    frames = [m.message.frame_id for m in messages if m.topic == "frames"]
    assert frames == list(range(len(frames)))
    dets = [m.message.frame_id for m in messages if m.topic == "detections"]
    assert dets == list(range(len(dets))) and len(frames) - len(dets) in (0, 1)
    times = [m.log_time_ns for m in messages]
    assert times == sorted(times)


# -- failing loudly ---------------------------------------------------------------------------------------


def test_a_recorder_that_cannot_write_counts_it_and_carries_on(tmp_path, caplog):
    """Scenario: the recordings directory cannot be created (a file is in the way). Nothing raises; the
    errors and the dropped messages are counted and logged; once the way is clear it records again."""
    blocked = tmp_path / "recordings"
    blocked.write_text("not a directory")
    clock = FakeClock()
    rec = Recorder(blocked, settings(), run_id="f", clock=clock, retry_s=1.0)
    assert not rec.record("run_control", RunControl(t_mono_ns=1, state="running"))
    assert not rec.record("run_control", RunControl(t_mono_ns=2, state="running"))  # waiting to retry
    assert rec.stats["errors"] == 1 and rec.stats["dropped"] == 1
    assert "recording failed" in caplog.text and "recordings" in caplog.text
    assert "NotADirectoryError" in rec.last_error or "FileExistsError" in rec.last_error
    blocked.unlink()
    clock.t += 1.5
    assert rec.record("run_control", RunControl(t_mono_ns=3, state="running"))
    rec.close()
    assert [m.message.t_mono_ns for m in read_recording(blocked)] == [3]


# -- retention --------------------------------------------------------------------------------------------

S = 1_000_000_000
T0 = 1_700_000_000 * S


def _segments(directory: Path, n: int) -> list[Path]:
    """n real segments of about the same size, one a minute, each holding a minute of frames."""
    paths = []
    for k in range(n):
        wall = [T0 + k * 60 * S]
        rec = Recorder(directory, settings(), run_id=f"r{k}", wall_ns=lambda wall=wall: wall[0])
        for i in range(5):
            rec.record("frames", meta(i, wall[0]), pixels(i))
            wall[0] += 12 * S
        rec.close()
        paths += rec.finished
    return paths


def test_retention_deletes_the_oldest_first_down_to_the_budget(tmp_path):
    paths = _segments(tmp_path, 5)
    info = [segment_info(p) for p in paths]
    assert info[1].start_ns == T0 + 60 * S and info[1].end_ns == T0 + 60 * S + 48 * S
    size = max(i.size_bytes for i in info)
    result = enforce_retention(tmp_path, budget_bytes=3 * size, protected=[])
    assert result.deleted == paths[:2] and not result.over_budget
    assert segments_in(tmp_path) == paths[2:]


def test_retention_never_deletes_a_segment_holding_unpulled_report_evidence(tmp_path):
    """Scenario: the disk budget is tight and the two oldest segments hold a report the fleet has not pulled.
    They stay, younger ones go instead, and when nothing more may go it says it is over budget."""
    paths = _segments(tmp_path, 5)
    size = max(segment_info(p).size_bytes for p in paths)
    evidence = (T0 + 30 * S, T0 + 70 * S)  # seen from second 30 to 70: segments 0 and 1
    result = enforce_retention(tmp_path, budget_bytes=2 * size, protected=[evidence], keep=[paths[4]])
    assert paths[0].exists() and paths[1].exists() and paths[4].exists()  # evidence, and the open one
    assert result.deleted == [paths[2], paths[3]]
    assert result.spared == [paths[0], paths[1], paths[4]] and result.over_budget


def test_retention_follows_what_the_fleet_has_pulled(tmp_path):
    """The report store knows what the fleet holds: a puller asking for reports after seq S has committed
    everything up to S. Reports above it are protected; pulling them frees their segments."""
    data = tmp_path / "data"
    recordings = data / "recordings"
    paths = _segments(recordings, 4)
    size = max(segment_info(p).size_bytes for p in paths)
    with ReportStore(data, device_id="box") as store:
        for track, t in (("a", T0 + 10 * S), ("b", T0 + 70 * S)):  # in segments 0 and 1
            store.write(
                ReportObservation(track_key=track, class_name="missing_cap", confidence=0.9, t_wall_ns=t, frame_id=1,
                                  model_name="m", model_sha256="0" * 64)
            )  # fmt: skip
        assert store.pulled_seq() == 0
        assert [(first, last) for _, first, last in store.unpulled_spans()] == [(T0 + 10 * S,) * 2, (T0 + 70 * S,) * 2]
        protected = [(a, b) for _, a, b in store.unpulled_spans()]
        result = enforce_retention(recordings, 3 * size, protected)
        assert result.deleted == [paths[2]] and not result.over_budget
        store.mark_pulled(1)  # the fleet has report a (seq 1)
        store.mark_pulled(0)  # a stale checkpoint never moves it back
        assert store.pulled_seq() == 1
        protected = [(a, b) for _, a, b in store.unpulled_spans()]
        result = enforce_retention(recordings, 2 * size, protected)
        assert result.deleted == [paths[0]]
        assert segments_in(recordings) == [paths[1], paths[3]]


def test_the_fleet_api_marks_what_a_puller_has(tmp_path):
    """The puller's `since` is its committed checkpoint: the API (real uvicorn on loopback) keeps it as the
    store's pulled mark."""
    import urllib.request

    from gridscout.edge.api.server import start_in_thread

    with ReportStore(tmp_path, device_id="box") as store:
        for track in ("a", "b", "c"):
            store.write(
                ReportObservation(track_key=track, class_name="missing_cap", confidence=0.9, t_wall_ns=T0, frame_id=1,
                                  model_name="m", model_sha256="0" * 64)
            )  # fmt: skip

    def pull(url: str) -> int:
        request = urllib.request.Request(url, headers={"Authorization": "Bearer tok"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status

    with start_in_thread(tmp_path, "tok") as server, ReportStore(tmp_path) as store:
        assert pull(server.url + "/v1/reports?since=0") == 200
        assert store.pulled_seq() == 0 and len(store.unpulled_spans()) == 3
        assert pull(server.url + "/v1/reports?since=2") == 200
        assert store.pulled_seq() == 2
        assert [r for r, _, _ in store.unpulled_spans()] == [store.list(2)[0].id]
