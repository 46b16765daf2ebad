"""`gridscout batch` as a user runs it: real subprocesses on geotagged survey photos the simulator writes, a real
process pool, Ray started on this machine, real SQLite, real Ctrl-C and kill -9.

The three modes (this process, the local pool, Ray) must store the same reports (ids, classes, confidences,
positions, evidence) as each other and as `gridscout detect` (one code path for a photo), a re-run must double
nothing, and neither a corrupt photo, a killed worker nor Ctrl-C may lose or double a report.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import psutil
import pytest

from gridscout.edge.batch.ledger import FAILED_LIST, REPORTS_TABLE, TABLE
from gridscout.edge.defaults import DEMO_MISSION
from gridscout.edge.reports.store import DB_NAME
from gridscout.hardware.sim.survey_photos import write_survey_photos
from gridscout.hardware.sim.synthetic_source import SyntheticSource

DEVICE = "gs-batch-test"
#: survey photos of the demo flight: enough that a batch runs for a few seconds, so a kill lands in its middle
PHOTOS = 40
#: a photo without any metadata beside them: counted as without a position
PLAIN = "PLAIN.JPG"


def gridscout(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gridscout.edge.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def batch_args(source: Path, out: Path, *more: str) -> list[str]:
    return ["batch", str(source), "--out", str(out), "--device-id", DEVICE, "--mission", str(DEMO_MISSION),
            "--no-progress", "--summary-json", str(out.parent / f"{out.name}.json"), *more]  # fmt: skip


def summary_of(out: Path) -> dict:
    return json.loads((out.parent / f"{out.name}.json").read_text())


def stored(out: Path) -> list[tuple]:
    """Every report as stored: id, track key, class, confidence, position and its error, frame, evidence and box."""
    with sqlite3.connect(out / DB_NAME) as db:
        return db.execute(
            "SELECT r.id, r.track_key, r.class_name, r.confidence, r.lat, r.lon, r.alt, r.error_m, r.frame_id,"
            " e.sha256, e.x1, e.y1, e.x2, e.y2, e.px1, e.py1, e.px2, e.py2 FROM reports r"
            " LEFT JOIN evidence e ON e.report_id = r.id ORDER BY r.id"
        ).fetchall()


def observations(out: Path) -> set[int]:
    with sqlite3.connect(out / DB_NAME) as db:
        return {row[0] for row in db.execute("SELECT observations FROM reports")}


def done_items(out: Path) -> int:
    try:
        with sqlite3.connect(out / DB_NAME, timeout=5) as db:
            return db.execute(f"SELECT COUNT(*) FROM {TABLE} WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:  # not made yet
        return 0


@pytest.fixture(scope="module")
def survey(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("survey") / "flight-1"
    write_survey_photos(folder, photos=PHOTOS)
    cv2.imwrite(str(folder / PLAIN), SyntheticSource("synthetic://demo").render(150)[0])
    return folder


@pytest.fixture(scope="module")
def reference(survey, tmp_path_factory) -> Path:
    """The batch in one process (`--workers 1`): what every other way must store."""
    out = tmp_path_factory.mktemp("reference") / "one-process"
    result = gridscout(*batch_args(survey, out, "--workers", "1"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    summary = summary_of(out)
    assert summary["done"] == PHOTOS + 1 and summary["failed"] == 0
    assert summary["photos_without_position"] == 1  # PLAIN.JPG
    reports = stored(out)
    assert len(reports) >= 10 and summary["reports"] == len(reports)
    assert sum(r[4] is not None for r in reports) >= 10  # placed from the photos' own EXIF/XMP poses
    assert all(r[9] is not None for r in reports)  # each with its photo as evidence
    return out


@pytest.mark.parametrize("mode", [["--workers", "2"], ["--workers", "2", "--ray"]], ids=["pool", "ray"])
def test_the_pool_and_ray_store_the_reports_one_process_stores(survey, reference, tmp_path, mode):
    """Scenario: the same folder in one process, on the local pool and on Ray started here. The same reports: same
    ids, classes, confidences, positions and evidence; and Ray's own logging stays out of the output."""
    out = tmp_path / "out"
    result = gridscout(*batch_args(survey, out, *mode))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert stored(out) == stored(reference)
    summary = summary_of(out)
    assert (summary["done"], summary["workers"], summary["photos_without_position"]) == (PHOTOS + 1, 2, 1)
    assert ("Ray" in summary["engine"]) == ("--ray" in mode)
    assert result.stdout.splitlines()[0].startswith(f"batch    {PHOTOS + 1} items into {out}")


def test_batch_and_detect_store_a_photos_reports_alike(survey, reference, tmp_path):
    """One code path for a photo: `gridscout detect FOLDER --data` stores the reports `batch` stores (its store's own
    device id aside, which report ids follow: the track keys, classes, confidences and positions)."""
    data = tmp_path / "data"
    result = gridscout("detect", str(survey), "--data", str(data), "--mission", str(DEMO_MISSION), "--no-progress")
    assert result.returncode == 0, result.stderr

    def keyed(out: Path) -> list[tuple]:
        return sorted((r[1], r[2], r[3], r[4], r[5], r[7], r[9]) for r in stored(out))

    assert keyed(data) == keyed(reference)


def test_a_rerun_skips_what_is_done_and_doubles_nothing(reference, survey, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(reference, out)
    (survey / "DJI_0003.JPG").touch()  # touched, not changed: still done (its content hash says so)
    result = gridscout(*batch_args(survey, out))
    assert result.returncode == 0, result.stderr
    summary = summary_of(out)
    assert (summary["done"], summary["skipped"], summary["reports"]) == (0, PHOTOS + 1, 0)
    assert stored(out) == stored(reference) and observations(out) == {1}


def _start(survey: Path, out: Path, *mode: str) -> subprocess.Popen:
    """A batch in its own session (as a terminal's foreground job), Ctrl-C at its default even when this test run
    inherited it ignored."""
    return subprocess.Popen(
        [sys.executable, "-m", "gridscout.edge.cli", *batch_args(survey, out, *mode)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def _when(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _workers(process: subprocess.Popen, mark: str) -> list[psutil.Process]:
    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in family:
        try:
            if mark in f"{child.name()} {' '.join(child.cmdline())}":
                found.append(child)
        except psutil.Error:
            pass
    return found


@pytest.mark.slow  # a batch killed under and run again (CI runs it): the default run keeps the mode comparison
def test_kill_9_of_a_pool_worker_loses_and_doubles_nothing(survey, reference, tmp_path):
    """Scenario: the out-of-memory killer takes one of the pool's workers mid-batch. A new pool runs the items it had
    in hand again; every item is done and the reports are those of the reference, each written once."""
    out = tmp_path / "out"
    batch = _start(survey, out, "--workers", "2")
    _when(lambda: done_items(out) >= 3 and len(_workers(batch, "spawn_main")) == 2)
    _workers(batch, "spawn_main")[0].kill()
    _, stderr = batch.communicate(timeout=240)
    assert batch.returncode == 0, stderr
    assert "a worker process died" in stderr  # the kill landed mid-batch
    assert summary_of(out)["done"] == PHOTOS + 1
    assert stored(out) == stored(reference) and observations(out) == {1}


@pytest.mark.slow  # a batch stopped and run again (CI runs it)
def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(survey, reference, tmp_path):
    """Scenario: Ctrl-C at the terminal mid-batch (the whole foreground process group gets it). The batch stops at
    once: summary, 130, no worker left; each item's reports stored whole or not at all. The same command again does
    the rest, and the store ends as the reference."""
    out = tmp_path / "out"
    batch = _start(survey, out, "--workers", "2")
    _when(lambda: done_items(out) >= 3 and len(_workers(batch, "spawn_main")) == 2)
    workers = _workers(batch, "spawn_main")
    os.killpg(batch.pid, signal.SIGINT)
    stdout, stderr = batch.communicate(timeout=60)
    assert batch.returncode == 130, stderr
    assert ", interrupted" in stdout.splitlines()[1]
    assert stderr.splitlines()[-1].startswith("gridscout batch: interrupted after")
    assert "Traceback" not in stderr
    psutil.wait_procs(workers, timeout=10)
    assert not any(w.is_running() for w in workers)
    first = summary_of(out)
    assert 3 <= first["done"] < PHOTOS + 1
    again = gridscout(*batch_args(survey, out, "--workers", "2"))
    assert again.returncode == 0, again.stderr
    assert summary_of(out)["skipped"] == first["done"]
    assert stored(out) == stored(reference) and observations(out) == {1}


def test_a_corrupt_photo_is_listed_and_the_others_are_done(survey, tmp_path):
    """Scenario: a photo cut short in a copy and a file that is not an image among good photos. Both are tried again,
    then listed with their errors; the good ones are done; exit 1 with one line saying where the list is."""
    folder = tmp_path / "flight"
    folder.mkdir()
    for name in ("DJI_0010.JPG", "DJI_0011.JPG"):
        shutil.copy(survey / name, folder / name)
    (folder / "DJI_0012.JPG").write_bytes((survey / "DJI_0012.JPG").read_bytes()[:3000])
    (folder / "notes.jpg").write_text("not a photo")
    out = tmp_path / "out"
    result = gridscout(*batch_args(folder, out, "--workers", "1"))
    assert result.returncode == 1
    failed_list = out / FAILED_LIST
    assert result.stderr.splitlines()[-1] == f"gridscout batch: error: 2 items failed, listed in {failed_list}"
    listed = dict(line.split("\t") for line in failed_list.read_text().splitlines())
    assert listed == {
        str(folder.resolve() / "DJI_0012.JPG"): "could not be decoded",
        str(folder.resolve() / "notes.jpg"): "has no readable image header",
    }
    assert f"FAILED   {folder.resolve() / 'notes.jpg'}: has no readable image header" in result.stdout
    summary = summary_of(out)
    assert (summary["done"], summary["failed"]) == (2, 2)
    with sqlite3.connect(out / DB_NAME) as db:
        tries = dict(db.execute(f"SELECT path, tries FROM {TABLE} WHERE status = 'failed'").fetchall())
    assert set(tries.values()) == {2}
    shutil.copy(survey / "DJI_0012.JPG", folder / "DJI_0012.JPG")  # a good copy this time
    (folder / "notes.jpg").unlink()
    again = gridscout(*batch_args(folder, out, "--workers", "1"))
    assert again.returncode == 0, again.stderr
    assert (summary_of(out)["done"], summary_of(out)["skipped"]) == (1, 2)
    assert not failed_list.exists()


def _footage(folder: Path) -> tuple[Path, Path]:
    """A short drone pass past defects, as a video file and as a GridScout recording (.mcap)."""
    from gridscout.edge.recording.policy import RecorderSettings
    from gridscout.edge.recording.recorder import Recorder
    from gridscout.hardware.camera import open_source

    uri = "synthetic://drone?seed=5&frames=24&defect_rate=1"
    video = folder / "pass.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    settings = RecorderSettings(segment_max_s=3600.0, segment_max_mb=1024.0, chunk_max_s=10.0, chunk_max_kb=256.0,
                                fsync=False, jpeg_quality=90, max_total_mb=1024.0, reserve_mb=0.0)  # fmt: skip
    recorder = Recorder(folder / "recording", settings, run_id="pass")
    from gridscout.edge.runtime.messages import FrameMeta

    for frame in open_source(uri):
        writer.write(frame.image)
        recorder.record("frames", FrameMeta.of(frame, frame_id=frame.frame_id, t_source_s=frame.frame_id / 10),
                        frame.image)  # fmt: skip
    writer.release()
    recorder.close()
    (recording,) = recorder.finished
    return video, recording


@pytest.mark.slow  # footage and a recording rendered and inspected, and detect on each (CI runs it)
def test_videos_and_recordings_are_tracked_items_named_in_a_list_file(survey, tmp_path):
    """Scenario: a list file names a video, a recording and two photos (one of them twice, with comments). Each video
    and recording is one item whose defects are tracked into reports as `gridscout detect` makes them; every report
    says which file it came from."""
    video, recording = _footage(tmp_path)
    listing = tmp_path / "season.txt"
    listing.write_text(f"# June\n{video.name}\n{recording}  # the crawler's\n\n{survey}/DJI_0020.JPG\n"
                       f"{survey / 'DJI_0020.JPG'}\n{survey}/DJI_0021.JPG\n")  # fmt: skip
    out = tmp_path / "out"
    result = gridscout(*batch_args(listing, out, "--workers", "2"))
    assert result.returncode == 0, result.stderr
    summary = summary_of(out)
    assert (summary["items"], summary["photos"], summary["footage"], summary["footage_frames"]) == (4, 2, 2, 48)
    with sqlite3.connect(out / DB_NAME) as db:
        sources = dict(db.execute(f"SELECT report_id, path FROM {REPORTS_TABLE}").fetchall())
    reports = stored(out)
    assert {r[0] for r in reports} == set(sources)
    footage = [r for r in reports if sources[r[0]] in (str(video.resolve()), str(recording.resolve()))]
    assert footage and all(not r[1].startswith("photo:") for r in footage)
    data = tmp_path / "detect"
    assert gridscout("detect", str(video), "--data", str(data), "--no-progress").returncode == 0
    from_video = sorted(r[1:4] for r in reports if sources[r[0]] == str(video.resolve()))
    assert from_video and from_video == sorted(r[1:4] for r in stored(data))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nowhere/survey"], "/nowhere/survey: not found; expected a folder, a photo ("),
        (["{tmp}/empty"], "{tmp}/empty: no photos, videos or .mcap recordings in this folder or below it"),
        (["{tmp}/list.txt"], "{tmp}/list.txt:2: gone.jpg: not found; expected a folder"),
    ],
)
def test_bad_input_is_named_before_anything_starts(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "list.txt").write_text("# nothing yet\ngone.jpg\n")
    argv = [a.format(tmp=tmp_path) for a in args]
    result = gridscout("batch", *argv, "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("gridscout batch: error: " + message.format(tmp=tmp_path))
    assert not (tmp_path / "out").exists()


def test_help_says_how_to_run_resume_and_scale_out():
    result = gridscout("batch", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for needle in ("--workers", "--ray", "ADDRESS", "--out", "resumes", "list.txt", "Exit status", "batch-failed.txt"):
        assert needle in text, needle
    assert "batch" in gridscout("--help").stdout
    assert gridscout("batch", "x", "--out", "y", "--workers", "0").returncode == 2


@pytest.mark.slow
def test_kill_9_of_a_ray_worker_loses_and_doubles_nothing(survey, reference, tmp_path):
    """Scenario: one of Ray's worker processes is killed mid-batch. Ray restarts the actor (the model loaded again)
    and runs its calls again; every item is done, the reports are the reference's, and Ray says nothing."""
    out = tmp_path / "out"
    batch = _start(survey, out, "--workers", "2", "--ray")
    _when(lambda: done_items(out) >= 3 and len(_workers(batch, "BatchWorker")) == 2)
    _workers(batch, "BatchWorker")[0].kill()
    _, stderr = batch.communicate(timeout=240)
    assert batch.returncode == 0, stderr
    assert stderr == ""
    assert summary_of(out)["done"] == PHOTOS + 1
    assert stored(out) == stored(reference) and observations(out) == {1}
