"""`gridscout detect` as a user runs it: a real subprocess on files made in the test."""

import json
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest

from gridscout.edge.defaults import DEFAULT_MODEL, DEMO_FOOTAGE


def gridscout(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gridscout.edge.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def small_video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "flight.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    rng = np.random.default_rng(0)
    for i in range(8):
        frame = np.full((240, 320, 3), (200, 170, 120), np.uint8)  # sky
        cv2.rectangle(frame, (40 + 4 * i, 60), (70 + 4 * i, 200), (60, 90, 60), -1)
        writer.write(np.clip(frame + rng.integers(0, 8, frame.shape), 0, 255).astype(np.uint8))
    writer.release()
    return path


def test_detect_writes_video_jsonl_and_summary(small_video, tmp_path):
    out, jsonl, summary = tmp_path / "annotated.mp4", tmp_path / "d.jsonl", tmp_path / "s.json"
    result = gridscout(
        "detect", str(small_video), "--out", str(out), "--jsonl", str(jsonl), "--summary-json", str(summary)
    )
    assert result.returncode == 0, result.stderr
    assert "frames   8 in" in result.stdout and "frames/s" in result.stdout
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(8))
    assert lines[3]["name"] == "flight#000003"
    for record in lines:
        for det in record["detections"]:
            assert set(det) == {"class", "confidence", "box", "track_id", "geo"}
            assert det["geo"] is None  # a video carries no camera pose
            x1, y1, x2, y2 = det["box"]
            assert 0 <= x1 <= x2 <= 320 and 0 <= y1 <= y2 <= 240
    video = cv2.VideoCapture(str(out))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 8
    assert video.read()[1].shape == (240, 320, 3)
    stats = json.loads(summary.read_text())
    assert stats["frames"] == 8 and stats["model"] == tomllib.loads(DEFAULT_MODEL.read_text())["name"]


def test_default_source_is_the_bundled_demo():
    result = gridscout("detect", "--max-frames", "3", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "source   demo" in result.stdout and "frames   3 in" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.mp4"], "missing.mp4"),
        (["--model", "nope.onnx", "SRC"], "nope.onnx: model not found"),
        (["ftp://host/x"], "ftp://host/x"),
        (["SRC", "--out", "annotated.txt"], "annotated.txt: --out is an annotated video (a file ending .mp4"),
    ],
)
def test_bad_inputs_exit_2_with_a_message_naming_them(small_video, args, message):
    args = [str(small_video) if a == "SRC" else a for a in args]
    result = gridscout("detect", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0].startswith("gridscout detect: error:")  # ours first, no library noise


def test_corrupt_model_is_named(small_video, tmp_path):
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"not a model at all")
    result = gridscout("detect", str(small_video), "--model", str(bad))
    assert result.returncode == 2 and "corrupt.onnx: not a loadable ONNX model" in result.stderr


def test_bad_option_values_are_refused_by_the_parser(small_video):
    result = gridscout("detect", str(small_video), "--conf", "1.5")
    assert result.returncode == 2 and "expected a number in [0, 1], got 1.5" in result.stderr


def test_help_lists_the_source_forms():
    result = gridscout("detect", "--help")
    assert result.returncode == 0 and "synthetic://demo" in result.stdout and "--realtime" in result.stdout


def test_shipped_model_is_small_enough():
    manifest = tomllib.loads(DEFAULT_MODEL.read_text())
    files = [DEFAULT_MODEL.parent / manifest[stage]["model"] for stage in ("stage1", "stage2")]
    assert sum(f.stat().st_size for f in files) <= 15_000_000


@pytest.mark.slow
def test_a_folder_of_4k_survey_photos_needs_no_flags(tmp_path):
    """Scenario: `gridscout detect photos/` on 4000x2250 survey photos. No flag is needed: stage one also
    searches full-resolution tiles, so it finds strings a whole-frame pass shrinks to nothing, and the
    boxes come back in the photos' own pixels."""
    from gridscout.hardware.sim.synthetic_source import SyntheticSource

    photos = tmp_path / "photos"
    photos.mkdir()
    image, truth = SyntheticSource("synthetic://still?seed=7&frames=4&width=4000&height=2250").render(3)
    assert sum(b.class_name == "insulator" for b in truth) >= 5
    cv2.imwrite(str(photos / "DJI_0001.JPG"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    out = tmp_path / "dets.jsonl"
    result = gridscout("detect", str(photos), "--jsonl", str(out))
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["name"] == "DJI_0001.JPG"
    boxes = [d["box"] for d in record["detections"] if d["class"] == "insulator"]
    assert len(boxes) >= 3  # a whole-frame pass at 384 px finds almost none of them
    assert all(0 <= b[0] < b[2] <= 4000 and 0 <= b[1] < b[3] <= 2250 for b in boxes)
    assert max(b[2] for b in boxes) > 1280  # in photo pixels, not a tile's


def test_photos_of_a_folder_are_not_tracked_across(tmp_path):
    """Scenario: two survey photos of different towers. A tracker would join their strings into one track
    (it did: one track per class for a whole folder); the summary counts the photos showing each class."""
    from gridscout.hardware.sim.synthetic_source import SyntheticSource

    photos = tmp_path / "photos"
    photos.mkdir()
    source = SyntheticSource("synthetic://still?seed=7&frames=2")
    for i in range(2):
        cv2.imwrite(str(photos / f"IMG_{i}.jpg"), source.render(i)[0])
    out, summary = tmp_path / "dets.jsonl", tmp_path / "s.json"
    result = gridscout("detect", str(photos), "--jsonl", str(out), "--summary-json", str(summary))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(d["track_id"] is None for r in records for d in r["detections"])
    stats = json.loads(summary.read_text())
    assert stats["tracks"] is None and stats["photos_showing"]["insulator"] == 2
    assert "photos" in result.stdout.splitlines()[3]


@pytest.fixture(scope="module")
def mixed_photos(tmp_path_factory) -> Path:
    """Three photos of three sizes, as a survey with two cameras gives."""
    folder = tmp_path_factory.mktemp("photos")
    for i, (w, h) in enumerate([(320, 240), (400, 300), (600, 250)]):
        cv2.imwrite(str(folder / f"pole_{i}.jpg"), np.full((h, w, 3), 90 + 40 * i, np.uint8))
    return folder


def test_out_takes_a_video_of_photos_of_any_size_or_a_folder_of_annotated_photos(mixed_photos, tmp_path):
    """Photos of other sizes than the first were dropped from the video without a word; now letterboxed. A name
    without a suffix is a folder of annotated JPEGs named after their photos."""
    video, folder = tmp_path / "survey.mp4", tmp_path / "annotated"
    assert gridscout("detect", str(mixed_photos), "--out", str(video), "--no-progress").returncode == 0
    capture = cv2.VideoCapture(str(video))
    sizes = []
    while (frame := capture.read())[0]:
        sizes.append(frame[1].shape[:2])
    assert sizes == [(240, 320)] * 3
    assert gridscout("detect", str(mixed_photos), "--out", str(folder), "--no-progress").returncode == 0
    assert sorted(p.name for p in folder.iterdir()) == ["pole_0.jpg", "pole_1.jpg", "pole_2.jpg"]
    assert cv2.imread(str(folder / "pole_2.jpg")).shape[:2] == (250, 600)


def test_a_closed_pipe_is_quiet_and_ctrl_c_exits_130(mixed_photos):
    """`gridscout detect ... | true`: no 'Broken pipe' error, the status a shell gives (141). Ctrl-C in the
    middle of the bundled footage (paced as live): the summary so far, then 130."""
    # `true` leaves without reading, long before the model has loaded: the summary meets a closed pipe for sure
    # (with `head -1`, a pipe buffer could take the whole summary first)
    piped = subprocess.run(
        f"{sys.executable} -m gridscout.edge.cli detect {mixed_photos} --no-progress | true; "
        "echo status ${PIPESTATUS[0]} >&2",
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "rror" not in piped.stderr and "Traceback" not in piped.stderr, piped.stderr
    assert "status 141" in piped.stderr
    # a test run started in the background by a script inherits SIGINT ignored (as shells do for `cmd &`): the
    # child gets Ctrl-C's default back, as it would have at a terminal
    live = subprocess.Popen(
        [sys.executable, "-m", "gridscout.edge.cli", "detect", "--realtime", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    time.sleep(8.0)  # the model loads, frames go by at the footage's 10 fps
    live.send_signal(signal.SIGINT)
    out, err = live.communicate(timeout=60)
    assert live.returncode == 130, err[-2000:]
    assert "frames " in out and "interrupted after" in err


def test_a_truncated_video_gets_our_one_line_and_no_ffmpeg_noise(tmp_path):
    """FFmpeg's 'moov atom not found' once came before our line naming the file."""
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(DEMO_FOOTAGE.read_bytes()[:300_000])
    result = gridscout("detect", str(cut), "--no-progress")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"gridscout detect: error: {cut}: could not be decoded as a video (corrupt, "
                                          "truncated or not a video)"]  # fmt: skip


def test_a_dead_stream_and_a_missing_camera_get_our_one_line_and_no_opencv_noise():
    """OpenCV's '[ WARN ...] can't be used to capture by name' once came before our line naming a dead stream, and
    the line called the stream a camera that was busy. A closed port on loopback refuses at once; the password
    in the URL is not printed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the probe is: nothing listens there
    stream = gridscout("detect", f"rtsp://crew:secret@127.0.0.1:{port}/live", "--no-progress", timeout=60)
    assert stream.returncode == 2
    why = "host unreachable or offline, refused, or not a video stream"
    assert stream.stderr.splitlines() == [f"gridscout detect: error: could not open stream rtsp://***@127.0.0.1:{port}"
                                          f"/live ({why})"]  # fmt: skip
    camera = gridscout("detect", "97", "--no-progress", timeout=60)
    assert camera.returncode == 2
    assert camera.stderr.splitlines() == ["gridscout detect: error: could not open camera 97 (no such device, or it is "
                                          "busy or offline)"]  # fmt: skip
