"""The simulated crawler, without I/O: `handle(packet, now)` answers host messages, `tick(now)` advances
physics, runs the heartbeat watchdog and emits periodic telemetry and heartbeats. Times are monotonic
seconds supplied by the caller, so tests can drive it with any clock."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from gridscout.hardware.crawler.protocol import (
    PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
    WIDE_MINOR,
    Ack,
    Close,
    CrawlerState,
    Heartbeat,
    Hello,
    HelloAck,
    HelloStatus,
    Message,
    Nack,
    NackReason,
    Packet,
    SetSpeed,
    Stop,
    Telemetry,
    TelemetryFlags,
    msg_id_of,
    seq_newer,
)

EMPTY_V, FULL_V = 19.8, 25.2  # 6S Li-ion pack
SAG_V_PER_MPS = 0.3
DRAIN_PCT_PER_S = 0.002
DRAIN_PCT_PER_M = 0.05
AT_END_M = 1e-3
DEDUPE_WINDOW = 64


@dataclass(frozen=True, slots=True)
class SimConfig:
    line_length_m: float = 300.0
    start_position_m: float = 0.0
    max_speed_mps: float = 2.0
    accel_mps2: float = 0.5
    brake_mps2: float = 2.0
    heartbeat_timeout_s: float = 0.3
    battery_pct: float = 100.0
    physics_hz: float = 100.0
    telemetry_hz: float = 20.0
    heartbeat_hz: float = 10.0
    # Faults to rehearse against (tests and crews): a crawler that ...
    mute: bool = False  # ... never answers anything (wrong firmware, TX wire cut)
    hello_delay_s: float = 0.0  # ... answers HELLO only this long after the first one (a slow controller boot)
    refuse: NackReason | None = None  # ... NACKs every command with this reason (a controller stuck without a session)
    ack: bool = True  # False: ... applies commands but never answers them
    protocol_minor: int = PROTOCOL_MINOR  # 0: a 1.0 crawler (CRC-16 framing throughout, no CLOSE)
    fault_at_start: bool = False  # ... sits in FAULT from power-on (only STOP is accepted)
    #: ... has one outage: (kind, start, seconds), start counted from its first session; kind "mute" (sends
    #: nothing), "deaf" (hears nothing: its failsafe fires) or "silent" (both), as a flaky radio would
    outage: tuple[str, float, float] | None = None


class CrawlerSim:
    """State of one crawler on one line. `events` collects dicts for the log; the caller drains it."""

    def __init__(self, config: SimConfig, now: float) -> None:
        self.config = config
        self.position_m = min(max(config.start_position_m, 0.0), config.line_length_m)
        self.speed_mps = 0.0
        self.target_mps = 0.0
        self.hard_brake = False
        self.battery_pct = config.battery_pct
        self.state = CrawlerState.FAULT if config.fault_at_start else CrawlerState.IDLE
        self.session = False
        self.last_cmd_seq: int | None = None
        self.wide = False  # the session's framing is 1.1's (CRC-32): both ends said so in the handshake
        self.duplicates = 0
        self.events: list[dict[str, Any]] = []
        self._replies: OrderedDict[int, Message] = OrderedDict()  # command seq -> the answer it got
        self._t0 = self._t_physics = now
        self._first_hello: float | None = None
        self._first_session: float | None = None
        self._session_hello: tuple[int, HelloAck] | None = None  # the HELLO that opened the session, its answer
        self._last_host_rx: float | None = None
        self._next_telemetry = self._next_heartbeat = now

    # ---- protocol ----

    def handle(self, packet: Packet, now: float) -> list[Message]:
        """Answer one message from the host; returns the replies to send."""
        if self.config.mute or self._in_outage(now, "deaf"):
            return []
        replies = self._handle(packet, now)
        return [] if self._in_outage(now, "mute") else replies

    def _in_outage(self, now: float, side: str) -> bool:
        """In the configured outage, on `side` ("mute": not sending, "deaf": not hearing)."""
        o = self.config.outage
        if o is None or self._first_session is None or o[0] not in (side, "silent"):
            return False
        return o[1] <= now - self._first_session < o[1] + o[2]

    def _handle(self, packet: Packet, now: float) -> list[Message]:
        msg = packet.msg
        if isinstance(msg, Close) and self.config.protocol_minor < WIDE_MINOR:
            return []  # a 1.0 crawler does not know the id
        if isinstance(msg, Hello | Heartbeat | SetSpeed | Stop | Close):
            self._last_host_rx = now  # any valid host frame feeds the watchdog
        match msg:
            case Hello():
                self._first_hello = now if self._first_hello is None else self._first_hello
                if now - self._first_hello < self.config.hello_delay_s:
                    return []  # still booting
                if self.session and self._session_hello and self._session_hello[0] == packet.seq and not self._replies:
                    # a resent copy of the HELLO that opened this session (copies arrive before the session's
                    # first command; after one, the same seq is a restarted host's new HELLO): answer it again
                    self.duplicates += 1
                    return [self._session_hello[1]]
                ack = self._hello(packet.seq, msg, now)
                self._session_hello = (packet.seq, ack) if ack.status == HelloStatus.OK else None
                return [ack]
            case SetSpeed() | Stop() | Close():
                if packet.seq in self._replies:  # a retry of a command already handled: same answer, no effect
                    self.duplicates += 1
                    return [self._replies[packet.seq]] if self.config.ack else []
                reply = self._command(packet.seq, msg, now)
                self._replies[packet.seq] = reply
                while len(self._replies) > DEDUPE_WINDOW:
                    self._replies.popitem(last=False)
                return [reply] if self.config.ack else []
        return []  # heartbeats only feed the watchdog; vehicle-bound messages are ignored

    def _hello(self, seq: int, hello: Hello, now: float) -> HelloAck:
        ok = hello.major == PROTOCOL_MAJOR
        self._event(now, "hello", major=hello.major, minor=hello.minor, accepted=ok)
        if ok:  # a new session: forget the old one's seqs, leave failsafe, come to rest
            self.session = True
            self._first_session = now if self._first_session is None else self._first_session
            self.wide = min(hello.minor, self.config.protocol_minor) >= WIDE_MINOR
            self._replies.clear()
            self.last_cmd_seq = None
            if self.state != CrawlerState.FAULT:
                self.target_mps, self.hard_brake = 0.0, False
                self.state = CrawlerState.IDLE
        return HelloAck(
            PROTOCOL_MAJOR,
            self.config.protocol_minor,
            HelloStatus.OK if ok else HelloStatus.MAJOR_MISMATCH,
            seq,
            self.config.heartbeat_timeout_s,
            self.config.max_speed_mps,
        )

    def _command(self, seq: int, cmd: SetSpeed | Stop | Close, now: float) -> Ack | Nack:
        cmd_id = msg_id_of(cmd)
        reason = self._refusal(seq, cmd)
        if reason is not None:
            self._event(now, "nack", type=_kind(cmd), seq=seq, reason=reason.name, **self._cmd_fields(cmd))
            return Nack(seq, cmd_id, reason)
        self.last_cmd_seq = seq
        if isinstance(cmd, Close):  # the host is going: brake to rest, and no session until a new HELLO
            self.target_mps, self.hard_brake = 0.0, True
            if self.state != CrawlerState.FAULT:
                self.state = CrawlerState.STOPPED
            self.session = False
        elif isinstance(cmd, Stop):
            self.target_mps, self.hard_brake, self.state = 0.0, True, CrawlerState.STOPPED
        else:
            self.target_mps, self.hard_brake = cmd.speed_mps, False
            self.state = CrawlerState.MOVING if cmd.speed_mps else CrawlerState.STOPPED
        self._event(now, "command", type=_kind(cmd), seq=seq, **self._cmd_fields(cmd), position_m=self.position_m)
        return Ack(seq, cmd_id)

    def _refusal(self, seq: int, cmd: SetSpeed | Stop | Close) -> NackReason | None:
        if self.config.refuse is not None:
            return self.config.refuse
        if not self.session:
            return NackReason.NO_SESSION
        if self.last_cmd_seq is not None and seq_newer(self.last_cmd_seq, seq):
            return NackReason.STALE  # older than a command already applied: the newer one wins
        if isinstance(cmd, Stop | Close):
            return None
        if self.state == CrawlerState.FAULT:
            return NackReason.FAULT
        if abs(cmd.speed_mps) > self.config.max_speed_mps + 1e-9:
            return NackReason.SPEED_OUT_OF_RANGE
        at_start = self.position_m <= AT_END_M
        at_end = self.position_m >= self.config.line_length_m - AT_END_M
        if (cmd.speed_mps > 0 and at_end) or (cmd.speed_mps < 0 and at_start):
            return NackReason.AT_END_OF_LINE
        return None

    @staticmethod
    def _cmd_fields(cmd: SetSpeed | Stop | Close) -> dict[str, float]:
        return {"speed_mps": cmd.speed_mps if isinstance(cmd, SetSpeed) else 0.0}

    # ---- time ----

    def tick(self, now: float) -> list[Message]:
        """Advance physics to `now` in fixed steps, run the watchdog; returns telemetry/heartbeats due."""
        dt = 1.0 / self.config.physics_hz
        self._t_physics = max(self._t_physics, now - 1.0)  # after a long stall, do not replay it all
        while self._t_physics + dt <= now:
            self._t_physics += dt
            self.step(dt, self._t_physics)
        self._watchdog(now)
        if self.config.mute or self._in_outage(now, "mute"):
            return []
        out: list[Message] = []
        if now >= self._next_telemetry:
            out.append(self.telemetry())
            self._next_telemetry = max(self._next_telemetry + 1 / self.config.telemetry_hz, now)
        if now >= self._next_heartbeat:
            out.append(Heartbeat(now - self._t0))
            self._next_heartbeat = max(self._next_heartbeat + 1 / self.config.heartbeat_hz, now)
        return out

    def step(self, dt: float, now: float = 0.0) -> None:
        """One physics step: speed towards target within the accel (or brake) limit, never faster than
        it can still stop before an end of the line; battery drain; end-of-line and empty-battery stops."""
        cfg = self.config
        max_fwd = math.sqrt(2 * cfg.brake_mps2 * max(cfg.line_length_m - self.position_m, 0.0))
        max_back = math.sqrt(2 * cfg.brake_mps2 * max(self.position_m, 0.0))
        target = min(max(self.target_mps, -max_back), max_fwd)
        rate = cfg.brake_mps2 if self.hard_brake else cfg.accel_mps2
        self.speed_mps += min(max(target - self.speed_mps, -rate * dt), rate * dt)
        self.speed_mps = min(max(self.speed_mps, -max_back), max_fwd)
        self.position_m += self.speed_mps * dt
        self.battery_pct = max(
            0.0, self.battery_pct - DRAIN_PCT_PER_S * dt - DRAIN_PCT_PER_M * abs(self.speed_mps) * dt
        )

        heading_to_end = (self.target_mps > 0 and self.position_m >= cfg.line_length_m - AT_END_M) or (
            self.target_mps < 0 and self.position_m <= AT_END_M
        )
        if heading_to_end and abs(self.speed_mps) < 1e-3:
            self.position_m = cfg.line_length_m if self.target_mps > 0 else 0.0
            self.speed_mps = self.target_mps = 0.0
            self.state = CrawlerState.END_OF_LINE
            self._event(now, "end_of_line", position_m=self.position_m)
        if self.battery_pct <= 0 and self.state != CrawlerState.FAULT:
            self.target_mps, self.hard_brake, self.state = 0.0, True, CrawlerState.FAULT
            self._event(now, "fault", reason="battery empty", position_m=self.position_m)

    def _watchdog(self, now: float) -> None:
        if not self.session or self._last_host_rx is None or self.state in (CrawlerState.FAILSAFE, CrawlerState.FAULT):
            return
        silent_s = now - self._last_host_rx
        if silent_s > self.config.heartbeat_timeout_s:
            self.target_mps, self.hard_brake, self.state = 0.0, True, CrawlerState.FAILSAFE
            self._event(
                now, "failsafe", silent_s=round(silent_s, 4), position_m=self.position_m, speed_mps=self.speed_mps
            )

    # ---- outputs ----

    @property
    def battery_v(self) -> float:
        return EMPTY_V + (FULL_V - EMPTY_V) * self.battery_pct / 100 - SAG_V_PER_MPS * abs(self.speed_mps)

    def telemetry(self) -> Telemetry:
        flags = TelemetryFlags.NONE
        if self.state == CrawlerState.FAILSAFE:
            flags |= TelemetryFlags.FAILSAFE
        if self.state == CrawlerState.END_OF_LINE:
            flags |= TelemetryFlags.END_OF_LINE
        if self.state == CrawlerState.FAULT:
            flags |= TelemetryFlags.FAULT
        if self.session:
            flags |= TelemetryFlags.SESSION
        return Telemetry(
            self.position_m,
            self.speed_mps,
            self.battery_v,
            round(self.battery_pct),
            self.state,
            self.last_cmd_seq or 0,
            flags,
        )

    def _event(self, now: float, event: str, **fields: Any) -> None:
        rounded = {k: round(v, 6) if isinstance(v, float) else v for k, v in fields.items()}
        self.events.append({"t_mono": now, "event": event, **rounded})


def _kind(cmd: SetSpeed | Stop | Close) -> str:
    return {SetSpeed: "set_speed", Stop: "stop", Close: "close"}[type(cmd)]
