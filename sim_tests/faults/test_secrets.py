"""A camera's password never leaves the command line: a run on an IP camera's MJPEG stream whose URI holds
`user:password@` prints, logs, publishes, records and stores everything without it, and its data is 0600.

The camera is real enough: an HTTP server on loopback streams frames of the bundled footage as
multipart/x-mixed-replace, as IP cameras do, and OpenCV reads it as it reads theirs.
"""

from __future__ import annotations

import http.server
import json
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import pytest

from gridscout.edge.defaults import DEMO_FOOTAGE

PASSWORD = "CamPass987"
FRAMES = 40


def _jpegs(n: int) -> list[bytes]:
    capture = cv2.VideoCapture(str(DEMO_FOOTAGE))
    frames = []
    while len(frames) < n:
        ok, image = capture.read()
        assert ok, f"{DEMO_FOOTAGE} has fewer than {n} frames"
        frames.append(cv2.imencode(".jpg", image)[1].tobytes())
    return frames


@contextmanager
def mjpeg_camera(frames: list[bytes], fps: float = 10.0) -> Iterator[str]:
    """An IP camera on loopback: each connection gets `frames` as an MJPEG stream; yields its address."""

    class Camera(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            for jpg in frames:
                head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}\r\n\r\n".encode()
                try:
                    self.wfile.write(head + jpg + b"\r\n")
                except OSError:
                    return
                time.sleep(1.0 / fps)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_a_cameras_password_is_in_no_output_of_a_run_and_its_data_is_private(tmp_path, record_property):
    data, summary = tmp_path / "data", tmp_path / "summary.json"
    with mjpeg_camera(_jpegs(FRAMES)) as address:
        source = f"http://camuser:{PASSWORD}@{address}/video.mjpg?password={PASSWORD}"
        run = subprocess.Popen(
            [sys.executable, "-m", "gridscout.edge.cli", "run", "--source", source, "--data", str(data),
             "--no-api", "--summary-json", str(summary)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        )  # fmt: skip
        time.sleep(2.0)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not _processed_enough(data):
            time.sleep(0.5)
        run.send_signal(signal.SIGINT)  # a live stream has no end: the crew's Ctrl-C
        out, err = run.communicate(timeout=60)
    printed = out + err
    assert PASSWORD not in printed, [line for line in printed.splitlines() if PASSWORD in line]
    assert "http://***@" in printed  # the `running ... on` line, redacted, not left out
    assert summary.is_file() and PASSWORD not in summary.read_text()
    assert json.loads(summary.read_text())["frames"] >= 10  # it did read the camera
    leaks = [p for p in data.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert not leaks, leaks  # logs, recordings (metadata, camera_status), the report store
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    loose = [p for p in data.rglob("*") if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert not loose, [(str(p), oct(stat.S_IMODE(p.stat().st_mode))) for p in loose]
    files = sum(1 for p in data.rglob("*") if p.is_file())
    record_property("figure", f"password in 0 of {files} data files, stdout, stderr, summary; all 0600 in a 0700 dir")


def _processed_enough(data: Path) -> bool:
    """The camera process has logged frames for a few seconds (its log grows as the stream is read)."""
    recordings = data / "recordings"
    return recordings.is_dir() and sum(p.stat().st_size for p in recordings.rglob("*.mcap")) > 2_000_000


@pytest.mark.slow
def test_an_http_source_follows_mode_replay_every_frame_and_the_run_ends_with_the_stream(tmp_path, record_property):
    """`--mode replay` on an http:// stream reads it as a file: every frame, lock-step, and the run ends when
    the stream does (it was always taken live: newest frame only, reconnecting forever)."""
    with mjpeg_camera(_jpegs(FRAMES)) as address:
        done = subprocess.run(
            [sys.executable, "-m", "gridscout.edge.cli", "run", "--source", f"http://{address}/video.mjpg",
             "--mode", "replay", "--data", str(tmp_path / "data"), "--no-api", "--summary-json",
             str(tmp_path / "summary.json")],
            capture_output=True, text=True, cwd=tmp_path, timeout=180,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["frames"] == FRAMES and summary["processed"] == FRAMES
    record_property("figure", f"--mode replay on an http:// stream: {FRAMES} of {FRAMES} frames, exit 0 at its end")
