"""Host side of the crawler protocol: handshake, heartbeats, acknowledged commands and telemetry.

Not threaded: the owner calls `service(timeout_s)` in its loop (every ≤50 ms is plenty); it reads and
decodes what arrived, resends unacknowledged commands and sends the host heartbeat when due.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gridscout.hardware.crawler.link import Link
from gridscout.hardware.crawler.protocol import (
    PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
    Ack,
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
    encode,
    seq_newer,
)

HELLO_RESEND_S = 0.25


class CrawlerError(RuntimeError):
    """The crawler did not answer the handshake, or speaks an incompatible protocol version."""


@dataclass(frozen=True, slots=True)
class CrawlerTelemetry:
    position_m: float
    speed_mps: float
    battery_v: float
    battery_pct: int
    state: CrawlerState
    last_cmd_seq: int
    failsafe: bool
    t_rx_mono_ns: int


@dataclass(slots=True)
class _Pending:
    seq: int
    frame: bytes
    is_stop: bool
    sent_ns: int
    retries: int = 0


class CrawlerDriver:
    """Commands a crawler over `link`. Speeds in m/s, positive = forward along the line."""

    def __init__(
        self,
        link: Link,
        *,
        heartbeat_period_s: float = 0.1,
        ack_timeout_s: float = 0.1,
        max_retries: int = 3,
        link_timeout_s: float = 0.5,
    ) -> None:
        self.link = link
        self.heartbeat_period_ns = round(heartbeat_period_s * 1e9)
        self.ack_timeout_ns = round(ack_timeout_s * 1e9)
        self.max_retries = max_retries
        self.link_timeout_ns = round(link_timeout_s * 1e9)
        self.telemetry: CrawlerTelemetry | None = None
        self.hello_ack: HelloAck | None = None
        self.last_nack: Nack | None = None
        self.last_write_mono_ns = 0  # latest STOP / SET_SPEED bytes handed to the link
        self.last_tx_mono_ns = 0  # latest frame of any kind (heartbeats included)
        self._decoder = FrameDecoder()
        self._t0_ns = time.monotonic_ns()
        self._seq = 0
        self._pending: list[_Pending] = []  # at most one SET_SPEED and one STOP
        self._hello_seq: int | None = None
        self._last_rx_ns: int | None = None
        self._next_heartbeat_ns = 0
        self._counts = dict.fromkeys(
            ("frames_tx", "retries", "commands_acked", "commands_nacked", "commands_failed", "commands_superseded"), 0
        )

    # ---- commands ----

    def handshake(self, timeout_s: float = 2.0) -> HelloAck:
        """Send HELLO until HELLO_ACK arrives. Raises CrawlerError on no answer or a major version mismatch."""
        self.hello_ack = None
        deadline = time.monotonic_ns() + round(timeout_s * 1e9)
        next_hello = 0
        while (now := time.monotonic_ns()) < deadline:
            if now >= next_hello:
                self._hello_seq = self._send(Hello(PROTOCOL_MAJOR, PROTOCOL_MINOR))
                next_hello = now + round(HELLO_RESEND_S * 1e9)
            self.service(min(deadline - now, next_hello - now) / 1e9)
            ack = self.hello_ack
            if ack is None:
                continue
            if ack.status != HelloStatus.OK or ack.major != PROTOCOL_MAJOR:
                raise CrawlerError(
                    f"crawler on {self.link.url} speaks protocol {ack.major}.{ack.minor}, this driver "
                    f"{PROTOCOL_MAJOR}.{PROTOCOL_MINOR}: major versions differ, refusing to drive it"
                )
            return ack
        raise CrawlerError(
            f"no HELLO_ACK from a crawler on {self.link.url} within {timeout_s:.1f} s "
            "(powered? right port and baud rate? nothing else holding the port?)"
        )

    def set_speed(self, speed_mps: float) -> int:
        """Command a speed (m/s, signed); returns its seq. Written at once; supersedes an unacknowledged older
        SET_SPEED. Raises ValueError for a speed the wire cannot carry (beyond ±32.767 m/s)."""
        return self._send_command(SetSpeed(speed_mps))

    def stop(self) -> int:
        """Brake hard to a standstill. Written at once, supersedes every unacknowledged command and is retried
        until acknowledged (max_retries does not apply); returns its seq."""
        return self._send_command(Stop())

    # ---- the loop ----

    def service(self, timeout_s: float = 0.0) -> int:
        """Read what arrives within `timeout_s` (returning early once something did), handle it, and send
        due heartbeats and retries. Returns the number of messages handled."""
        self._due_work()
        now = time.monotonic_ns()
        wait_ns = min(round(timeout_s * 1e9), self._next_due_ns() - now)
        data = self.link.read(max(0, wait_ns) / 1e9)
        handled = 0
        if data:
            rx_ns = time.monotonic_ns()
            for packet in self._decoder.feed(data):
                self._last_rx_ns = rx_ns
                self._handle(packet.msg, rx_ns)
                handled += 1
        self._due_work()
        return handled

    @property
    def link_ok(self) -> bool:
        """A valid frame arrived within `link_timeout_s`."""
        return self._last_rx_ns is not None and time.monotonic_ns() - self._last_rx_ns < self.link_timeout_ns

    @property
    def pending_seqs(self) -> list[int]:
        """Seqs of commands sent but not yet acknowledged."""
        return [p.seq for p in self._pending]

    @property
    def counters(self) -> dict[str, int]:
        d = self._decoder
        return {
            "frames_rx": d.frames,
            "crc_errors": d.crc_errors,
            "bad_frames": d.bad_frames,
            "unknown_ids": d.unknown_ids,
            **self._counts,
        }

    def close(self) -> None:
        self.link.close()

    # ---- internals ----

    def _send(self, msg: Message) -> int:
        seq = self._seq
        self._seq = (self._seq + 1) & 0xFFFF
        self._write(encode(msg, seq))
        return seq

    def _write(self, frame: bytes) -> None:
        self.link.write(frame)
        self.last_tx_mono_ns = time.monotonic_ns()
        self._counts["frames_tx"] += 1

    def _send_command(self, msg: SetSpeed | Stop) -> int:
        seq, is_stop = self._seq, isinstance(msg, Stop)
        frame = encode(msg, seq)  # may raise ValueError: nothing sent or superseded then
        superseded = [p for p in self._pending if is_stop or not p.is_stop]
        self._counts["commands_superseded"] += len(superseded)
        self._pending = [p for p in self._pending if p not in superseded]
        self._seq = (self._seq + 1) & 0xFFFF
        self._write(frame)
        self.last_write_mono_ns = self.last_tx_mono_ns
        self._pending.append(_Pending(seq, frame, is_stop, self.last_write_mono_ns))
        return seq

    def _handle(self, msg: Message, rx_ns: int) -> None:
        match msg:
            case Telemetry():
                self.telemetry = CrawlerTelemetry(
                    msg.position_m,
                    msg.speed_mps,
                    msg.battery_v,
                    msg.battery_pct,
                    msg.state,
                    msg.last_cmd_seq,
                    msg.failsafe,
                    rx_ns,
                )
            case Ack(cmd_seq=cmd_seq):
                self._settle(cmd_seq, acked=True)
            case Nack(cmd_seq=cmd_seq):
                if self._settle(cmd_seq, acked=False) and msg.reason != NackReason.STALE:
                    self.last_nack = msg
            case HelloAck(hello_seq=hello_seq) if hello_seq == self._hello_seq:
                self.hello_ack = msg
            case _:
                pass  # vehicle heartbeats only refresh link_ok; host-bound messages echoed back are ignored

    def _settle(self, cmd_seq: int, *, acked: bool) -> bool:
        """Close the pending command `cmd_seq`, and older ones the vehicle has now handled or skipped."""
        if not any(p.seq == cmd_seq for p in self._pending):
            return False  # a duplicate answer, or to a command already superseded
        self._counts["commands_acked" if acked else "commands_nacked"] += 1
        self._pending = [p for p in self._pending if p.seq != cmd_seq and not seq_newer(cmd_seq, p.seq)]
        return True

    def _next_due_ns(self) -> int:
        return min([self._next_heartbeat_ns] + [p.sent_ns + self.ack_timeout_ns for p in self._pending])

    def _due_work(self) -> None:
        now = time.monotonic_ns()
        for p in list(self._pending):
            if now - p.sent_ns < self.ack_timeout_ns:
                continue
            if not p.is_stop and p.retries >= self.max_retries:
                self._pending.remove(p)
                self._counts["commands_failed"] += 1
                continue
            p.retries += 1
            self._counts["retries"] += 1
            self._write(p.frame)  # same bytes, same seq: the vehicle treats it as a duplicate if it had it
            p.sent_ns = self.last_write_mono_ns = self.last_tx_mono_ns
        if now >= self._next_heartbeat_ns:
            self._send(Heartbeat((now - self._t0_ns) / 1e9))
            self._next_heartbeat_ns = now + self.heartbeat_period_ns
