"""The `.mcap` camera source: `open_source("run.mcap")` on real recordings, whole, cut short, or not recordings."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from mcap.writer import Writer

from gridscout.edge.recording.policy import RecorderSettings
from gridscout.edge.recording.recorder import Recorder
from gridscout.edge.runtime.messages import FrameMeta, RunControl
from gridscout.hardware.camera import McapFile, Paced, SourceError, open_source

W, H = 64, 48
T0 = 1_700_000_000_000_000_000
SETTINGS = RecorderSettings(
    segment_max_s=3600.0, segment_max_mb=1024.0, chunk_max_s=10.0, chunk_max_kb=2.0, fsync=False, jpeg_quality=95,
    max_total_mb=1024.0, reserve_mb=0.0,
)  # fmt: skip


def level(i: int) -> int:
    return 10 + 7 * i


def record(directory: Path, n: int = 12, first_id: int = 100) -> Path:
    """n frames at 10 Hz (on a wall clock the test drives), gray level rising with i, camera ids from first_id."""
    wall = [T0]
    rec = Recorder(directory, SETTINGS, run_id="src", wall_ns=lambda: wall[0])
    for i in range(n):
        meta = FrameMeta(
            t_mono_ns=time.monotonic_ns(), frame_id=first_id + i, t_capture_mono_ns=time.monotonic_ns(),
            t_capture_wall_ns=wall[0] - 5_000_000, width=W, height=H, source_name="cam", name=f"cam#{i}",
            t_source_s=i / 10,
        )  # fmt: skip
        rec.record("frames", meta, np.full((H, W, 3), level(i), np.uint8))
        rec.record("run_control", RunControl(t_mono_ns=time.monotonic_ns(), state="running"))
        wall[0] += 100_000_000
    rec.close()
    (path,) = rec.finished
    return path


def test_open_source_yields_the_recorded_frames(tmp_path):
    path = record(tmp_path)
    source = open_source(path)
    assert isinstance(source, McapFile) and not source.is_live
    assert source.frame_count == 12 and source.fps == pytest.approx(10.0)
    assert source.topic == "/camera/image"
    frames = list(source)
    assert [f.frame_id for f in frames] == list(range(12))
    assert [abs(int(f.image.mean()) - level(i)) <= 2 for i, f in enumerate(frames)] == [True] * 12
    assert frames[0].image.shape == (H, W, 3) and frames[0].image.dtype == np.uint8
    assert [f.t_capture_wall_ns for f in frames] == [T0 - 5_000_000 + i * 100_000_000 for i in range(12)]
    assert frames[3].name == f"{path.stem}#000103"  # the camera's own frame id
    assert [f.frame_id for f in source.iter_from(9)] == [9, 10, 11]


def test_open_source_paces_a_recording_at_its_recorded_rate(tmp_path):
    source = open_source(record(tmp_path, n=4), realtime=True)
    assert isinstance(source, Paced)
    t0 = time.monotonic()
    assert len(list(source)) == 4
    assert time.monotonic() - t0 >= 0.28  # three gaps of 0.1 s


def test_a_recording_cut_short_still_opens_up_to_its_last_whole_chunk(tmp_path):
    """Scenario: a recording from a run that lost power; its frames up to the last whole chunk replay."""
    path = record(tmp_path, n=30)
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    source = open_source(cut)
    assert source.scan.truncated
    frames = list(source)
    assert 5 <= len(frames) < 30 and len(frames) == source.frame_count
    assert [abs(int(f.image.mean()) - level(i)) <= 2 for i, f in enumerate(frames)] == [True] * len(frames)


def test_a_missing_recording_is_named(tmp_path):
    with pytest.raises(SourceError, match=r"nope\.mcap: not found \(expected an MCAP recording with foxglove"):
        open_source(tmp_path / "nope.mcap")


@pytest.mark.parametrize(("content", "what"), [(b"", "empty"), (b"\x00garbage" * 100, "not an MCAP file")])
def test_a_file_that_is_not_a_recording_is_named(tmp_path, content, what):
    bad = tmp_path / "bad.mcap"
    bad.write_bytes(content)
    with pytest.raises(SourceError, match=rf"bad\.mcap: {what}"):
        open_source(bad)


def test_a_recording_without_camera_images_says_what_it_expected_and_found(tmp_path):
    other = tmp_path / "telemetry-only.mcap"
    with open(other, "wb") as f:
        writer = Writer(f)
        writer.start()
        schema = writer.register_schema("foxglove.LocationFix", "jsonschema", b"{}")
        channel = writer.register_channel("/gps", "json", schema)
        writer.add_message(channel, T0, b"{}", T0)
        writer.finish()
    with pytest.raises(SourceError) as err:
        open_source(other)
    message = str(err.value)
    assert str(other) in message and "expected a foxglove.CompressedImage channel" in message
    assert "/gps (foxglove.LocationFix)" in message


def test_a_recording_whose_camera_channel_is_empty_says_so(tmp_path):
    rec = Recorder(tmp_path, SETTINGS, run_id="empty")
    rec.record("run_control", RunControl(t_mono_ns=1, state="running"))
    rec.close()
    with pytest.raises(SourceError, match=r"channel /camera/image has no images"):
        open_source(rec.finished[0])


def _chunk_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each top-level Chunk record's content in an MCAP file's bytes."""
    spans, i = [], 8
    while i + 9 <= len(data):
        opcode, length = data[i], int.from_bytes(data[i + 1 : i + 9], "little")
        if opcode == 0x06:
            spans.append((i + 9, i + 9 + length))
        if opcode == 0x02:  # the footer: done
            break
        i += 9 + length
    return spans


def test_a_damaged_chunk_is_skipped_the_rest_read_and_the_shortfall_said(tmp_path):
    """One chunk's compressed bytes broken mid-file once dropped every intact chunk after it, and `run` and
    `detect` exited 0 having read 48 of 260 frames. Now the chunks after it are read, and the source says how
    many of the images its index lists it could not give."""
    path = record(tmp_path, n=24)
    data = bytearray(path.read_bytes())
    spans = _chunk_spans(bytes(data))
    assert len(spans) >= 4, "the recording should have several chunks"
    _, end = spans[1]
    data[end - 40 : end - 20] = bytes(20)  # inside the second chunk's compressed records
    path.write_bytes(bytes(data))
    source = open_source(path)
    frames = list(source)
    assert 0 < len(frames) < 24
    assert abs(int(frames[-1].image.mean()) - level(23)) <= 2  # the last chunk is read
    assert source.missing_frames == 24 - len(frames)
    assert f"{len(frames)} of the 24 images its index lists can be read (1 damaged chunks skipped" in source.shortfall


def test_an_intact_recording_has_no_shortfall(tmp_path):
    source = open_source(record(tmp_path))
    assert len(list(source)) == 12 and source.shortfall is None and source.missing_frames == 0
