"""The crawler simulator as a real process on a real pty (and ZeroMQ socket), driven by CrawlerDriver."""

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gridscout.control.vehicle import VehicleState
from gridscout.hardware.crawler import CrawlerDriver
from gridscout.hardware.crawler.protocol import SetSpeed, encode
from sim_tests.chain import free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(30)


class SimProcess:
    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.log = tmp_path / "crawler.jsonl"
        self.stderr = (tmp_path / "crawler.stderr").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridscout.hardware.sim.crawler", "--log", str(self.log), *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        assert ready, "the simulator printed nothing within 10 s"
        self.url = self.proc.stdout.readline().strip()

    def events(self, name: str | None = None) -> list[dict]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        records = [json.loads(line) for line in lines]
        return [r for r in records if name is None or r["event"] == name]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(5)
        finally:
            self.stderr.close()


@pytest.fixture
def start_sim(tmp_path):
    started: list[SimProcess] = []

    def start(*args: str) -> SimProcess:
        started.append(SimProcess(tmp_path, *args))
        return started[-1]

    yield start
    for sim in started:
        if sim.proc.poll() is None:
            sim.proc.kill()
            sim.proc.wait()
        sim.stderr.close()


def serve(driver: CrawlerDriver, seconds: float, until: Callable[[], bool] = lambda: False) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        driver.service(0.02)


def acked(driver: CrawlerDriver) -> Callable[[], bool]:
    return lambda: not driver.pending_seqs


def wait_for_commands(sim: SimProcess, count: int, timeout_s: float = 10.0) -> None:
    """The host's CLOSE is sent and not answered: on a busy machine the sim logs it a moment later, so wait for
    `count` logged commands (bounded) before stopping the sim, rather than race it."""
    deadline = time.monotonic() + timeout_s
    while len(sim.events("command")) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_drive_along_the_line_and_stop(start_sim):
    """Handshake over the pty, drive at 1 m/s: position advances at about 1 m/s; STOP brings it to rest in STOPPED.
    Both commands appear in the JSON log with their seqs."""
    sim = start_sim("--accel", "5")
    assert sim.url.startswith("/dev/")
    driver = CrawlerDriver(sim.url)
    try:
        driver.handshake()
        go = driver.command_speed(1.0)
        serve(driver, 0.6)
        p0, t0 = driver.telemetry.position_m, driver.telemetry.t_rx_mono_ns
        serve(driver, 1.0)
        p1, t1 = driver.telemetry.position_m, driver.telemetry.t_rx_mono_ns
        assert (p1 - p0) / ((t1 - t0) / 1e9) == pytest.approx(1.0, abs=0.1)
        assert driver.telemetry.state == VehicleState.MOVING and driver.telemetry.last_cmd_seq == go
        halt = driver.stop()
        serve(driver, 1.0, until=lambda: driver.telemetry.speed_mps == 0.0 and driver.telemetry.last_cmd_seq == halt)
        assert driver.telemetry.state == VehicleState.READY and driver.telemetry.speed_mps == 0.0
        assert driver.link_ok and driver.decoder_counts["crc_errors"] == 0
    finally:
        driver.close()
    wait_for_commands(sim, 3)
    assert sim.stop() == 0
    commands = [(e["type"], e["seq"]) for e in sim.events("command")]
    assert commands[:2] == [("set_speed", go), ("stop", halt)] and commands[2][0] == "close"  # the host's last word
    assert sim.events("hello") and len(sim.events("state")) >= 2


def test_failsafe_when_heartbeats_stop(start_sim):
    """The host goes silent while the crawler moves: within 0.5 s of the last host frame the sim is in FAILSAFE and
    has logged it; when the host comes back it still reports FAILSAFE at rest until a new command resumes motion."""
    sim = start_sim("--accel", "5")
    driver = CrawlerDriver(sim.url)
    try:
        driver.handshake()
        driver.command_speed(0.5)
        serve(driver, 0.5)
        last_host_s = driver.last_tx_mono_ns / 1e9
        time.sleep(0.8)  # no service(): no heartbeats
        (failsafe,) = sim.events("failsafe")
        assert 0.3 <= failsafe["t_mono"] - last_host_s < 0.5
        serve(driver, 0.3)
        assert driver.telemetry.state == VehicleState.FAILSAFE and (driver.telemetry.state is VehicleState.FAILSAFE)
        assert driver.telemetry.speed_mps == 0.0
        driver.command_speed(0.3)
        serve(driver, 0.5, until=lambda: driver.telemetry.state == VehicleState.MOVING)
        assert driver.telemetry.state == VehicleState.MOVING and driver.telemetry.state is not VehicleState.FAILSAFE
    finally:
        driver.close()
    assert sim.stop() == 0


def test_noisy_line_accepts_only_valid_commands(start_sim):
    """Random bytes, bit-flipped frames and truncated frames are written into the pty between valid commands.
    The log holds exactly the valid commands (no corrupt speed ever accepted), the noise is counted, and the sim
    still answers a fresh handshake and STOP."""
    rng = random.Random(7)
    poison = 1.777  # the speed every corrupted frame carries
    sim = start_sim()
    driver = CrawlerDriver(sim.url)
    sent: list[tuple[int, float]] = []
    try:
        driver.handshake()
        for i in range(20):
            frame = bytearray(encode(SetSpeed(poison), rng.randrange(65536)))
            noise = rng.choice(("random", "flip", "truncate"))
            if noise == "random":
                driver.link.write(rng.randbytes(rng.randint(1, 60)))
            elif noise == "flip":
                frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
                driver.link.write(bytes(frame))
            else:
                driver.link.write(bytes(frame[: rng.randrange(1, len(frame) - 1)]) + rng.choice((b"\x00", b"")))
            speed = round(0.05 * (i % 5), 3)
            sent.append((driver.command_speed(speed), speed))
            serve(driver, 1.0, until=acked(driver))
            assert not driver.pending_seqs
        stop = driver.stop()
        serve(driver, 1.0, until=acked(driver))
        assert not driver.counters.refusals and driver.counters.unanswered == 0
        serve(driver, 1.1)  # let the sim's once-a-second error summary come out
        driver.handshake()
    finally:
        driver.close()
    assert sim.proc.poll() is None, "the simulator died"
    assert sim.stop() == 0
    commands = sim.events("command")
    assert [(c["seq"], c["speed_mps"]) for c in commands if c["type"] != "close"] == [*sent, (stop, 0.0)]
    assert not sim.events("nack")
    errors = sim.events("link_errors")[-1]
    assert errors["crc_errors"] + errors["bad_frames"] >= 10


def drive_and_stop(url: str, speed: float) -> None:
    driver = CrawlerDriver(url)
    try:
        driver.handshake(timeout_s=3.0)
        seq = driver.command_speed(speed)
        serve(driver, 1.0, until=lambda: driver.telemetry is not None and driver.telemetry.last_cmd_seq == seq)
        assert driver.telemetry.last_cmd_seq == seq and not driver.pending_seqs
        driver.stop()
        serve(driver, 1.0, until=acked(driver))
        assert not driver.pending_seqs
    finally:
        driver.close()


def test_zeromq_link_and_reconnect(start_sim):
    """With --zmq the first stdout line is the tcp:// URL; a DEALER host handshakes, drives and stops, and a second
    host connection after the first closes works too."""
    url = f"tcp://127.0.0.1:{free_port()}"
    sim = start_sim("--zmq", url, "--accel", "5")
    assert sim.url == url
    drive_and_stop(url, 0.4)
    drive_and_stop(url, -0.2)
    wait_for_commands(sim, 6)
    assert sim.stop() == 0
    assert [c["type"] for c in sim.events("command")] == ["set_speed", "stop", "close"] * 2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_exit_cleanly(start_sim, sig):
    """SIGTERM or SIGINT: the sim logs "shutdown" and exits 0, and the pty path it printed is gone."""
    sim = start_sim()
    assert os.path.exists(sim.url)
    time.sleep(0.2)
    sim.proc.send_signal(sig)
    assert sim.proc.wait(5) == 0
    assert sim.events()[-1]["event"] == "shutdown"
    assert b"Traceback" not in (sim.log.parent / "crawler.stderr").read_bytes()


@pytest.mark.parametrize("one_way_ms", [30, 125])
def test_a_slow_lossy_link_drives_and_stops_the_crawler(start_sim, one_way_ms):
    """Scenario (issue 16): a radio link, up to 250 ms round trip with 1 % of frames lost each way, between the
    host and the crawler simulator (`gridscout sim link`). Control re-sends every 50 ms, as it does in a run:
    speeds that change, then STOP again and again. The crawler connects at the first handshake, moves at the
    commanded speed, stops, and the host counts no unanswered command and no link drop. Before, above about
    60 ms it never moved: each command superseded the last before its ACK came back."""
    import threading

    from gridscout.hardware.sim.link_proxy import LinkProxy

    crawler_url, host_url = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    sim = start_sim("--zmq", crawler_url, "--accel", "5")
    proxy = LinkProxy(host_url, crawler_url, delay_s=one_way_ms / 1000, loss=0.01, seed=one_way_ms)
    stop = threading.Event()
    forwarding = threading.Thread(target=proxy.run, args=(stop,), daemon=True)
    forwarding.start()
    driver = CrawlerDriver(host_url)
    try:
        driver.handshake(timeout_s=5.0)
        for i in range(40):  # 2 s of control ticks: 0.5 m/s, nudged up and down as a behaviour would
            driver.command_speed(0.5 + 0.05 * (i % 2))
            serve(driver, 0.05)
        assert driver.telemetry.state == VehicleState.MOVING and driver.telemetry.speed_mps > 0.4
        asked = time.monotonic()
        while driver.telemetry.speed_mps != 0.0 and time.monotonic() - asked < 3.0:
            driver.stop()
            serve(driver, 0.05)
        assert driver.telemetry.speed_mps == 0.0, "STOP never took effect"
        time_to_rest = time.monotonic() - asked
        serve(driver, 1.0, until=acked(driver))
        c = driver.counters
        assert (c.handshakes, c.link_drops, c.unanswered, c.failsafes) == (1, 0, 0, 0), c
        assert not driver.pending_seqs
        # at rest within the round trip, the braking and a resend or two (lost frames)
        assert time_to_rest < 2 * one_way_ms / 1000 + 0.5 / 2.0 + 0.6
    finally:
        driver.close()
        stop.set()
        forwarding.join(2)
    assert proxy.up.forwarded > 50 and proxy.down.forwarded > 50
    assert sim.stop() == 0
    assert [c["type"] for c in sim.events("command")][-1] == "stop"


@pytest.mark.parametrize(("minor", "closes"), [(1, True), (0, False)])
def test_the_host_negotiates_the_crawlers_protocol_and_closes_the_session(start_sim, minor, closes):
    """Scenario: this host (1.1) and a crawler speaking 1.1, or an older one speaking 1.0. Both drive and stop;
    the session runs at the lower version (CRC-32 framing at 1.1), and closing the host ends a 1.1 session
    with CLOSE, which the crawler logs."""
    sim = start_sim("--accel", "5", "--protocol-minor", str(minor))
    driver = CrawlerDriver(sim.url)
    try:
        driver.handshake()
        assert driver.protocol == f"1.{minor}"
        go = driver.command_speed(0.5)
        serve(driver, 1.0, until=lambda: driver.telemetry is not None and driver.telemetry.last_cmd_seq == go)
        assert driver.telemetry.state == VehicleState.MOVING
        driver.stop()
        serve(driver, 1.0, until=acked(driver))
        assert not driver.pending_seqs and driver.decoder_counts["crc_errors"] == 0
    finally:
        driver.close()
    wait_for_commands(sim, 3 if closes else 2)
    time.sleep(0.3)  # a CLOSE wrongly sent to a 1.0 crawler would show by now
    assert sim.stop() == 0
    assert [c["type"] for c in sim.events("command")] == ["set_speed", "stop", *(["close"] if closes else [])]
    assert not sim.events("link_errors")


@pytest.mark.parametrize(
    ("sim_args", "exit_code", "says"),
    [
        ((), 0, "11 of 11 checks passed"),
        (("--protocol-minor", "0"), 0, "1.0 session: no CLOSE"),
        (("--no-ack",), 1, "FAIL  ack echoes the command: SET_SPEED 0 seq"),
        (("--refuse", "FAULT"), 1, "FAIL  no session before hello"),
    ],
    ids=["1.1", "1.0", "no-ack", "refuses"],
)
def test_the_conformance_mode_passes_a_good_crawler_and_names_what_a_bad_one_breaks(
    start_sim, sim_args, exit_code, says
):
    """Scenario: a firmware team runs `gridscout sim crawler --conformance URL` against its device (here the
    simulator, well-behaved at 1.1 and 1.0, or one that never answers, or refuses everything)."""
    sim = start_sim(*sim_args)
    result = subprocess.run(
        [sys.executable, "-m", "gridscout.edge.cli", "sim", "crawler", "--conformance", sim.url],
        capture_output=True, text=True, timeout=25, check=False,
    )  # fmt: skip
    assert result.returncode == exit_code, result.stdout + result.stderr
    assert says in result.stdout
    assert all(line[:6] in ("PASS  ", "FAIL  ") for line in result.stdout.splitlines()[:-1])
