"""CrawlerDriver over a real pseudo-terminal, against the simulator core or a scripted vehicle."""

import threading
import time
from collections.abc import Callable

import pytest
from gridscout.hardware.crawler import CrawlerDriver, CrawlerError, CrawlerState, LinkError, open_link
from gridscout.hardware.crawler.protocol import (
    Ack,
    FrameDecoder,
    Heartbeat,
    Hello,
    HelloAck,
    HelloStatus,
    Message,
    MsgId,
    NackReason,
    Packet,
    SetSpeed,
    Stop,
    Telemetry,
    TelemetryFlags,
    encode,
)
from gridscout.hardware.sim.crawler.core import CrawlerSim, SimConfig
from gridscout.hardware.sim.crawler.server import PtyLink


class Vehicle:
    """The far end of a pty, served by a thread: records what the driver sent; `answer` returns the replies."""

    def __init__(self) -> None:
        self.link = PtyLink()
        self.decoder = FrameDecoder()
        self.answer: Callable[[Packet], list[Message]] = lambda packet: []
        self.received: list[Packet] = []
        self.seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            for packet in self.decoder.feed(self.link.read(0.01)):
                self.received.append(packet)
                for reply in self.answer(packet):
                    self.send(reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.link.close()

    def send(self, msg: Message) -> None:
        self.link.write(encode(msg, self.seq))
        self.seq += 1

    def commands(self) -> list[Packet]:
        return [p for p in self.received if isinstance(p.msg, SetSpeed | Stop)]


def run_for(driver: CrawlerDriver, seconds: float, until: Callable[[], bool] = lambda: False) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        driver.service(0.01)


@pytest.fixture
def vehicle():
    v = Vehicle()
    yield v
    v.close()


@pytest.fixture
def make_driver(vehicle):
    drivers = []

    def make(**kwargs) -> CrawlerDriver:
        drivers.append(CrawlerDriver(open_link(vehicle.link.url), **kwargs))
        return drivers[-1]

    yield make
    for d in drivers:
        d.close()


def test_driver_commands_the_sim_core(vehicle, make_driver):
    """Happy path: handshake, a speed command acknowledged and applied, telemetry arriving, heartbeats flowing."""
    sim = CrawlerSim(SimConfig(), time.monotonic())
    vehicle.answer = lambda packet: sim.handle(packet, time.monotonic())
    driver = make_driver()
    assert driver.handshake(timeout_s=1.0).status == HelloStatus.OK
    cmd = driver.set_speed(1.0)
    run_for(driver, 1.0, until=lambda: not driver.pending_seqs)
    assert driver.counters["commands_acked"] == 1 and sim.target_mps == 1.0 and sim.last_cmd_seq == cmd
    vehicle.send(sim.telemetry())
    run_for(driver, 0.5, until=lambda: driver.telemetry is not None)
    assert driver.telemetry.state == CrawlerState.MOVING and driver.telemetry.last_cmd_seq == cmd
    assert driver.link_ok and not driver.telemetry.failsafe
    run_for(driver, 0.25)
    assert sum(isinstance(p.msg, Heartbeat) for p in vehicle.received) >= 2


def test_handshake_refuses_a_foreign_major(vehicle, make_driver):
    """A vehicle answering HELLO_ACK 2.3 / MAJOR_MISMATCH: handshake raises a clear error naming both versions."""
    vehicle.answer = lambda p: (
        [HelloAck(2, 3, HelloStatus.MAJOR_MISMATCH, p.seq, 0.3, 2.0)] if isinstance(p.msg, Hello) else []
    )
    driver = make_driver()
    with pytest.raises(CrawlerError, match=r"protocol 2\.3, this driver 1\.0: major versions differ"):
        driver.handshake(timeout_s=1.0)


def test_handshake_times_out_with_a_clear_error(vehicle, make_driver):
    """Nobody answering: CrawlerError after the timeout, naming the port, having resent HELLO."""
    driver = make_driver()
    t0 = time.monotonic()
    with pytest.raises(CrawlerError, match=r"no HELLO_ACK .*" + vehicle.link.url):
        driver.handshake(timeout_s=0.6)
    assert 0.55 < time.monotonic() - t0 < 1.5
    assert sum(isinstance(p.msg, Hello) for p in vehicle.received) >= 2


def test_unacked_command_is_resent_with_the_same_seq(vehicle, make_driver):
    """The vehicle drops the first two copies of a SET_SPEED; the driver resends the identical frame and the third
    copy gets acknowledged."""
    copies = []

    def answer(packet: Packet) -> list[Message]:
        if isinstance(packet.msg, SetSpeed):
            copies.append(packet.seq)
            if len(copies) == 3:
                return [Ack(packet.seq, MsgId.SET_SPEED)]
        return []

    vehicle.answer = answer
    driver = make_driver(ack_timeout_s=0.05)
    seq = driver.set_speed(0.7)
    run_for(driver, 1.0, until=lambda: driver.counters["commands_acked"] == 1)
    assert copies == [seq, seq, seq]
    assert driver.counters["retries"] == 2 and driver.pending_seqs == []


def test_command_fails_after_max_retries(vehicle, make_driver):
    """A vehicle that never answers: 1 + max_retries copies, then the command counts as failed."""
    driver = make_driver(ack_timeout_s=0.03, max_retries=2)
    driver.set_speed(0.3)
    run_for(driver, 0.5)
    assert len(vehicle.commands()) == 3
    assert driver.counters["commands_failed"] == 1 and driver.pending_seqs == []


def test_stop_is_retried_until_acked(vehicle, make_driver):
    """STOP ignores max_retries: it keeps going until the vehicle answers."""
    driver = make_driver(ack_timeout_s=0.02, max_retries=1)
    seq = driver.stop()
    assert driver.last_write_mono_ns > 0
    run_for(driver, 0.3)
    assert len(vehicle.commands()) >= 5 and driver.pending_seqs == [seq]
    vehicle.send(Ack(seq, MsgId.STOP))
    run_for(driver, 0.2, until=lambda: not driver.pending_seqs)
    assert driver.pending_seqs == [] and driver.counters["commands_failed"] == 0


def test_newer_set_speed_supersedes_an_unacked_one(vehicle, make_driver):
    """Two SET_SPEEDs with no answer: only the newer one is retried; STOP then supersedes it too."""
    driver = make_driver(ack_timeout_s=0.03, max_retries=10)
    old = driver.set_speed(0.5)
    new = driver.set_speed(1.0)
    run_for(driver, 0.2)
    seqs = [p.seq for p in vehicle.commands()]
    assert seqs.count(old) == 1 and seqs.count(new) >= 3
    assert driver.pending_seqs == [new] and driver.counters["commands_superseded"] == 1
    stop = driver.stop()
    assert driver.pending_seqs == [stop]


def test_nack_is_reported(vehicle, make_driver):
    """An out-of-range speed NACKed by the sim core ends up in counters and last_nack, and is not retried."""
    sim = CrawlerSim(SimConfig(max_speed_mps=1.0), time.monotonic())
    sim.handle(Packet(0, Hello()), time.monotonic())  # session open
    vehicle.answer = lambda p: sim.handle(p, time.monotonic())
    driver = make_driver()
    seq = driver.set_speed(1.5)
    run_for(driver, 0.5, until=lambda: driver.counters["commands_nacked"] == 1)
    assert driver.last_nack.cmd_seq == seq and driver.last_nack.reason == NackReason.SPEED_OUT_OF_RANGE
    assert driver.pending_seqs == [] and driver.counters["retries"] == 0


def test_link_ok_goes_false_after_silence(vehicle, make_driver):
    """link_ok is true just after a vehicle frame and false once link_timeout_s passes without one."""
    driver = make_driver(link_timeout_s=0.15)
    assert not driver.link_ok
    vehicle.send(Telemetry(3.0, 0.0, 24.0, 80, CrawlerState.STOPPED, 0, TelemetryFlags.SESSION))
    run_for(driver, 0.5, until=lambda: driver.telemetry is not None)
    assert driver.link_ok and driver.telemetry.position_m == 3.0
    run_for(driver, 0.25)
    assert not driver.link_ok


def test_garbage_on_the_line_is_counted():
    """Over pyserial's loop:// the driver hears its own frames and garbage; it ignores both and counts the garbage."""
    driver = CrawlerDriver(open_link("loop://"))
    try:
        driver.link.write(b"\x01\x02junk\x00")
        driver.set_speed(0.2)
        driver.service(0.05)
        counters = driver.counters
        assert counters["bad_frames"] + counters["crc_errors"] == 1
        assert counters["frames_rx"] >= 2  # its own heartbeat and SET_SPEED, ignored
        assert driver.telemetry is None
    finally:
        driver.close()


@pytest.mark.parametrize("url", ["/dev/no-such-crawler", "tcp://127.0.0.1", "socket://"])
def test_open_errors_name_the_url(url):
    """A link that cannot be opened raises LinkError naming the URL and the accepted forms."""
    with pytest.raises(LinkError) as info:
        open_link(url)
    assert url in str(info.value) and "expected" in str(info.value)
