"""CrawlerDriver over a real pseudo-terminal, against the simulator core or a scripted vehicle."""

import threading
import time
from collections.abc import Callable

import pytest

from gridscout.control.vehicle import VehicleState
from gridscout.hardware.crawler import CrawlerDriver, CrawlerError, CrawlerSettings, CrawlerState, LinkError, open_link
from gridscout.hardware.crawler.driver import MIN_HEARTBEAT_PERIOD_S, SILENCE_RECONNECT_FACTOR
from gridscout.hardware.crawler.protocol import (
    Ack,
    FrameDecoder,
    Heartbeat,
    Hello,
    HelloAck,
    HelloStatus,
    Message,
    MsgId,
    Nack,
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
from gridscout.hardware.vehicle.driver import LinkState


def hello_ack(packet: Packet, timeout_s: float = 0.3, max_speed: float = 2.0) -> HelloAck:
    return HelloAck(1, 0, HelloStatus.OK, packet.seq, timeout_s, max_speed)


class Vehicle:
    """The far end of a pty, served by a thread: records what the driver sent; `answer` returns the replies.
    By default it accepts every HELLO and answers nothing else."""

    def __init__(self) -> None:
        self.link = PtyLink()
        self.decoder = FrameDecoder()
        self.wide = False
        self.answer: Callable[[Packet], list[Message]] = self.accept_hello
        self.received: list[Packet] = []
        self.seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def accept_hello(packet: Packet) -> list[Message]:
        return [hello_ack(packet)] if isinstance(packet.msg, Hello) else []

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
        if isinstance(msg, HelloAck):  # both ends at 1.1 or later: CRC-32 framing from here on
            self.wide = self.decoder.wide = msg.minor >= 1
        self.link.write(encode(msg, self.seq, wide=self.wide))
        self.seq += 1

    def commands(self) -> list[Packet]:
        return [p for p in self.received if isinstance(p.msg, SetSpeed | Stop)]

    def hellos(self) -> int:
        return sum(isinstance(p.msg, Hello) for p in self.received)


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

    def make(*, connect: bool = True, **settings) -> CrawlerDriver:
        drivers.append(CrawlerDriver(vehicle.link.url, CrawlerSettings(**settings)))
        if connect:
            drivers[-1].handshake(timeout_s=2.0)
        return drivers[-1]

    yield make
    for d in drivers:
        d.close()


def test_driver_commands_the_sim_core(vehicle, make_driver):
    """Happy path: handshake, a speed command acknowledged and applied, telemetry in the vehicle-neutral
    type (the crawler's MOVING is MOVING, its position is the path position), heartbeats flowing."""
    sim = CrawlerSim(SimConfig(), time.monotonic())
    vehicle.answer = lambda packet: sim.handle(packet, time.monotonic())
    driver = make_driver()
    assert driver.link_state is LinkState.CONNECTED and driver.counters.handshakes == 1
    assert driver.limits.max_speed_mps == 2.0 and driver.limits.heartbeat_timeout_s == 0.3
    cmd = driver.command_speed(1.0)
    run_for(driver, 1.0, until=lambda: not driver.pending_seqs)
    assert sim.target_mps == 1.0 and sim.last_cmd_seq == cmd
    vehicle.send(sim.telemetry())
    run_for(driver, 0.5, until=lambda: driver.telemetry is not None)
    t = driver.telemetry
    assert t.state is VehicleState.MOVING and t.last_cmd_seq == cmd and t.position_m == 0.0
    assert t.max_speed_mps == 2.0 and t.t_rx_mono_ns > 0
    assert driver.link_ok
    run_for(driver, 0.25)
    assert sum(isinstance(p.msg, Heartbeat) for p in vehicle.received) >= 2


@pytest.mark.parametrize(
    ("crawler", "neutral"),
    [
        (CrawlerState.IDLE, VehicleState.READY),
        (CrawlerState.STOPPED, VehicleState.READY),
        (CrawlerState.MOVING, VehicleState.MOVING),
        (CrawlerState.FAILSAFE, VehicleState.FAILSAFE),
        (CrawlerState.END_OF_LINE, VehicleState.END_OF_PATH),
        (CrawlerState.FAULT, VehicleState.FAULT),
    ],
)
def test_crawler_states_map_onto_the_vehicle_neutral_ones(vehicle, make_driver, crawler, neutral):
    """Control never sees the crawler's own state names."""
    driver = make_driver()
    vehicle.send(Telemetry(3.0, 0.0, 24.0, 80, crawler, 0, TelemetryFlags.SESSION))
    run_for(driver, 0.5, until=lambda: driver.telemetry is not None)
    assert driver.telemetry.state is neutral


def test_connect_returns_at_once_and_a_slow_crawler_is_waited_for_in_service(vehicle, make_driver):
    """A crawler that answers HELLO only after 0.6 s: connect() does not wait for it, HELLO is resent from
    service(), and the link comes up once it answers. Nothing here blocks, so the owner can keep heartbeating."""
    booted_at = time.monotonic() + 0.6
    vehicle.answer = lambda p: [hello_ack(p)] if isinstance(p.msg, Hello) and time.monotonic() > booted_at else []
    driver = make_driver(connect=False)
    t0 = time.monotonic()
    driver.connect()
    assert time.monotonic() - t0 < 0.2 and driver.link_state is LinkState.CONNECTING
    assert "no HELLO_ACK" in driver.link_detail and vehicle.link.url in driver.link_detail
    longest = 0.0
    while driver.link_state is LinkState.CONNECTING and time.monotonic() - t0 < 3.0:
        started = time.monotonic()
        driver.service(0.02)
        longest = max(longest, time.monotonic() - started)
    assert driver.link_state is LinkState.CONNECTED
    assert vehicle.hellos() >= 2
    assert longest < 0.25  # service() honours its timeout (a generous bound, not a latency target)


def test_handshake_refuses_a_foreign_major(vehicle, make_driver):
    """A vehicle answering HELLO_ACK 2.3 / MAJOR_MISMATCH: REFUSED, with a message naming both versions."""
    vehicle.answer = lambda p: (
        [HelloAck(2, 3, HelloStatus.MAJOR_MISMATCH, p.seq, 0.3, 2.0)] if isinstance(p.msg, Hello) else []
    )
    driver = make_driver(connect=False)
    with pytest.raises(CrawlerError, match=r"protocol 2\.3, this driver 1\.1: major versions differ"):
        driver.handshake(timeout_s=1.0)
    assert driver.link_state is LinkState.REFUSED


def test_handshake_times_out_with_a_clear_error(vehicle, make_driver):
    """Nobody answering: CrawlerError after the timeout, naming the port, having resent HELLO."""
    vehicle.answer = lambda p: []
    driver = make_driver(connect=False)
    with pytest.raises(CrawlerError, match=r"no HELLO_ACK .*" + vehicle.link.url):
        driver.handshake(timeout_s=0.6)
    assert vehicle.hellos() >= 2


def test_the_announced_speed_limit_is_honoured(vehicle, make_driver):
    """The crawler says 0.3 m/s in HELLO_ACK: faster commands are clamped (and counted), never sent as asked."""
    vehicle.answer = lambda p: [hello_ack(p, max_speed=0.3)] if isinstance(p.msg, Hello) else []
    driver = make_driver()
    driver.command_speed(1.0)
    driver.command_speed(-0.8)
    driver.command_speed(0.2)
    run_for(driver, 0.1)
    sent = [p.msg.speed_mps for p in vehicle.commands()[:3]]
    assert sent == [0.3, -0.3, 0.2]
    assert driver.counters.clamped == 2


def test_the_heartbeat_keeps_well_inside_the_announced_timeout(vehicle, make_driver):
    """A crawler that fails safe after 0.15 s gets host frames at least every 0.05 s (a third of it),
    though the configured period is 0.1 s; one that announces a long timeout keeps the configured period."""
    vehicle.answer = lambda p: [hello_ack(p, timeout_s=0.15)] if isinstance(p.msg, Hello) else []
    driver = make_driver(heartbeat_period_s=0.1)
    assert driver.heartbeat_period_s == pytest.approx(0.05)
    vehicle.answer = lambda p: [hello_ack(p, timeout_s=2.0)] if isinstance(p.msg, Hello) else []
    relaxed = make_driver(heartbeat_period_s=0.1)
    assert relaxed.heartbeat_period_s == pytest.approx(0.1)


def test_an_impossible_heartbeat_timeout_is_refused_clearly(vehicle, make_driver):
    """A crawler that fails safe after 30 ms asks more than this host promises: REFUSED, saying both numbers."""
    vehicle.answer = lambda p: [hello_ack(p, timeout_s=0.03)] if isinstance(p.msg, Hello) else []
    driver = make_driver(connect=False)
    with pytest.raises(CrawlerError, match=r"stops itself after 30 ms .* every 20 ms"):
        driver.handshake(timeout_s=1.0)
    assert driver.link_state is LinkState.REFUSED
    assert 3 * MIN_HEARTBEAT_PERIOD_S > 0.03
    assert driver.command_speed(0.1) == -1 and not vehicle.commands()  # nothing is ever sent to it


def test_unacked_command_is_resent_with_the_same_seq(vehicle, make_driver):
    """The vehicle drops the first two copies of a SET_SPEED; the driver resends the identical frame and the third
    copy gets acknowledged."""
    copies = []

    def answer(packet: Packet) -> list[Message]:
        if isinstance(packet.msg, Hello):
            return [hello_ack(packet)]
        if isinstance(packet.msg, SetSpeed):
            copies.append(packet.seq)
            if len(copies) == 3:
                return [Ack(packet.seq, MsgId.SET_SPEED)]
        return []

    vehicle.answer = answer
    driver = make_driver(ack_timeout_s=0.05)
    seq = driver.command_speed(0.7)
    run_for(driver, 1.0, until=lambda: not driver.pending_seqs)
    assert copies == [seq, seq, seq]
    assert driver.counters.retries == 2 and driver.pending_seqs == [] and driver.counters.unanswered == 0


def test_command_counts_as_unanswered_after_max_retries(vehicle, make_driver):
    """A vehicle that never answers commands: 1 + max_retries copies, then the command counts as unanswered."""
    driver = make_driver(ack_timeout_s=0.03, max_retries=2)
    driver.command_speed(0.3)
    run_for(driver, 0.5)
    assert len([p for p in vehicle.commands() if isinstance(p.msg, SetSpeed)]) == 3
    assert driver.counters.unanswered >= 1 and not any(not_stop for not_stop in driver.pending_seqs)


def test_a_crawler_that_never_acks_is_caught_even_when_commands_keep_superseding(vehicle, make_driver):
    """Control re-sends every 0.2 s, so no one command ever runs out of retries; still, a crawler that has
    answered nothing for ack_timeout x (max_retries + 1) is counted and the host shakes hands again."""
    driver = make_driver(ack_timeout_s=0.05, max_retries=3)
    hellos_before = vehicle.hellos()
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        driver.command_speed(0.3)
        run_for(driver, 0.1)
    assert driver.counters.unanswered >= 2
    assert vehicle.hellos() > hellos_before and driver.counters.link_drops >= 1


def test_stop_is_retried_until_acked(vehicle, make_driver):
    """STOP ignores max_retries: it keeps going, same bytes and seq, until the vehicle answers. (A crawler that
    answers nothing at all for ack_timeout x (max_retries + 1) gets a new handshake, and the STOP goes again.)"""
    driver = make_driver(ack_timeout_s=0.02, max_retries=30)
    seq = driver.stop()
    assert driver.last_write_mono_ns > 0 and driver.stop_pending
    run_for(driver, 0.3)
    assert len(vehicle.commands()) >= 5 and driver.pending_seqs == [seq]
    assert {p.seq for p in vehicle.commands()} == {seq}
    vehicle.send(Ack(seq, MsgId.STOP))
    run_for(driver, 0.2, until=lambda: not driver.stop_pending)
    assert not driver.stop_pending


def test_newer_set_speed_supersedes_an_unacked_one(vehicle, make_driver):
    """Two SET_SPEEDs with no answer: only the newer one is retried; STOP then supersedes it too."""
    driver = make_driver(ack_timeout_s=0.03, max_retries=10)
    old = driver.command_speed(0.5)
    new = driver.command_speed(1.0)
    run_for(driver, 0.1)
    seqs = [p.seq for p in vehicle.commands()]
    assert seqs.count(old) == 1 and seqs.count(new) >= 2
    assert driver.pending_seqs == [new]
    stop = driver.stop()
    assert driver.pending_seqs == [stop]


def test_a_refusal_is_reported_with_its_reason_and_not_retried(vehicle, make_driver):
    """A NACK (the crawler in FAULT) is a Refusal with the reason's name, counted by reason."""
    vehicle.answer = lambda p: (
        [hello_ack(p)] if isinstance(p.msg, Hello) else [Nack(p.seq, MsgId.SET_SPEED, NackReason.FAULT)]
    )
    driver = make_driver()
    seq = driver.command_speed(0.5)
    run_for(driver, 0.5, until=lambda: driver.counters.refusals)
    (refusal,) = driver.take_refusals()
    assert (refusal.seq, refusal.command, refusal.reason) == (seq, "set_speed", "FAULT")
    assert driver.counters.refusals == {"FAULT": 1} and driver.counters.retries == 0
    assert driver.take_refusals() == []


def test_stale_nacks_are_not_refusals(vehicle, make_driver):
    """STALE means a newer command overtook a late retry: nothing was refused."""
    vehicle.answer = lambda p: (
        [hello_ack(p)] if isinstance(p.msg, Hello) else [Nack(p.seq, MsgId.SET_SPEED, NackReason.STALE)]
    )
    driver = make_driver()
    driver.command_speed(0.5)
    run_for(driver, 0.3, until=lambda: not driver.pending_seqs)
    assert not driver.counters.refusals and not driver.take_refusals()


def test_no_session_starts_a_new_handshake_and_resends_the_pending_stop(vehicle, make_driver):
    """The crawler's controller reset: it NACKs with NO_SESSION. The driver counts the refusal, shakes hands
    again, and a STOP that was refused is sent again in the new session (a speed is not: control re-sends it)."""
    session = {"open": False}

    def answer(p: Packet) -> list[Message]:
        if isinstance(p.msg, Hello):
            session["open"] = True
            return [hello_ack(p)]
        if isinstance(p.msg, SetSpeed | Stop):
            msg_id = MsgId.STOP if isinstance(p.msg, Stop) else MsgId.SET_SPEED
            return [Ack(p.seq, msg_id)] if session["open"] else [Nack(p.seq, msg_id, NackReason.NO_SESSION)]
        return []

    vehicle.answer = answer
    driver = make_driver()
    assert driver.counters.handshakes == 1
    session["open"] = False  # the controller resets
    driver.stop()
    run_for(driver, 1.0, until=lambda: driver.counters.handshakes == 2 and not driver.stop_pending)
    assert driver.counters.refusals == {"NO_SESSION": 1} and driver.counters.link_drops == 1
    assert driver.link_state is LinkState.CONNECTED and not driver.stop_pending
    stops = [p for p in vehicle.commands() if isinstance(p.msg, Stop)]
    assert len(stops) == 2  # the refused one, and the same STOP again in the new session


def test_link_ok_goes_false_after_silence_and_a_long_silence_starts_a_new_handshake(vehicle, make_driver):
    """link_ok is true just after a vehicle frame and false once link_timeout_s passes without one; after
    SILENCE_RECONNECT_FACTOR timeouts the driver takes the crawler for gone and sends HELLO again."""
    driver = make_driver(link_timeout_s=0.1)
    vehicle.send(Telemetry(3.0, 0.0, 24.0, 80, CrawlerState.STOPPED, 0, TelemetryFlags.SESSION))
    run_for(driver, 0.5, until=lambda: driver.telemetry is not None)
    assert driver.link_ok and driver.telemetry.position_m == 3.0
    vehicle.answer = lambda p: []  # silent from now on
    run_for(driver, 0.15)
    assert not driver.link_ok
    hellos = vehicle.hellos()
    run_for(driver, SILENCE_RECONNECT_FACTOR * 0.1 + 0.3, until=lambda: driver.link_state is LinkState.CONNECTING)
    assert driver.link_state is LinkState.CONNECTING and driver.counters.link_drops == 1
    run_for(driver, 0.4)
    assert vehicle.hellos() > hellos


def test_commands_are_not_sent_before_the_handshake(vehicle, make_driver):
    """Until CONNECTED there is no session to command: nothing goes out, and the call says so (-1)."""
    vehicle.answer = lambda p: []
    driver = make_driver(connect=False)
    driver.connect()
    assert driver.command_speed(0.5) == -1 and driver.stop() == -1 and driver.hold() == -1
    run_for(driver, 0.1)
    assert not vehicle.commands()


def test_garbage_on_the_line_is_counted():
    """Over pyserial's loop:// the driver hears its own frames and garbage; it ignores both and counts the garbage."""
    driver = CrawlerDriver("loop://")
    try:
        driver.connect()
        driver.link.write(b"\x01\x02junk\x00")
        driver.service(0.05)
        counts = driver.decoder_counts
        assert counts["bad_frames"] + counts["crc_errors"] == 1
        assert counts["frames_rx"] >= 1  # its own HELLO, ignored
        assert driver.telemetry is None and driver.link_state is LinkState.CONNECTING
    finally:
        driver.close()


@pytest.mark.parametrize("url", ["/dev/no-such-crawler", "tcp://127.0.0.1", "socket://"])
def test_open_errors_name_the_url(url):
    """A link that cannot be opened raises LinkError naming the URL and the accepted forms."""
    with pytest.raises(LinkError) as info:
        open_link(url)
    assert url in str(info.value) and "expected" in str(info.value)
    with pytest.raises(LinkError):
        CrawlerDriver(url).connect()


# -- a slow link and a misbehaving crawler (issue 16) ---------------------------------------------------


def _late(vehicle: Vehicle, delay_s: float, reply: Message) -> None:
    threading.Timer(delay_s, vehicle.send, (reply,)).start()


def test_a_hello_resend_is_byte_identical_so_a_late_hello_ack_completes_the_handshake(vehicle, make_driver):
    """A link with more round trip than the HELLO resend period: the answer to the first HELLO arrives after the
    second went out. Every copy has the same seq, so it still matches (a new seq per resend never connected)."""
    vehicle.answer = lambda p: (_late(vehicle, 0.4, hello_ack(p)) or []) if isinstance(p.msg, Hello) else []
    driver = make_driver(connect=False, hello_resend_s=0.15)
    driver.connect()
    run_for(driver, 1.5, until=lambda: driver.link_state is LinkState.CONNECTED)
    assert driver.link_state is LinkState.CONNECTED
    hellos = [p for p in vehicle.received if isinstance(p.msg, Hello)]
    assert len(hellos) >= 2 and len({p.seq for p in hellos}) == 1


def test_a_stop_asked_for_again_while_pending_keeps_its_seq_and_a_late_ack_settles_it(vehicle, make_driver):
    """Control re-sends STOP every 50 ms; ACKs take 0.3 s. Each call used to be a new STOP superseding the last
    before its ACK came back: the STOP never counted as answered. Now the pending STOP carries on."""
    vehicle.answer = lambda p: (
        [hello_ack(p)] if isinstance(p.msg, Hello) else (_late(vehicle, 0.3, Ack(p.seq, MsgId.STOP)) or [])
    )
    driver = make_driver(ack_timeout_s=0.1, max_retries=3)
    first = driver.stop()
    end = time.monotonic() + 0.25
    while time.monotonic() < end:
        assert driver.stop() == first
        run_for(driver, 0.05)
    run_for(driver, 0.5, until=lambda: not driver.stop_pending)
    assert not driver.stop_pending and {p.seq for p in vehicle.commands()} == {first}
    assert driver.counters.unanswered == 0 and driver.counters.link_drops == 0


def test_answers_to_superseded_commands_keep_a_slow_crawler_alive(vehicle, make_driver):
    """Speeds change every 50 ms and each ACK takes 0.25 s: every command is superseded before its answer.
    The late answers still show a crawler answering: no unanswered count, no new handshake."""
    vehicle.answer = lambda p: (
        [hello_ack(p)] if isinstance(p.msg, Hello) else (_late(vehicle, 0.25, Ack(p.seq, MsgId.SET_SPEED)) or [])
    )
    driver = make_driver(ack_timeout_s=0.1, max_retries=3)
    end, speed = time.monotonic() + 1.5, 0.1
    while time.monotonic() < end:
        driver.command_speed(speed)
        speed = 0.3 - speed + 0.1  # alternates 0.1 and 0.3
        run_for(driver, 0.05)
    assert driver.counters.unanswered == 0 and driver.counters.link_drops == 0 and driver.counters.handshakes == 1


def test_a_crawler_answering_no_session_to_everything_gets_handshakes_that_back_off(vehicle, make_driver):
    """It accepts every HELLO and then NACKs each command NO_SESSION. Without a back-off that was 33,387
    handshakes in 30 s; the waits now double from hello_resend_s up to MAX_HELLO_BACKOFF_S."""
    vehicle.answer = lambda p: (
        [hello_ack(p)] if isinstance(p.msg, Hello) else [Nack(p.seq, MsgId.SET_SPEED, NackReason.NO_SESSION)]
    )
    driver = make_driver(hello_resend_s=0.1)
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        driver.command_speed(0.2)
        run_for(driver, 0.02)
    # waits 0.1, 0.2, 0.4, 0.8 s: at most 6 handshakes in 2 s (each answered at once)
    assert 3 <= driver.counters.handshakes <= 6
    assert driver.counters.refusals["NO_SESSION"] >= driver.counters.handshakes - 1


@pytest.mark.parametrize(
    ("state", "flags", "named"),
    [
        (CrawlerState.FAULT, TelemetryFlags.SESSION | TelemetryFlags.FAULT, "FAULT"),
        (CrawlerState.IDLE, TelemetryFlags.SESSION | TelemetryFlags.FAULT, "FAULT"),  # the flag alone
        (CrawlerState.FAILSAFE, TelemetryFlags.SESSION | TelemetryFlags.FAILSAFE, "FAILSAFE"),
    ],
)
def test_the_crawlers_own_fault_or_failsafe_is_counted_once_and_named(vehicle, make_driver, state, flags, named):
    """A crawler sitting in FAULT for the whole run: its state byte or its flag. It was ignored (the run exited
    0 after 370 STOPs); now it is one failsafe, named, however many telemetry frames repeat it."""
    driver = make_driver()
    for _ in range(5):
        vehicle.send(Telemetry(4.0, 0.0, 24.0, 80, state, 0, flags))
    run_for(driver, 0.3)
    assert driver.telemetry.state is VehicleState[named]
    assert driver.counters.failsafes == 1 and named in driver.last_failsafe and "4.00 m" in driver.last_failsafe
    vehicle.send(Telemetry(4.0, 0.0, 24.0, 80, CrawlerState.STOPPED, 0, TelemetryFlags.SESSION))
    vehicle.send(Telemetry(4.0, 0.0, 24.0, 80, state, 0, flags))
    run_for(driver, 0.3)
    assert driver.counters.failsafes == 2  # left it and went back: twice
