"""Camera sources on real files made in each test: videos, image folders, live capture, pacing."""

from __future__ import annotations

import logging
import sys
import threading
import time
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from gridscout.hardware.camera import (
    CameraStalled,
    FrameSource,
    ImageFolder,
    LiveCapture,
    Paced,
    SourceError,
    VideoFile,
    open_source,
)
from gridscout.hardware.frame import Frame

W, H = 64, 48


def level(i: int) -> int:
    """Gray level of test frame i: distinct and rising, so order survives JPEG compression."""
    return 10 + 15 * i


def make_image(i: int) -> np.ndarray:
    return np.full((H, W, 3), level(i), np.uint8)


def write_video(path: Path, n: int = 12, fourcc: str = "MJPG", fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
    assert writer.isOpened(), f"cv2 cannot write {fourcc} here"
    for i in range(n):
        writer.write(make_image(i))
    writer.release()
    return path


def frame_level(frame: Frame) -> int:
    """Which test frame this is, from its mean gray level."""
    return round((float(frame.image.mean()) - 10) / 15)


def write_folder(folder: Path, names: list[str]) -> Path:
    folder.mkdir()
    for i, name in enumerate(names):
        cv2.imwrite(str(folder / name), make_image(i))
    return folder


# --- video files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "fourcc"), [(".avi", "MJPG"), (".mp4", "mp4v")])
def test_video_file_yields_every_frame_in_order(tmp_path: Path, suffix: str, fourcc: str) -> None:
    path = write_video(tmp_path / f"clip{suffix}", n=12, fourcc=fourcc)
    with open_source(str(path)) as src:
        assert isinstance(src, VideoFile)
        assert (src.name, src.frame_count, src.fps, src.is_live) == ("clip", 12, 25.0, False)
        frames = list(src)
    assert [f.frame_id for f in frames] == list(range(12))
    assert [frame_level(f) for f in frames] == list(range(12))
    assert [f.name for f in frames] == [f"clip#{i:06d}" for i in range(12)]
    assert all(f.source_name == "clip" and f.image.shape == (H, W, 3) for f in frames)
    assert all(f.image.dtype == np.uint8 for f in frames)
    monos = [f.t_capture_mono_ns for f in frames]
    assert monos == sorted(monos)
    assert abs(frames[0].t_capture_wall_ns - time.time_ns()) < 10e9
    assert src.corrupt_frames == 0


def test_video_file_second_pass_starts_over(tmp_path: Path) -> None:
    src = open_source(write_video(tmp_path / "clip.avi", n=5))
    assert [frame_level(f) for f in src] == list(range(5))
    assert [f.frame_id for f in src] == list(range(5))
    src.close()
    with pytest.raises(SourceError, match="closed"):
        list(src)


def jpeg_starts(data: bytes) -> list[int]:
    """Offsets of the JPEG SOI markers (FF D8) in an MJPG file: one per frame."""
    return [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]


def corrupt_jpeg_frame(path: Path, which: int) -> None:
    """Zero the `which`-th JPEG's headers, from after its SOI (FF D8) through its SOS (FF DA).

    Wiping only the tables is not enough: ffmpeg then decodes with the previous frame's tables
    and hides the damage. Without a frame header the frame cannot decode at all. Chunk sizes in
    the AVI stay as they were, so the following frames are intact.
    """
    data = bytearray(path.read_bytes())
    start = jpeg_starts(data)[which]
    sos = data.index(b"\xff\xda", start)
    data[start + 2 : sos + 4] = bytes(sos + 2 - start)
    path.write_bytes(bytes(data))


def test_corrupt_frame_mid_video_is_skipped_and_counted(tmp_path: Path) -> None:
    """A damaged frame in the middle of a recording must not end the replay."""
    path = write_video(tmp_path / "damaged.avi", n=12)
    corrupt_jpeg_frame(path, which=6)
    src = open_source(path)
    frames = list(src)
    assert src.corrupt_frames >= 1
    assert [frame_level(f) for f in frames] == [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11]
    assert [f.frame_id for f in frames] == list(range(11))  # ids stay contiguous
    assert frames[6].name == "damaged#000007"  # names keep the position in the file


def test_video_fps_override(tmp_path: Path) -> None:
    src = open_source(write_video(tmp_path / "clip.avi", n=2), fps=7.5)
    assert src.fps == 7.5


# --- image folders -------------------------------------------------------------------------------


def test_folder_sorted_order_and_names(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "imgs", ["c.png", "a.jpg", "b.bmp"])
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    src = open_source(str(folder))
    assert isinstance(src, ImageFolder)
    assert (src.name, src.fps, src.frame_count) == ("imgs", 10.0, 3)
    frames = list(src)
    assert [f.name for f in frames] == ["a.jpg", "b.bmp", "c.png"]
    assert [frame_level(f) for f in frames] == [1, 2, 0]  # written in order c, a, b
    assert [f.frame_id for f in frames] == [0, 1, 2]
    assert all(f.source_name == "imgs" and f.image.shape == (H, W, 3) for f in frames)
    assert open_source(folder, fps=3).fps == 3


def test_folder_unreadable_image_is_skipped_and_counted(tmp_path: Path, caplog) -> None:
    folder = write_folder(tmp_path / "imgs", ["001.jpg", "002.jpg", "004.jpg"])
    (folder / "003.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    (folder / "005.png").write_bytes(b"")
    src = open_source(folder)
    with caplog.at_level(logging.WARNING):
        frames = list(src)
    assert [f.name for f in frames] == ["001.jpg", "002.jpg", "004.jpg"]
    assert [f.frame_id for f in frames] == [0, 1, 2]
    assert src.corrupt_frames == 2
    assert "003.jpg has no readable image header" in caplog.text
    assert "005.png is empty (0 bytes)" in caplog.text


# --- bad inputs ----------------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(SourceError, match=r"nope\.mp4.*not found"):
        open_source(str(missing))


def test_text_file_named_mp4(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_text("hello, I am not a video\n" * 20)
    with pytest.raises(SourceError, match=r"fake\.mp4.*could not be decoded"):
        open_source(fake)


@pytest.mark.parametrize(("suffix", "fourcc", "keep"), [(".avi", "MJPG", 0.1), (".mp4", "mp4v", 0.5)])
def test_truncated_video(tmp_path: Path, suffix: str, fourcc: str, keep: float) -> None:
    path = write_video(tmp_path / f"cut{suffix}", n=12, fourcc=fourcc)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])  # avi: headers only; mp4: no moov atom
    with pytest.raises(SourceError, match=rf"cut\{suffix}.*could not be decoded"):
        open_source(path)


def test_truncated_tail_ends_early_without_hanging(tmp_path: Path) -> None:
    """An avi cut inside frame 6 still opens; it ends where the data ends, failed reads counted."""
    path = write_video(tmp_path / "cut.avi", n=12)
    data = path.read_bytes()
    path.write_bytes(data[: jpeg_starts(data)[6] + 20])
    src = open_source(path)
    frames = list(src)
    assert [frame_level(f) for f in frames] == list(range(6))
    assert src.corrupt_frames >= 1  # the index promised 12 frames


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match=r"empty.*no images"):
        open_source(tmp_path / "empty")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("x")
    with pytest.raises(SourceError, match=r"docs.*no images"):
        open_source(tmp_path / "docs")


def test_unknown_scheme_lists_accepted_forms() -> None:
    with pytest.raises(SourceError, match=r"ftp://example.com/x.*rtsp://.*folder of images") as err:
        open_source("ftp://example.com/x")
    assert "synthetic://" in str(err.value)


def test_mcap_is_a_recording_source(tmp_path: Path) -> None:
    """`.mcap` opens as a recording (tests/test_mcap_source.py has the rest); a bare magic is no recording."""
    rec = tmp_path / "drive.mcap"
    rec.write_bytes(b"\x89MCAP0\r\n")
    with pytest.raises(SourceError, match=r"drive\.mcap: empty"):
        open_source(rec)
    with pytest.raises(SourceError, match=r"missing\.mcap: not found"):
        open_source(tmp_path / "missing.mcap")


def test_single_image_is_refused(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "imgs", ["one.png"])
    with pytest.raises(SourceError, match=r"one\.png.*folder"):
        open_source(folder / "one.png")


def test_bad_fps() -> None:
    with pytest.raises(ValueError, match="fps"):
        open_source("0", fps=0)


# --- live capture --------------------------------------------------------------------------------


def test_missing_camera_index_fails_fast() -> None:
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="99"):
        open_source("99")
    assert time.monotonic() - t0 < 5


def test_missing_device_path() -> None:
    with pytest.raises(SourceError, match=r"/dev/video97.*not found"):
        open_source("/dev/video97")


def test_unreachable_stream_fails_fast_and_hides_password() -> None:
    t0 = time.monotonic()
    with pytest.raises(SourceError, match=r"rtsp://\*\*\*@127\.0\.0\.1:9") as err:
        open_source("rtsp://admin:hunter2@127.0.0.1:9/stream")  # port 9 (discard): refused
    assert "hunter2" not in str(err.value)
    assert time.monotonic() - t0 < 8


@pytest.mark.timeout(10)  # a broken stall check hangs rather than fails
def test_live_capture_stalls_when_frames_stop(tmp_path: Path) -> None:
    """A real capture that runs dry (a file through the live reader) must raise CameraStalled."""
    path = write_video(tmp_path / "feed.avi", n=8)
    cam = LiveCapture(str(path), name="cam", stall_timeout_s=0.4)
    assert cam.is_live and cam.fps == 25.0 and cam.frame_count is None
    frames: list[Frame] = []
    t0 = time.monotonic()
    with pytest.raises(CameraStalled, match=r"cam.*stalled.*failed reads") as err:
        for frame in cam:
            frames.append(frame)
    elapsed = time.monotonic() - t0
    assert isinstance(err.value, SourceError)
    assert elapsed >= 0.35  # not before the timeout
    assert elapsed < 3.0  # and it does not hang
    assert len(frames) >= 1
    assert [f.frame_id for f in frames] == list(range(len(frames)))
    assert frames[0].name == "cam#000000" and frames[0].source_name == "cam"
    assert len(frames) + cam.dropped_frames == 8  # newest wins; the rest are counted as dropped

    cam.reopen()  # a supervisor's reconnect: the feed plays again and ids go on
    more = []
    with pytest.raises(CameraStalled):
        more.extend(cam)
    assert more and more[0].frame_id == len(frames)
    cam.close()


@pytest.mark.timeout(10)
def test_live_close_ends_a_blocked_iteration(tmp_path: Path) -> None:
    path = write_video(tmp_path / "feed.avi", n=3)
    cam = LiveCapture(str(path), stall_timeout_s=5.0)
    threading.Timer(0.3, cam.close).start()
    t0 = time.monotonic()
    got = list(cam)  # ends cleanly when closed, long before the 5 s stall timeout
    assert time.monotonic() - t0 < 3.0
    assert len(got) >= 1
    with pytest.raises(SourceError, match="closed"):
        list(cam)


# --- realtime pacing -----------------------------------------------------------------------------


def test_realtime_folder_is_paced_without_drift(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "imgs", [f"{i:02d}.png" for i in range(10)])
    src = open_source(folder, realtime=True, fps=50)
    assert isinstance(src, Paced) and src.fps == 50 and src.frame_count == 10 and src.name == "imgs"
    t0 = time.monotonic()
    frames = list(src)
    assert time.monotonic() - t0 >= 0.17  # 9 intervals of 20 ms
    assert len(frames) == 10
    start = frames[0].t_capture_mono_ns
    for i, f in enumerate(frames):  # each frame is released no earlier than its slot t0 + i/fps
        assert f.t_capture_mono_ns - start >= i * 20e6 - 1e6


def test_realtime_video_uses_recorded_rate(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", n=10, fps=50.0)
    src = open_source(path, realtime=True)
    t0 = time.monotonic()
    assert len(list(src)) == 10
    assert time.monotonic() - t0 >= 0.17


def test_paced_source_reports_inner_corrupt_frames(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "imgs", ["a.png", "c.png"])
    (folder / "b.png").write_bytes(b"junk")
    src = open_source(folder, realtime=True, fps=200)
    assert [f.name for f in src] == ["a.png", "c.png"]
    assert src.corrupt_frames == 1


# --- synthetic -----------------------------------------------------------------------------------


class _RecordingSource(FrameSource):
    """Stands in for hardware.sim's SyntheticSource: checks the registry's dispatch only."""

    def __init__(self, uri: str) -> None:
        super().__init__()
        self.uri, self.name, self.fps, self.truth = uri, "synth", 100.0, "ground truth"

    def __iter__(self):
        for i in range(3):
            yield Frame(make_image(i), i, time.monotonic_ns(), time.time_ns(), self.name, f"synth#{i:06d}")


def test_synthetic_dispatch_and_generic_pacing(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("gridscout.hardware.sim.synthetic_source")
    module.open_synthetic = _RecordingSource  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gridscout.hardware.sim.synthetic_source", module)
    plain = open_source("synthetic://line?seed=1")
    assert isinstance(plain, _RecordingSource) and plain.uri == "synthetic://line?seed=1"
    paced = open_source("synthetic://line", realtime=True)
    assert isinstance(paced, Paced) and isinstance(paced.inner, _RecordingSource)
    assert paced.truth == "ground truth"  # source-specific attributes pass through
    assert len(list(paced)) == 3


def test_synthetic_missing_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gridscout.hardware.sim.synthetic_source", None)
    with pytest.raises(SourceError, match=r"synthetic://x.*not available"):
        open_source("synthetic://x")


# --- resuming -------------------------------------------------------------------------------------


def test_a_file_source_resumes_at_a_frame_id(tmp_path: Path) -> None:
    """A restarted camera asks for frames from id N on: the same frames, ids and images as a full pass gives."""
    src = open_source(write_video(tmp_path / "v.avi", n=10))
    full = [(f.frame_id, f.name, f.image.tobytes()) for f in src]
    resumed = [(f.frame_id, f.name, f.image.tobytes()) for f in src.iter_from(6)]
    assert resumed == full[6:]
    assert [f.frame_id for f in src.iter_from(0)] == list(range(10))
    assert list(src.iter_from(99)) == []


def test_a_paced_source_skips_the_frames_before_a_resume_without_waiting_for_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resuming at frame 8 of a 10 fps file must not first sit through the 0.8 s of frames it will not send:
    the only pauses asked for are the periods after each of the two frames it does send (the source sleeps
    before each read, the one that finds the end included)."""
    paced = open_source(write_video(tmp_path / "v.avi", n=10, fps=10.0), realtime=True)
    slept: list[float] = []
    real_sleep = time.sleep
    monkeypatch.setattr(time, "sleep", lambda s: (slept.append(s), real_sleep(s)))
    frames = list(paced.iter_from(8))
    assert [f.frame_id for f in frames] == [8, 9]
    assert sum(slept) <= 2 * 0.1 + 1e-6


def test_a_synthetic_source_resumes_without_rendering_what_it_skips() -> None:
    from gridscout.hardware.sim.synthetic_source import SyntheticSource

    src = SyntheticSource("synthetic://demo?frames=5")
    assert [f.frame_id for f in src.iter_from(3)] == [3, 4]
    assert next(iter(src.iter_from(3))).image.tobytes() == src.render(3)[0].tobytes()
