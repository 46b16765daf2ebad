"""Conformance checks a crawler firmware team runs against its own device: does it keep
docs/crawler_protocol.md as a host relies on it?

    gridscout sim crawler --conformance /dev/ttyUSB0          # a serial device (any pyserial URL)
    gridscout sim crawler --conformance tcp://10.0.0.7:5600   # through a companion computer (ZeroMQ)

Each check prints PASS or FAIL with what it saw; the exit status is 1 when any fails. The device is only
ever commanded speed 0 and STOP: nothing here moves it, so it can run on a bench. Run it on a freshly
powered device: the first check expects no session yet.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from gridscout.hardware.crawler.link import Link, open_link
from gridscout.hardware.crawler.protocol import (
    PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
    WIDE_MINOR,
    Ack,
    Close,
    CrawlerState,
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

#: how long a check waits for an answer that should come at once
ANSWER_S = 0.5


class NonConformanceError(AssertionError):
    """A check saw something the spec rules out; the message says what."""


@dataclass
class Outcome:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


class Host:
    """A bare host on `link`: sends frames with its own seqs, keeps every packet received (in order)."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.decoder = FrameDecoder()
        self.seq = self.first_seq = random.Random().randrange(65536)
        self.wide = False
        self.received: list[tuple[float, Packet]] = []

    def frame(self, msg: Message, seq: int | None = None) -> tuple[int, bytes]:
        if seq is None:
            seq, self.seq = self.seq, (self.seq + 1) & 0xFFFF
        return seq, encode(msg, seq, wide=self.wide)

    def send(self, msg: Message) -> int:
        seq, frame = self.frame(msg)
        self.link.write(frame)
        return seq

    def pump(self, seconds: float, heartbeat: bool = True) -> None:
        """Read for `seconds`, sending a heartbeat every 0.1 s when asked (a live host)."""
        end = next_beat = time.monotonic()
        end += seconds
        while (now := time.monotonic()) < end:
            if heartbeat and now >= next_beat:
                self.send(Heartbeat(now))
                next_beat = now + 0.1
            for packet in self.decoder.feed(self.link.read(min(0.02, max(0.0, end - now)))):
                self.received.append((time.monotonic(), packet))

    def wait_for(self, match: Callable[[Message], bool], seconds: float = ANSWER_S) -> Message | None:
        start = len(self.received)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.pump(0.02)
            for _, packet in self.received[start:]:
                if match(packet.msg):
                    return packet.msg
        return None

    def answer_to(self, seq: int, seconds: float = ANSWER_S) -> Ack | Nack | None:
        msg = self.wait_for(lambda m: isinstance(m, Ack | Nack) and m.cmd_seq == seq, seconds)
        return msg if isinstance(msg, Ack | Nack) else None

    def telemetry_since(self, t: float) -> list[Telemetry]:
        return [p.msg for at, p in self.received if at >= t and isinstance(p.msg, Telemetry)]


def _expect(condition: bool, saw: str) -> None:
    if not condition:
        raise NonConformanceError(saw)


class Suite:
    """The checks, in the order they run (later ones rely on the session the handshake opened)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.ack: HelloAck | None = None

    def no_session_before_hello(self) -> str:
        seq = self.host.send(SetSpeed(0.0))
        answer = self.host.answer_to(seq)
        _expect(answer == Nack(seq, MsgId.SET_SPEED, NackReason.NO_SESSION), f"got {answer!r}")
        return "SET_SPEED before HELLO is NACKed NO_SESSION"

    def handshake(self) -> str:
        seq = self.host.send(Hello(PROTOCOL_MAJOR, PROTOCOL_MINOR))
        ack = self.host.wait_for(lambda m: isinstance(m, HelloAck) and m.hello_seq == seq, 1.0)
        _expect(isinstance(ack, HelloAck), f"no HELLO_ACK for hello_seq {seq} within 1 s")
        assert isinstance(ack, HelloAck)
        _expect(ack.status == HelloStatus.OK and ack.major == PROTOCOL_MAJOR, f"got {ack!r}")
        _expect(0.02 * 3 <= ack.heartbeat_timeout_s <= 5.0, f"heartbeat_timeout {ack.heartbeat_timeout_s} s")
        _expect(0.0 < ack.max_speed_mps <= 32.767, f"max_speed {ack.max_speed_mps} m/s")
        self.ack = ack
        self.host.wide = self.host.decoder.wide = min(ack.minor, PROTOCOL_MINOR) >= WIDE_MINOR
        return f"HELLO_ACK {ack.major}.{ack.minor}, timeout {ack.heartbeat_timeout_s} s, max {ack.max_speed_mps} m/s"

    def periodic_frames(self) -> str:
        start = time.monotonic()
        self.host.pump(1.0)
        received = [p.msg for at, p in self.host.received if at >= start]
        telemetry = [m for m in received if isinstance(m, Telemetry)]
        beats = [m for m in received if isinstance(m, Heartbeat)]
        _expect(15 <= len(telemetry) <= 25, f"{len(telemetry)} TELEMETRY in 1 s (20 Hz expected)")
        _expect(7 <= len(beats) <= 13, f"{len(beats)} HEARTBEAT in 1 s (10 Hz expected)")
        _expect(all(m.flags & TelemetryFlags.SESSION for m in telemetry), "TELEMETRY without the SESSION flag")
        return f"{len(telemetry)} TELEMETRY and {len(beats)} HEARTBEAT a second, SESSION flag set"

    def ack_echoes_the_command(self) -> str:
        seq = self.host.send(SetSpeed(0.0))
        answer = self.host.answer_to(seq)
        _expect(isinstance(answer, Ack) and answer.cmd_id == MsgId.SET_SPEED, f"SET_SPEED 0 seq {seq}: got {answer!r}")
        seq = self.host.send(Stop())
        answer = self.host.answer_to(seq)
        _expect(isinstance(answer, Ack) and answer.cmd_id == MsgId.STOP, f"STOP seq {seq}: got {answer!r}")
        self.host.pump(0.2)
        last = self.host.telemetry_since(time.monotonic() - 0.1)
        _expect(bool(last) and last[-1].last_cmd_seq == seq, "TELEMETRY last_cmd_seq is not the STOP's seq")
        return "SET_SPEED and STOP ACKed with their seq and id; last_cmd_seq follows"

    def duplicate_is_answered_once(self) -> str:
        seq, frame = self.host.frame(SetSpeed(0.0))
        self.host.link.write(frame)
        first = self.host.answer_to(seq)
        start = len(self.host.received)
        self.host.link.write(frame)  # a retry: the same bytes
        self.host.pump(ANSWER_S)
        again = [p.msg for _, p in self.host.received[start:] if isinstance(p.msg, Ack | Nack) and p.msg.cmd_seq == seq]
        _expect(isinstance(first, Ack) and again == [first], f"first {first!r}, then {again!r}")
        return "a resent command gets the same answer again"

    def stale_is_refused(self) -> str:
        older = self.host.send(SetSpeed(0.0))
        newer = self.host.send(Stop())
        self.host.answer_to(newer)
        self.host.answer_to(older)
        seq, frame = self.host.frame(SetSpeed(0.0), seq=(self.host.first_seq - 100) & 0xFFFF)  # never sent
        self.host.link.write(frame)
        answer = self.host.answer_to(seq)
        _expect(
            answer == Nack(seq, MsgId.SET_SPEED, NackReason.STALE), f"a command older than the last applied: {answer!r}"
        )
        return "a command older than the last applied is NACKed STALE"

    def too_fast_is_refused(self) -> str:
        assert self.ack is not None
        speed = min(self.ack.max_speed_mps + 0.5, 32.0)
        seq = self.host.send(SetSpeed(speed))
        answer = self.host.answer_to(seq)
        _expect(
            answer == Nack(seq, MsgId.SET_SPEED, NackReason.SPEED_OUT_OF_RANGE), f"SET_SPEED {speed} m/s: {answer!r}"
        )
        return f"SET_SPEED {speed:g} m/s (over its max) is NACKed SPEED_OUT_OF_RANGE"

    def garbage_does_not_stall(self) -> str:
        rng = random.Random(0)
        self.host.link.write(bytes(rng.randrange(1, 256) for _ in range(200)) + b"\x00")
        seq = self.host.send(Stop())
        answer = self.host.answer_to(seq)
        _expect(isinstance(answer, Ack), f"STOP after 200 garbage bytes: {answer!r}")
        return "200 garbage bytes, then a STOP answered"

    def wide_framing(self) -> str:
        if not self.host.wide:
            return "1.0 session: CRC-16 framing (1.1's CRC-32 not offered)"
        seq = self.host.seq
        self.host.seq = (seq + 1) & 0xFFFF
        self.host.link.write(encode(Stop(), seq, wide=False))  # 1.0 framing inside a 1.1 session
        answer = self.host.answer_to(seq)
        _expect(answer is None, f"a CRC-16 STOP in a 1.1 session was taken: {answer!r}")
        seq = self.host.send(Stop())
        _expect(isinstance(self.host.answer_to(seq), Ack), "a CRC-32 STOP was not answered")
        return "1.1 session: CRC-32 STOP answered, a CRC-16 one refused"

    def failsafe_on_host_silence(self) -> str:
        assert self.ack is not None
        silent = self.ack.heartbeat_timeout_s + 0.3
        start = time.monotonic()
        self.host.pump(silent, heartbeat=False)
        seen = self.host.telemetry_since(start)
        _expect(
            any(m.state == CrawlerState.FAILSAFE and m.flags & TelemetryFlags.FAILSAFE for m in seen),
            f"no FAILSAFE state with its flag within {silent:.2f} s of host silence",
        )
        seq = self.host.send(Stop())
        _expect(isinstance(self.host.answer_to(seq), Ack), "STOP after the failsafe was not ACKed")
        self.host.pump(0.3)
        last = self.host.telemetry_since(time.monotonic() - 0.1)
        _expect(bool(last) and last[-1].state != CrawlerState.FAILSAFE, "still FAILSAFE after an accepted STOP")
        return f"FAILSAFE (state and flag) within {silent:.2f} s of silence; a STOP leaves it"

    def close_ends_the_session(self) -> str:
        if not self.host.wide:
            return "1.0 session: no CLOSE"
        seq = self.host.send(Close())
        answer = self.host.answer_to(seq)
        _expect(isinstance(answer, Ack) and answer.cmd_id == MsgId.CLOSE, f"CLOSE: {answer!r}")
        seq = self.host.send(SetSpeed(0.0))
        answer = self.host.answer_to(seq)
        _expect(isinstance(answer, Nack) and answer.reason == NackReason.NO_SESSION, f"after CLOSE: {answer!r}")
        return "CLOSE ACKed; the next command is NACKed NO_SESSION"

    def checks(self) -> list[Callable[[], str]]:
        return [
            self.no_session_before_hello,
            self.handshake,
            self.periodic_frames,
            self.ack_echoes_the_command,
            self.duplicate_is_answered_once,
            self.stale_is_refused,
            self.too_fast_is_refused,
            self.garbage_does_not_stall,
            self.wide_framing,
            self.failsafe_on_host_silence,
            self.close_ends_the_session,
        ]


def run_checks(url: str, out: Callable[[str], None] = print) -> list[Outcome]:
    """Every check against the device at `url`, each printed as it ends. Stops after a failed handshake."""
    link = open_link(url)
    outcomes = []
    try:
        suite = Suite(Host(link))
        for check in suite.checks():
            name = check.__name__.replace("_", " ")
            try:
                outcome = Outcome(name, True, check())
            except NonConformanceError as exc:
                outcome = Outcome(name, False, str(exc))
            outcomes.append(outcome)
            out(outcome.line())
            if not outcome.passed and check == suite.handshake:
                break
    finally:
        link.close()
    return outcomes
