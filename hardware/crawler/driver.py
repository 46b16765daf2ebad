"""Host side of the crawler protocol, as a vehicle driver: handshake, heartbeats, acknowledged commands, telemetry.

Not threaded: the owner calls `service(timeout_s)` in its loop (at least every 20 ms). `connect()` opens
the link and sends the first HELLO; the handshake completes inside `service`, so the owner keeps its own
watchdog alive while a slow crawler answers.

What the crawler announces in HELLO_ACK is honoured: speeds are clamped to its `max_speed`, and the host
heartbeat runs at a third of its `heartbeat_timeout` at most (the handshake is refused when that would
be faster than `MIN_HEARTBEAT_PERIOD_S`). A NACK with NO_SESSION (the crawler's controller reset) starts
a new handshake, and a pending STOP is sent again in the new session. A crawler that answers no command
for `ack_timeout_s * (max_retries + 1)` counts as lost: the host shakes hands again.

On a slow link (a radio, a companion computer's ZeroMQ) answers come late, so:
- a resent frame is byte-identical (HELLO too), and an answer to any copy settles it;
- a STOP, or a SET_SPEED of the speed already pending, asked for again while pending, is not a new
  command: its retries carry on (a new seq each time would supersede every copy before its ACK returned);
- an ACK or NACK of a command a newer one superseded still shows the crawler answering;
- handshakes that end without a single command answered back off, doubling up to `MAX_HELLO_BACKOFF_S`.

Protocol 1.1 is negotiated in the handshake: with a 1.1 crawler every frame but the handshake carries
CRC-32 (a corrupted command passes CRC-16 about once in 65,536 damaged frames), and `close()` ends the
session with CLOSE; a 1.0 crawler gets 1.0 framing and no CLOSE.

The crawler's own FAILSAFE and FAULT (state or flag) are counted as it enters them, logged and kept in
`last_failsafe`, so a run whose crawler stopped itself says so.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gridscout.control.vehicle import VehicleLimits, VehicleState, VehicleTelemetry
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
    Nack,
    NackReason,
    SetSpeed,
    Stop,
    Telemetry,
    TelemetryFlags,
    encode,
    seq_newer,
)
from gridscout.hardware.vehicle.driver import DriverCounters, LinkError, LinkState, Refusal, heard_within
from gridscout.hardware.vehicle.uri import VehicleTarget

if TYPE_CHECKING:
    import zmq

#: the fastest host heartbeat this driver promises (its owner services it at least every 20 ms)
MIN_HEARTBEAT_PERIOD_S = 0.02
#: a connected crawler silent this many link timeouts is taken to be gone: shake hands again
SILENCE_RECONNECT_FACTOR = 4
#: the longest wait before a new handshake after sessions that answered no command (a NO_SESSION storm)
MAX_HELLO_BACKOFF_S = 2.0
#: commands superseded before their answer came, remembered so a late ACK still shows the crawler alive
_SUPERSEDED_KEPT = 16

log = logging.getLogger(__name__)

#: the crawler's states in the words every vehicle shares
_STATES = {
    CrawlerState.IDLE: VehicleState.READY,
    CrawlerState.STOPPED: VehicleState.READY,
    CrawlerState.MOVING: VehicleState.MOVING,
    CrawlerState.FAILSAFE: VehicleState.FAILSAFE,
    CrawlerState.END_OF_LINE: VehicleState.END_OF_PATH,
    CrawlerState.FAULT: VehicleState.FAULT,
}
#: states in which the crawler has taken itself out of the host's control
_OWN_STOPS = frozenset({CrawlerState.FAILSAFE, CrawlerState.FAULT})


class CrawlerError(RuntimeError):
    """The crawler did not complete the handshake, or cannot be driven by this host."""


@dataclass(frozen=True, slots=True)
class CrawlerSettings:
    """How the host drives the link. These are the shipped defaults; `gridscout.edge.config` reads them."""

    baud: int = 115200
    heartbeat_period_s: float = 0.1
    ack_timeout_s: float = 0.1
    max_retries: int = 3
    link_timeout_s: float = 0.5
    hello_resend_s: float = 0.25


@dataclass(slots=True)
class _Pending:
    seq: int
    msg: SetSpeed | Stop
    frame: bytes
    sent_ns: int
    retries: int = 0

    @property
    def is_stop(self) -> bool:
        return isinstance(self.msg, Stop)


class CrawlerDriver:
    """Drives one crawler over the link at `url` (a pyserial URL or tcp://). Speeds in m/s, + forward."""

    def __init__(self, url: str, settings: CrawlerSettings | None = None) -> None:
        self.url = url
        self.settings = settings or CrawlerSettings()
        self.link: Link | None = None
        self.link_state = LinkState.CLOSED
        self.link_detail = "not connected yet"
        self.telemetry: VehicleTelemetry | None = None
        self.limits: VehicleLimits | None = None
        self.hello_ack: HelloAck | None = None
        self.counters = DriverCounters()
        self.last_write_mono_ns = 0  # latest STOP / SET_SPEED bytes handed to the link
        self.warnings: list[str] = []  # the crawler announces its limits; nothing to check
        self.last_failsafe = ""  # its FAILSAFE state is in its telemetry
        self.last_link_drop = ""
        self.last_tx_mono_ns = 0  # latest frame of any kind (heartbeats included)
        self._decoder = FrameDecoder()
        self._t0_ns = time.monotonic_ns()
        self._seq = 0
        self._pending: list[_Pending] = []  # at most one SET_SPEED and one STOP
        self._refusals: list[Refusal] = []
        self._hello_seq: int | None = None
        self._next_hello_ns = 0
        self._last_rx_ns: int | None = None
        self._heartbeat_period_ns = round(self.settings.heartbeat_period_s * 1e9)
        self._next_heartbeat_ns = 0
        self._unanswered_since_ns: int | None = None  # since when commands have waited with no answer at all
        self._hello_frame = b""  # the HELLO of this handshake, resent byte for byte
        self._superseded: deque[int] = deque(maxlen=_SUPERSEDED_KEPT)
        self._answered_in_session = False
        self._quiet_sessions = 0  # sessions in a row that ended with no command answered
        self._own_stop: CrawlerState | None = None  # the FAILSAFE or FAULT the crawler is in
        self.protocol = ""  # the session's protocol version, "1.1" or "1.0", once negotiated
        self._wide = False  # the session's framing is 1.1's (CRC-32)

    @classmethod
    def for_target(cls, target: VehicleTarget, settings: CrawlerSettings, mission: object = None) -> CrawlerDriver:
        """The driver for a parsed `crawler:` URI (its `?baud=` wins over the settings'). A crawler rides its
        conductor: a mission's path is not its to follow, so `mission` is not used."""
        return cls(target.link, replace(settings, baud=target.baud) if target.baud else settings)

    # ---- the link ----

    def connect(self) -> None:
        """Open the link and send the first HELLO. Raises LinkError (naming the URL) when it cannot open."""
        if self.link is not None:
            self.link.close()
        self.link = open_link(self.url, self.settings.baud)
        self._decoder = FrameDecoder()
        self._last_rx_ns = None
        self._begin_handshake(
            f"no HELLO_ACK from a crawler on {self.url} yet (powered? right port and baud rate? "
            "nothing else holding the port?)"
        )

    def handshake(self, timeout_s: float = 2.0) -> HelloAck:
        """Connect and wait for the handshake (for tools and tests). Raises CrawlerError when it fails."""
        self.connect()
        deadline = time.monotonic() + timeout_s
        while self.link_state is LinkState.CONNECTING and time.monotonic() < deadline:
            self.service(min(0.02, max(0.0, deadline - time.monotonic())))
        if self.link_state is not LinkState.CONNECTED:
            raise CrawlerError(self.link_detail if self.link_state is LinkState.REFUSED else self._no_answer(timeout_s))
        assert self.hello_ack is not None
        return self.hello_ack

    def _no_answer(self, waited_s: float) -> str:
        return (
            f"no HELLO_ACK from a crawler on {self.url} within {waited_s:.1f} s "
            "(powered? right port and baud rate? nothing else holding the port?)"
        )

    @property
    def link_ok(self) -> bool:
        """Connected, and a valid frame arrived within `link_timeout_s`."""
        return self.link_state is LinkState.CONNECTED and heard_within(self._last_rx_ns, self.settings.link_timeout_s)

    def close(self) -> None:
        """End the session (CLOSE, to a 1.1 crawler: it stops and forgets the session) and close the link."""
        if self.link is not None:
            if self.link_state is LinkState.CONNECTED and self._wide:  # CLOSE came with 1.1's framing
                with contextlib.suppress(LinkError):  # the link is going anyway
                    self._send(Close())
            self.link.close()
            self.link = None
        self.link_state = LinkState.CLOSED

    # ---- commands ----

    def command_speed(self, speed_mps: float) -> int:
        """Command a speed (m/s, signed), clamped to the crawler's announced maximum; returns its seq, or -1
        when not connected (nothing sent). Supersedes an unacknowledged older SET_SPEED."""
        top = self.limits.max_speed_mps if self.limits else None
        if top is not None and abs(speed_mps) > top:
            speed_mps = top if speed_mps > 0 else -top
            self.counters.clamped += 1
        return self._send_command(SetSpeed(speed_mps))

    def hold(self) -> int:
        """Stand still in place (speed 0, a gentle stop); the crawler stays ready to move on."""
        return self.command_speed(0.0)

    def stop(self) -> int:
        """Brake hard to a standstill. Supersedes every unacknowledged command and is retried until acknowledged
        (max_retries does not apply); returns its seq, or -1 when not connected. While a STOP is pending this is
        that STOP (its retries go on)."""
        return self._send_command(Stop())

    @property
    def heartbeat_period_s(self) -> float:
        """The host heartbeat period in use: the configured one, shortened to a third of the crawler's timeout."""
        return self._heartbeat_period_ns / 1e9

    @property
    def stop_pending(self) -> bool:
        return any(p.is_stop for p in self._pending)

    @property
    def pending_seqs(self) -> list[int]:
        """Seqs of commands sent but not yet acknowledged."""
        return [p.seq for p in self._pending]

    def take_refusals(self) -> list[Refusal]:
        taken, self._refusals = self._refusals, []
        return taken

    @property
    def decoder_counts(self) -> dict[str, int]:
        d = self._decoder
        return {
            "frames_rx": d.frames,
            "crc_errors": d.crc_errors,
            "bad_frames": d.bad_frames,
            "unknown_ids": d.unknown_ids,
        }

    # ---- the loop ----

    def service(self, timeout_s: float = 0.0) -> None:
        """Read what arrives within `timeout_s` (returning early once something did), handle it, and send
        what is due. Raises LinkError when the link fails (the owner reconnects)."""
        if self.link is None:
            time.sleep(max(0.0, timeout_s))
            return
        self._due_work()
        wait_ns = min(round(timeout_s * 1e9), self._next_due_ns() - time.monotonic_ns())
        data = self.link.read(max(0, wait_ns) / 1e9)
        if data:
            rx_ns = time.monotonic_ns()
            for packet in self._decoder.feed(data):
                self._last_rx_ns = rx_ns
                self._handle(packet.msg, rx_ns)
        self._due_work()

    @property
    def wait_handle(self) -> int | zmq.Socket | None:
        return None if self.link is None else self.link.wait_handle

    def due_in_s(self) -> float:
        if self.link is None:  # closed: nothing to send until the owner connects again
            return float("inf")
        return max(0.0, (self._next_due_ns() - time.monotonic_ns()) / 1e9)

    # ---- internals ----

    def _begin_handshake(self, why: str) -> None:
        was_session = self.link_state is LinkState.CONNECTED
        if was_session:
            self.counters.link_drops += 1
            self.last_link_drop = why
        self.link_state, self.link_detail = LinkState.CONNECTING, why
        self.hello_ack = None
        self._pending = [p for p in self._pending if p.is_stop]  # a STOP still matters in the next session
        self._unanswered_since_ns = None
        self._superseded.clear()
        self._hello_seq, self._hello_frame = self._seq, encode(Hello(PROTOCOL_MAJOR, PROTOCOL_MINOR), self._seq)
        self._seq = (self._seq + 1) & 0xFFFF
        now = time.monotonic_ns()
        if was_session and not self._answered_in_session:
            self._quiet_sessions += 1
        backoff_s = min(self.settings.hello_resend_s * 2 ** (self._quiet_sessions - 1), MAX_HELLO_BACKOFF_S)
        self._next_hello_ns = now + round(backoff_s * 1e9) if self._quiet_sessions else 0
        self._send_hello_if_due(now)

    def _send_hello_if_due(self, now: int) -> None:
        if now >= self._next_hello_ns and self.link is not None:
            self._write(self._hello_frame)  # the same bytes every time: an answer to any copy completes it
            self._next_hello_ns = now + round(self.settings.hello_resend_s * 1e9)

    def _on_hello_ack(self, ack: HelloAck) -> None:
        self.hello_ack = ack
        if ack.status != HelloStatus.OK or ack.major != PROTOCOL_MAJOR:
            self.link_state = LinkState.REFUSED
            self.link_detail = (
                f"crawler on {self.url} speaks protocol {ack.major}.{ack.minor}, this driver "
                f"{PROTOCOL_MAJOR}.{PROTOCOL_MINOR}: major versions differ, refusing to drive it"
            )
            return
        period = min(self.settings.heartbeat_period_s, ack.heartbeat_timeout_s / 3)
        if period < MIN_HEARTBEAT_PERIOD_S:
            self.link_state = LinkState.REFUSED
            self.link_detail = (
                f"crawler on {self.url} stops itself after {ack.heartbeat_timeout_s * 1e3:.0f} ms without a "
                "host frame; "
                f"this host cannot promise a heartbeat faster than every {MIN_HEARTBEAT_PERIOD_S * 1e3:.0f} ms "
                f"(needs a timeout of at least {3 * MIN_HEARTBEAT_PERIOD_S * 1e3:.0f} ms): refusing to drive it"
            )
            return
        self._heartbeat_period_ns = round(period * 1e9)
        self._next_heartbeat_ns = 0
        minor = min(ack.minor, PROTOCOL_MINOR)
        self.protocol, self._wide = f"{PROTOCOL_MAJOR}.{minor}", minor >= WIDE_MINOR
        self._decoder.wide = self._wide
        self.limits = VehicleLimits(max_speed_mps=ack.max_speed_mps, heartbeat_timeout_s=ack.heartbeat_timeout_s)
        self.link_state, self.link_detail = LinkState.CONNECTED, ""
        self.counters.handshakes += 1
        self._answered_in_session = False
        stop_before, self._pending = self.stop_pending, []
        if stop_before:  # a STOP from before the new session: send it again, as a new command
            self._send_command(Stop())

    def _send(self, msg: Message) -> int:
        seq = self._seq
        self._seq = (self._seq + 1) & 0xFFFF
        self._write(encode(msg, seq, wide=self._wide))
        return seq

    def _write(self, frame: bytes) -> None:
        assert self.link is not None
        self.link.write(frame)
        self.last_tx_mono_ns = time.monotonic_ns()

    def _send_command(self, msg: SetSpeed | Stop) -> int:
        if self.link_state is not LinkState.CONNECTED:
            return -1
        if self._pending and self._pending[-1].msg == msg:
            return self._pending[-1].seq  # asked again while the newest pending: its own retries carry on
        seq, is_stop = self._seq, isinstance(msg, Stop)
        frame = encode(msg, seq, wide=self._wide)  # may raise ValueError: nothing sent or superseded then
        superseded = [p for p in self._pending if is_stop or not p.is_stop]
        self._superseded.extend(p.seq for p in superseded)
        self._pending = [p for p in self._pending if p not in superseded]
        self._seq = (self._seq + 1) & 0xFFFF
        self._write(frame)
        self.last_write_mono_ns = self.last_tx_mono_ns
        self._pending.append(_Pending(seq, msg, frame, self.last_write_mono_ns))
        if self._unanswered_since_ns is None:
            self._unanswered_since_ns = self.last_write_mono_ns
        return seq

    def _handle(self, msg: Message, rx_ns: int) -> None:
        match msg:
            case Telemetry():
                state = self._own_stop_state(msg)
                self.telemetry = VehicleTelemetry(
                    t_mono_ns=rx_ns,
                    t_rx_mono_ns=rx_ns,
                    state=_STATES[state],
                    link_ok=True,
                    position_m=msg.position_m,
                    speed_mps=msg.speed_mps,
                    battery_v=msg.battery_v,
                    battery_pct=float(msg.battery_pct),
                    last_cmd_seq=msg.last_cmd_seq,
                    max_speed_mps=self.limits.max_speed_mps if self.limits else None,
                )
            case Ack(cmd_seq=cmd_seq):
                self._settle(cmd_seq)
            case Nack(cmd_seq=cmd_seq):
                self._on_nack(msg, self._settle(cmd_seq, in_session=msg.reason != NackReason.NO_SESSION))
            case HelloAck(hello_seq=hello_seq) if (
                hello_seq == self._hello_seq and self.link_state is LinkState.CONNECTING
            ):
                self._on_hello_ack(msg)
            case _:
                pass  # vehicle heartbeats only refresh the link; host-bound messages echoed back are ignored

    def _own_stop_state(self, msg: Telemetry) -> CrawlerState:
        """The crawler's state, FAULT or FAILSAFE where its flag says so; entering either is counted (in a
        session: telemetry from before the handshake is an old session's)."""
        state = msg.state
        if msg.flags & TelemetryFlags.FAULT:
            state = CrawlerState.FAULT
        elif msg.flags & TelemetryFlags.FAILSAFE and state not in _OWN_STOPS:
            state = CrawlerState.FAILSAFE
        own = state if state in _OWN_STOPS else None
        if own is not None and own != self._own_stop and self.link_state is LinkState.CONNECTED:
            self.counters.failsafes += 1
            why = "its fault flag: only STOP is accepted" if own is CrawlerState.FAULT else "its own stop"
            self.last_failsafe = f"crawler in {own.name} at {msg.position_m:.2f} m ({why})"
            log.warning("%s", self.last_failsafe)
        if own is None or self.link_state is LinkState.CONNECTED:
            self._own_stop = own
        return state

    def _on_nack(self, nack: Nack, was_pending: _Pending | None) -> None:
        if was_pending is None or nack.reason == NackReason.STALE:
            return  # a duplicate answer, or a late retry a newer command overtook: nothing was refused
        command = "stop" if was_pending.is_stop else "set_speed"
        self._refusals.append(Refusal(nack.cmd_seq, command, nack.reason.name, time.monotonic_ns()))
        self.counters.refusals[nack.reason.name] += 1
        if nack.reason == NackReason.NO_SESSION:
            if was_pending.is_stop:
                self._pending.append(was_pending)  # resent once the new session is up
            self._begin_handshake(f"crawler on {self.url} lost its session (NO_SESSION); shaking hands again")

    def _settle(self, cmd_seq: int, in_session: bool = True) -> _Pending | None:
        """Close the pending command `cmd_seq`, and older ones the vehicle has now handled or skipped.
        `in_session`: the answer came from a crawler holding the session (not a NO_SESSION)."""
        answered = next((p for p in self._pending if p.seq == cmd_seq), None)
        if answered is None and cmd_seq not in self._superseded:
            return None  # a duplicate answer, or one from another session
        if in_session:
            self._answered_in_session, self._quiet_sessions = True, 0
        if answered is None:  # to a command superseded before the answer came: the crawler is answering
            self._unanswered_since_ns = time.monotonic_ns() if self._pending else None
            return None
        self._pending = [p for p in self._pending if p.seq != cmd_seq and not seq_newer(cmd_seq, p.seq)]
        self._unanswered_since_ns = min((p.sent_ns for p in self._pending), default=None)
        return answered

    def _next_due_ns(self) -> int:
        if self.link_state is LinkState.CONNECTING:
            return self._next_hello_ns
        if self.link_state is not LinkState.CONNECTED:
            return time.monotonic_ns() + 10**8
        return min(
            [self._next_heartbeat_ns] + [p.sent_ns + round(self.settings.ack_timeout_s * 1e9) for p in self._pending]
        )

    def _due_work(self) -> None:
        now = time.monotonic_ns()
        if self.link_state is LinkState.CONNECTING:
            self._send_hello_if_due(now)
            return
        if self.link_state is not LinkState.CONNECTED:
            return
        s = self.settings
        silence_ns = now - (self._last_rx_ns or now)
        if silence_ns > SILENCE_RECONNECT_FACTOR * s.link_timeout_s * 1e9:
            self._begin_handshake(f"crawler on {self.url} silent for {silence_ns / 1e9:.1f} s; shaking hands again")
            return
        unanswered_limit_ns = s.ack_timeout_s * (s.max_retries + 1) * 1e9
        if self._unanswered_since_ns is not None and now - self._unanswered_since_ns > unanswered_limit_ns:
            self.counters.unanswered += 1
            waited = (now - self._unanswered_since_ns) / 1e9
            self._begin_handshake(f"crawler on {self.url} answered no command for {waited:.1f} s; shaking hands again")
            return
        ack_timeout_ns = s.ack_timeout_s * 1e9
        for p in list(self._pending):
            if now - p.sent_ns < ack_timeout_ns:
                continue
            if not p.is_stop and p.retries >= s.max_retries:
                self._pending.remove(p)
                self.counters.unanswered += 1
                continue
            p.retries += 1
            self.counters.retries += 1
            self._write(p.frame)  # same bytes, same seq: the vehicle treats it as a duplicate if it had it
            p.sent_ns = self.last_write_mono_ns = self.last_tx_mono_ns
        if now >= self._next_heartbeat_ns:
            self._send(Heartbeat((now - self._t0_ns) / 1e9))
            self._next_heartbeat_ns = now + self._heartbeat_period_ns


__all__ = ["MIN_HEARTBEAT_PERIOD_S", "CrawlerDriver", "CrawlerError", "CrawlerSettings", "LinkError"]
