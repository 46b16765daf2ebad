"""The whole chain as a field crew runs it: `gridscout run` as separate processes over real ZeroMQ
sockets, a crawler simulator on a real pty, real SQLite and the fleet API on loopback."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import signal
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import psutil
import pytest

from gridscout.control.types import Mode
from gridscout.edge.defaults import DEMO_FOOTAGE
from gridscout.edge.reports.store import ReportStore
from gridscout.edge.runtime.messages import CameraStatus, FrameDetections, VehicleCommand
from sim_tests.chain import Chain

TRUTH = DEMO_FOOTAGE.with_suffix(".truth.jsonl")
STOP_BAR_S = 0.5


def _truth_defect_frames() -> set[int]:
    rows = [json.loads(line) for line in TRUTH.read_text().splitlines()]
    return {r["frame"] for r in rows if any(b["class"] != "insulator" for b in r["boxes"])}


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class DemoRun:
    chain: Chain
    rc: int
    #: the frame ids of the detections perception published
    seen: list[int]
    http: dict[str, int]
    #: control's commands as it published them: speed, mode, reason and the frame behind each
    commands: list[VehicleCommand]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The default job on the bundled footage, live, watched from outside over the bus and the API."""
    tmp = tmp_path_factory.mktemp("demo")
    chain = Chain(tmp, source=str(DEMO_FOOTAGE))
    bus = chain.subscribe(["detections", "vehicle_command"])
    api = f"http://127.0.0.1:{chain.api_port}"
    seen: list[int] = []
    commands: list[VehicleCommand] = []
    http: dict[str, int] = {}
    try:
        while chain.proc.poll() is None:
            received = bus.recv(0.1)
            if received is not None and isinstance(received.msg, FrameDetections):
                seen.append(received.msg.frame_id)
            elif received is not None and isinstance(received.msg, VehicleCommand):
                commands.append(received.msg)
            if not http and seen:
                http["health"] = _get(f"{api}/v1/health")[0]
                http["no_token"] = _get(f"{api}/v1/reports")[0]
                http["wrong_token"] = _get(f"{api}/v1/reports", "nope")[0]
                http["token"] = _get(f"{api}/v1/reports", "test-token")[0]
        commands += [r.msg for r in bus.drain() if isinstance(r.msg, VehicleCommand)]
        rc = chain.wait()
        yield DemoRun(chain, rc, seen, http, commands)
    finally:
        chain.close()


def test_default_run_ends_with_the_footage_and_prints_a_summary(demo_run):
    """Scenario: bundled footage, shipped model, simulated crawler. The run ends on its own when the
    footage ends and prints frames, defects, commands, stops and faults."""
    chain, rc, seen = demo_run.chain, demo_run.rc, demo_run.seen
    out = chain.stdout()
    assert rc == 0, chain.stderr()[-3000:]
    assert "frames     260 published" in out
    for line in ("defects", "commands", "faults", "restarts"):
        assert line in out
    assert len(seen) >= 200  # live mode may drop a few, never most


def test_crawler_slows_or_holds_at_the_footage_defects(demo_run):
    """Scenario: the crawler cruises, and slows (or holds) where the footage shows a missing cap.
    Each time control leaves cruise for a defect (APPROACH or HOLD), the frame behind that command must
    show a true defect or follow one within 30 frames (from the renderer's ground truth). Any other drop
    from cruise must be the speed cap that follows a falling frame rate (a loaded machine), and say so.
    The simulator's own log must show the crawler cruising and then getting the slow speed."""
    cmds = demo_run.commands
    for_defect = {str(Mode.APPROACH), str(Mode.HOLD)}
    entries = [b for a, b in itertools.pairwise(cmds) if a.mode not in for_defect and b.mode in for_defect]
    assert entries, "control never slowed down for a defect"
    truth = _truth_defect_frames()
    for cmd in entries:
        near = truth & set(range(cmd.frame_id - 30, cmd.frame_id + 1))
        assert near, f"{cmd.mode} at frame {cmd.frame_id} with no defect in view: {cmd.reason}"
    cruise = max(c.speed_mps for c in cmds)
    assert cruise == pytest.approx(0.5)
    for a, b in itertools.pairwise(cmds):
        if b.mode not in for_defect and not b.stop and a.speed_mps >= cruise > b.speed_mps:
            assert "capped at" in b.reason, f"left cruise at frame {b.frame_id} for no defect: {b.reason}"
    on_wire = [c for c in demo_run.chain.commands() if c["type"] == "set_speed"]
    assert max(c["speed_mps"] for c in on_wire) == pytest.approx(cruise)
    after = [c["speed_mps"] for c in on_wire if c["t_mono"] > entries[0].t_mono_ns / 1e9]
    assert min(after) <= 0.15 + 1e-6


def test_reports_are_stored_with_decodable_evidence(demo_run):
    """Scenario: after the run, the store holds the defects as reports with a JPEG and its box."""
    chain = demo_run.chain
    with ReportStore(chain.data, create=False) as store:
        reports = store.list(0, 1000)
        assert reports
        for report in reports:
            assert report.class_name == "missing_cap"
            assert len(report.model_sha256) == 64
            assert report.device_id == "test-box"
            assert report.has_evidence
            image = cv2.imdecode(np.frombuffer(store.evidence(report.id), np.uint8), cv2.IMREAD_COLOR)
            assert image is not None and image.shape == (480, 640, 3)
            x1, y1, x2, y2 = report.box_xyxy
            assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
        assert [r.seq for r in reports] == sorted(r.seq for r in reports)


def test_fleet_api_is_up_during_the_run_and_needs_the_token(demo_run):
    """Scenario: while the chain runs, health answers without a token; reports need it (401 otherwise)."""
    http = demo_run.http
    assert http == {"health": 200, "no_token": 401, "wrong_token": 401, "token": 200}


def _first_stop_after(chain: Chain, t: float) -> float | None:
    stops = [c["t_mono"] for c in chain.commands() if c["type"] == "stop" and c["t_mono"] > t]
    return min(stops) if stops else None


@pytest.mark.slow
def test_perception_killed_is_restarted_and_the_vehicle_stops_within_half_a_second(tmp_path):
    """Scenario: mid-run, perception is killed with SIGKILL. Control sees perception go stale and a
    STOP reaches the crawler within 0.5 s; the supervisor restarts perception and the run completes."""
    chain = Chain(tmp_path, source="synthetic://demo?frames=300")
    try:
        chain.wait_for(chain.moving, 90, "the crawler to cruise")
        os.kill(chain.pid_of("perception"), signal.SIGKILL)
        killed = time.monotonic()
        chain.wait_for(lambda: _first_stop_after(chain, killed) is not None, 5, "a stop command")
        assert _first_stop_after(chain, killed) - killed <= STOP_BAR_S
        chain.wait_for(chain.moving, 60, "the crawler to cruise again after the restart")
        assert chain.wait() == 0
        assert "perception 1" in chain.stdout()  # the restarts line of the summary
    finally:
        chain.close()


@pytest.mark.slow
def test_vehicle_link_dropped_the_crawler_failsafe_stops_it_and_the_driver_comes_back(tmp_path):
    """Scenario: the vehicle driver process is killed (the serial link goes silent). The crawler's own
    heartbeat failsafe stops it within 0.5 s; the supervisor restarts the driver, which reconnects."""
    chain = Chain(tmp_path, source="synthetic://demo?frames=300")
    try:
        chain.wait_for(chain.moving, 90, "the crawler to cruise")
        os.kill(chain.pid_of("vehicle"), signal.SIGKILL)
        killed = time.monotonic()

        def failsafe() -> list[dict]:
            return [e for e in chain.sim_log() if e["event"] == "failsafe" and e["t_mono"] > killed]

        chain.wait_for(lambda: bool(failsafe()), 5, "the crawler failsafe")
        assert failsafe()[0]["t_mono"] - killed <= STOP_BAR_S
        chain.wait_for(
            lambda: any(e["event"] == "hello" and e["t_mono"] > killed for e in chain.sim_log()), 30, "a new handshake"
        )
        assert chain.wait() == 0
        assert "vehicle 1" in chain.stdout()
    finally:
        chain.close()


REPLAY_SOURCE = "synthetic://demo?frames=120"


def _replay(run_dir: Path, kill: str | None = None, at_frame: int = 40) -> tuple[list, Chain]:
    """A lock-step replay of REPLAY_SOURCE; with `kill`, that chain process is killed -9 once perception
    has published detections for `at_frame`. Returns the reports (id, class, confidence, best frame)."""
    run_dir.mkdir()
    chain = Chain(run_dir, source=REPLAY_SOURCE, mode="replay", extra={"api": {"enabled": False}})
    try:
        if kill:
            detections = chain.subscribe(["detections"])
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and chain.proc.poll() is None:
                received = detections.recv(0.1)
                if received is not None and received.msg.frame_id >= at_frame:
                    os.kill(chain.pid_of(kill), signal.SIGKILL)
                    break
            else:
                raise AssertionError(f"the replay never reached frame {at_frame}:\n{chain.stderr()[-3000:]}")
        assert chain.wait() == 0, chain.stdout() + chain.stderr()[-3000:]
        assert "frames     120 published, 120 processed; dropped: 0 by the camera, 0 by perception" in chain.stdout()
        with ReportStore(chain.data, create=False) as store:
            reports = sorted((r.id, r.class_name, round(r.confidence, 5), r.frame_id) for r in store.list(0, 1000))
        return reports, chain
    finally:
        chain.close()


@pytest.fixture(scope="module")
def replay_reference(tmp_path_factory) -> list:
    """The undisturbed replay every disturbed one is compared with."""
    reports, _ = _replay(tmp_path_factory.mktemp("reference") / "run")
    assert reports, "no reports: the replay found no defects"
    return reports


def test_replay_gives_the_same_reports_twice(tmp_path, replay_reference):
    """Scenario: the same footage replayed twice (lock-step, every frame) gives the same reports:
    same ids, classes, confidences and best frames."""
    reports, _ = _replay(tmp_path / "again")
    assert reports == replay_reference


@pytest.mark.parametrize(
    "process",
    [
        "perception",
        *(
            pytest.param(p, marks=pytest.mark.slow)
            for p in ("camera", "vehicle_sim", "reporter", "control", "vehicle", "recorder")
        ),
    ],
)
def test_a_process_killed_mid_replay_leaves_the_reports_unchanged(tmp_path, replay_reference, process, record_property):
    """Scenario: kill -9 of a chain process a third of the way through a replay. The supervisor restarts it;
    a restarted camera resumes at the oldest unacknowledged frame, a restarted perception replays its journal
    into the tracker and goes on with the same track ids (it once started new ones, and every defect in view
    was reported twice), a restarted simulator relinks its pty and the vehicle process reconnects, a
    restarted reporter catches up from perception's journal on what was published while it was down (a defect
    wholly in that time was once lost: the replay runs at full speed, up to 50 frames a second). The run
    completes, every frame is processed once, the reports are those of an undisturbed replay (ids, classes,
    confidences, best frames; none lost or doubled), and the summary counts them from the store (a restarted
    reporter's memory once left it at 0 reports while the store held 4). The time from the failure to the process
    being ready again is printed, not judged."""
    reports, chain = _replay(tmp_path / "run", kill=process)
    assert reports == replay_reference
    assert chain.summary()["reports_created"] == len(reports)
    name = process.replace("_", "-")
    assert chain.summary()["restarts"][name] == 1
    outage = chain.summary()["outages_s"][name]
    record_property(
        "figure",
        f"kill -9 {process}: ready again in {outage:.2f} s; {len(reports)} reports, 0 lost, 0 doubled against an "
        "undisturbed replay",
    )
    if process == "camera":
        assert "resuming at frame" in (chain.data / "logs" / "camera.log").read_text()
    elif process == "vehicle_sim":
        assert chain.summary()["vehicle"]["handshakes"] >= 2
    if process == "reporter":  # a defect seen only while it was down has no image, and the summary says so
        assert "caught up on" in (chain.data / "logs" / "reporter.log").read_text()
        with ReportStore(chain.data, create=False) as store:
            bare = sum(not r.has_evidence for r in store.list(0, 1000))
        assert chain.summary()["reports_without_evidence"] == bare
    else:
        assert chain.summary()["reports_without_evidence"] == 0


def test_stalled_camera_is_noticed_reconnected_and_ctrl_c_stops_the_vehicle_first(tmp_path: Path):
    """Scenario: a 'live camera' (a file played as one) stops delivering frames. The camera process
    publishes `stalled` within the stall timeout, reconnects and streams again. Then Ctrl-C: the
    crawler gets a STOP before the chain exits."""
    chain = Chain(
        tmp_path,
        source=str(DEMO_FOOTAGE),
        extra={"camera": {"live_source": True, "stall_timeout_s": 1.0, "reconnect_initial_s": 0.2}},
    )
    status = chain.subscribe(["camera_status", "frames"])
    states: list[tuple[float, str]] = []
    last_frame = 0.0
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and chain.proc.poll() is None:
            received = status.recv(0.1)
            if received is None:
                continue
            if received.topic == "frames":
                last_frame = time.monotonic()
            elif isinstance(received.msg, CameraStatus):
                if not states or states[-1][1] != received.msg.state:
                    states.append((time.monotonic(), received.msg.state))
                    if received.msg.state == "stalled":
                        assert time.monotonic() - last_frame <= 1.0 + 1.0
                if [s for _, s in states][-3:] == ["stalled", "reconnecting", "streaming"]:
                    break
        names = [s for _, s in states]
        assert "stalled" in names and names[-1] == "streaming", names
        chain.proc.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        assert chain.proc.wait(30) == 130, chain.stderr()[-3000:]  # as a shell gives a command Ctrl-C ended
        stops = [c for c in chain.commands() if c["type"] == "stop" and c["t_mono"] > interrupted]
        assert stops, "no STOP reached the crawler on Ctrl-C"
        assert "camera reconnects" in chain.stdout()
    finally:
        chain.close()


def test_kill_9_of_gridscout_run_leaves_no_orphan(tmp_path):
    """Scenario: the supervisor itself is killed -9 (power-button reboot scripts, an OOM kill). Every chain
    process, the crawler simulator included, goes with it within a few seconds: nothing holds the serial
    port, the bus sockets or the API port afterwards."""
    chain = Chain(tmp_path, source="synthetic://demo?frames=300")
    try:
        chain.wait_for(chain.moving, 90, "the crawler to cruise")
        children = psutil.Process(chain.proc.pid).children(recursive=True)
        names = {" ".join(c.cmdline()) for c in children}
        assert any("vehicle_simd" in n for n in names) and any("camerad" in n for n in names)
        chain.proc.kill()
        chain.proc.wait()
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, [" ".join(p.cmdline()) for p in alive]
    finally:
        for child in psutil.Process().children(recursive=True):
            if child.pid != os.getpid() and "gridscout" in " ".join(child.cmdline()):
                child.kill()
        chain.close()


def test_shutdown_while_the_vehicle_process_waits_for_its_restart_still_sends_stop(tmp_path):
    """Scenario: the vehicle process has crashed and its restart is seconds away when the crew presses
    Ctrl-C. A STOP still reaches the crawler (from a vehicle process started just for that), acknowledged."""
    chain = Chain(tmp_path, source="synthetic://demo?frames=300", extra={"supervisor": {"restart_initial_s": 8.0}})
    try:
        chain.wait_for(chain.moving, 90, "the crawler to cruise")
        os.kill(chain.pid_of("vehicle"), signal.SIGKILL)
        time.sleep(1.0)  # the crawler's failsafe has fired; the supervisor waits 8 s to restart the vehicle
        interrupted = time.monotonic()
        chain.proc.send_signal(signal.SIGINT)
        chain.proc.wait(30)
        stops = [c for c in chain.commands() if c["type"] == "stop" and c["t_mono"] > interrupted]
        assert stops, "no STOP reached the crawler on shutdown"
        vehicle_log = (chain.data / "logs" / "vehicle.log").read_text()
        assert "started to stop the vehicle during shutdown" in vehicle_log
        assert "vehicle stopped (acknowledged)" in vehicle_log.split("started to stop the vehicle")[-1]
    finally:
        chain.close()


CHAOS_PROCESSES = ("camera", "perception", "control", "vehicle", "reporter", "vehicle_sim")
#: the frames of the bundled footage, and those the kills are spread over (the rest run on after the last)
CHAOS_FRAMES, CHAOS_KILLS = 260, 8
CHAOS_KILL_AT = [25 * (k + 1) for k in range(CHAOS_KILLS)]


@pytest.mark.slow
def test_kill_9_of_a_random_process_again_and_again_never_hangs_a_replay(tmp_path):
    """Scenario (the field report): during a replay of the bundled footage, a random chain process is killed
    -9, 8 times in a row (every 25 frames perception publishes: paced by the replay's progress, not the clock,
    which a quick machine's replay once outran). The run must finish on its own (no hang) within a few minutes,
    with every frame published and reports stored."""
    rng = random.Random(7)
    chain = Chain(tmp_path, source=str(DEMO_FOOTAGE), mode="replay", extra={"api": {"enabled": False}})
    detections = chain.subscribe(["detections"])
    kills: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while len(kills) < CHAOS_KILLS and chain.proc.poll() is None and time.monotonic() < deadline:
            received = detections.recv(0.1)
            if received is None or received.msg.frame_id < CHAOS_KILL_AT[len(kills)]:
                continue
            victim = rng.choice(CHAOS_PROCESSES)
            with contextlib.suppress(AssertionError, ProcessLookupError):  # it may be between restarts
                os.kill(chain.pid_of(victim, timeout_s=2), signal.SIGKILL)
                kills.append(victim)
        chain.proc.wait(240)
        summary = chain.summary()
        assert len(kills) == CHAOS_KILLS, f"the run ended after {len(kills)} kills ({kills})"
        assert summary["frames"] == CHAOS_FRAMES and summary["reports_created"] > 0, chain.stdout()
        assert sum(summary["restarts"].values()) >= CHAOS_KILLS
    finally:
        chain.close()


@pytest.mark.slow
def test_a_camera_killed_in_live_mode_resumes_and_the_run_still_ends(tmp_path):
    """Scenario: live mode (frames paced at 10 fps) and the camera process is killed -9. Its restart picks the
    footage up where it was, frame ids run on (perception drops nothing it has not seen), and the run ends
    with the footage as usual."""
    chain = Chain(tmp_path, source="synthetic://demo?frames=150", extra={"api": {"enabled": False}})
    detections = chain.subscribe(["detections"])
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            received = detections.recv(0.1)
            if received is not None and received.msg.frame_id >= 40:
                os.kill(chain.pid_of("camera"), signal.SIGKILL)
                break
        assert chain.wait(120) == 0, chain.stdout() + chain.stderr()[-3000:]
        summary = chain.summary()
        assert summary["restarts"]["camera"] == 1 and summary["frames"] == 150
        assert "resuming at frame" in (chain.data / "logs" / "camera.log").read_text()
    finally:
        chain.close()
