"""Crawler wire protocol (docs/crawler_protocol.md): message types, `encode` and a streaming `FrameDecoder`.

A frame is COBS(header + payload + check) followed by 0x00. The header is `<BBH`: protocol major version,
message id, sequence number; the check is CRC-16/CCITT-FALSE over header + payload, little-endian, or in a
session both ends opened at 1.1 or later ("wide" framing) CRC-32 for every frame but HELLO and HELLO_ACK,
whose layout is frozen. Python values are SI (metres, m/s, volts, seconds); the wire carries integers
(mm, mm/s, mV, ms).
"""

from __future__ import annotations

import binascii
import enum
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cobs import cobs

PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 1
#: the first minor with wide framing (CRC-32) and CLOSE
WIDE_MINOR = 1

HEADER = struct.Struct("<BBH")  # version major, message id, seq
CRC = struct.Struct("<H")
CRC32 = struct.Struct("<I")
MAX_FRAME_BYTES = 64  # encoded size cap; longer runs without a delimiter are garbage
SEQ_MODULO = 1 << 16


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xorout); check("123456789") = 0x29B1."""
    return binascii.crc_hqx(data, 0xFFFF)


def crc32(data: bytes) -> int:
    """CRC-32 (IEEE 802.3, as zlib and Ethernet); check("123456789") = 0xCBF43926."""
    return zlib.crc32(data)


def seq_newer(a: int, b: int) -> bool:
    """True when seq `a` is newer than `b` in 16-bit serial-number arithmetic (RFC 1982)."""
    return 0 < (a - b) % SEQ_MODULO < SEQ_MODULO // 2


class MsgId(enum.IntEnum):
    HELLO = 0x01
    HELLO_ACK = 0x02
    HEARTBEAT = 0x03
    SET_SPEED = 0x10
    STOP = 0x11
    CLOSE = 0x12
    ACK = 0x20
    NACK = 0x21
    TELEMETRY = 0x30


class CrawlerState(enum.IntEnum):
    IDLE = 0
    MOVING = 1
    STOPPED = 2
    FAILSAFE = 3
    END_OF_LINE = 4
    FAULT = 5


class HelloStatus(enum.IntEnum):
    OK = 0
    MAJOR_MISMATCH = 1


class NackReason(enum.IntEnum):
    SPEED_OUT_OF_RANGE = 1
    NO_SESSION = 2
    AT_END_OF_LINE = 3
    FAULT = 4
    STALE = 5


class TelemetryFlags(enum.IntFlag):
    NONE = 0
    FAILSAFE = 0x01
    END_OF_LINE = 0x02
    SESSION = 0x04
    FAULT = 0x08


# ---- messages (Python side, SI units) ----


@dataclass(frozen=True, slots=True)
class Hello:
    major: int = PROTOCOL_MAJOR
    minor: int = PROTOCOL_MINOR


@dataclass(frozen=True, slots=True)
class HelloAck:
    major: int
    minor: int
    status: HelloStatus
    hello_seq: int
    heartbeat_timeout_s: float
    max_speed_mps: float


@dataclass(frozen=True, slots=True)
class Heartbeat:
    uptime_s: float


@dataclass(frozen=True, slots=True)
class SetSpeed:
    speed_mps: float


@dataclass(frozen=True, slots=True)
class Stop:
    pass


@dataclass(frozen=True, slots=True)
class Close:
    """1.1: the host ends the session (it is shutting down): the vehicle stops and forgets the session."""


@dataclass(frozen=True, slots=True)
class Ack:
    cmd_seq: int
    cmd_id: MsgId


@dataclass(frozen=True, slots=True)
class Nack:
    cmd_seq: int
    cmd_id: MsgId
    reason: NackReason


@dataclass(frozen=True, slots=True)
class Telemetry:
    position_m: float
    speed_mps: float
    battery_v: float
    battery_pct: int
    state: CrawlerState
    last_cmd_seq: int
    flags: TelemetryFlags

    @property
    def failsafe(self) -> bool:
        return bool(self.flags & TelemetryFlags.FAILSAFE)


Message = Hello | HelloAck | Heartbeat | SetSpeed | Stop | Close | Ack | Nack | Telemetry


@dataclass(frozen=True, slots=True)
class Packet:
    """A decoded frame: the sender's sequence number and the message."""

    seq: int
    msg: Message


# ---- wire layouts: message class -> (id, struct, to-wire, from-wire) ----

#: the messages an ACK or NACK may answer (HELLO is answered by HELLO_ACK)
COMMANDS = frozenset({MsgId.SET_SPEED, MsgId.STOP, MsgId.CLOSE})
_RESERVED_FLAGS = 0xFF & ~sum(TelemetryFlags)  # the bits no flag names (IntFlag's own ~ keeps to its members)


def _command(value: int) -> MsgId:
    """An answered command's id; ValueError for anything the spec does not let an ACK/NACK name."""
    msg_id = MsgId(value)
    if msg_id not in COMMANDS:
        raise ValueError(f"an ACK/NACK answers a command, not {msg_id.name}")
    return msg_id


def _telemetry(v: tuple[int, ...]) -> Telemetry:
    """TELEMETRY from the wire, held to the spec's ranges: charge 0-100 %, reserved flag bits 0."""
    if v[3] > 100:
        raise ValueError(f"battery_pct {v[3]} > 100")
    if v[6] & _RESERVED_FLAGS:
        raise ValueError(f"reserved flag bits set: {v[6]:#04x}")
    return Telemetry(v[0] / 1000, v[1] / 1000, v[2] / 1000, v[3], CrawlerState(v[4]), v[5], TelemetryFlags(v[6]))


def _milli(value: float) -> int:
    """SI value to its wire integer: m -> mm, m/s -> mm/s, V -> mV, s -> ms."""
    return round(value * 1000)


@dataclass(frozen=True, slots=True)
class _Layout:
    msg_id: MsgId
    body: struct.Struct
    to_wire: Callable[[Any], tuple[int, ...]]
    from_wire: Callable[[tuple[Any, ...]], Message]


_LAYOUTS: dict[type, _Layout] = {
    Hello: _Layout(MsgId.HELLO, struct.Struct("<BB"), lambda m: (m.major, m.minor), lambda v: Hello(*v)),
    HelloAck: _Layout(
        MsgId.HELLO_ACK,
        struct.Struct("<BBBHHH"),
        lambda m: (m.major, m.minor, m.status, m.hello_seq, _milli(m.heartbeat_timeout_s), _milli(m.max_speed_mps)),
        lambda v: HelloAck(v[0], v[1], HelloStatus(v[2]), v[3], v[4] / 1000, v[5] / 1000),
    ),
    Heartbeat: _Layout(
        MsgId.HEARTBEAT,
        struct.Struct("<I"),
        lambda m: (_milli(m.uptime_s) % (1 << 32),),
        lambda v: Heartbeat(v[0] / 1000),
    ),
    SetSpeed: _Layout(
        MsgId.SET_SPEED, struct.Struct("<h"), lambda m: (_milli(m.speed_mps),), lambda v: SetSpeed(v[0] / 1000)
    ),
    Stop: _Layout(MsgId.STOP, struct.Struct("<"), lambda m: (), lambda v: Stop()),
    Close: _Layout(MsgId.CLOSE, struct.Struct("<"), lambda m: (), lambda v: Close()),
    Ack: _Layout(MsgId.ACK, struct.Struct("<HB"), lambda m: (m.cmd_seq, m.cmd_id), lambda v: Ack(v[0], _command(v[1]))),
    Nack: _Layout(
        MsgId.NACK,
        struct.Struct("<HBB"),
        lambda m: (m.cmd_seq, m.cmd_id, m.reason),
        lambda v: Nack(v[0], _command(v[1]), NackReason(v[2])),
    ),
    Telemetry: _Layout(
        MsgId.TELEMETRY,
        struct.Struct("<ihHBBHB"),
        lambda m: (
            _milli(m.position_m),
            _milli(m.speed_mps),
            _milli(m.battery_v),
            m.battery_pct,
            m.state,
            m.last_cmd_seq,
            m.flags,
        ),
        _telemetry,
    ),
}
_BY_ID: dict[int, _Layout] = {layout.msg_id: layout for layout in _LAYOUTS.values()}
# HELLO / HELLO_ACK layouts are frozen across majors, so version negotiation works between any two.
_ANY_VERSION = {MsgId.HELLO, MsgId.HELLO_ACK}


def msg_id_of(msg: Message) -> MsgId:
    """The wire id of a message."""
    return _LAYOUTS[type(msg)].msg_id


def _check(msg_id: int, wide: bool) -> tuple[struct.Struct, Callable[[bytes], int]]:
    """The check a frame of `msg_id` carries: CRC-32 in wide framing, except for the frozen handshake."""
    return (CRC32, crc32) if wide and msg_id not in _ANY_VERSION else (CRC, crc16)


def encode(msg: Message, seq: int, *, wide: bool = False) -> bytes:
    """One complete frame for `msg`: COBS-encoded header + payload + check, then the 0x00 delimiter. `wide`:
    the session's framing is 1.1's (CRC-32).

    Raises ValueError when a field does not fit its wire type (e.g. a speed beyond ±32.767 m/s).
    """
    layout = _LAYOUTS[type(msg)]
    try:
        raw = HEADER.pack(PROTOCOL_MAJOR, layout.msg_id, seq % SEQ_MODULO) + layout.body.pack(*layout.to_wire(msg))
    except struct.error as exc:
        raise ValueError(f"{msg!r} does not fit the wire format: {exc}") from exc
    packer, check = _check(layout.msg_id, wide)
    return cobs.encode(raw + packer.pack(check(raw))) + b"\x00"


class FrameDecoder:
    """Streaming decoder: `feed(bytes)` yields the `Packet`s completed so far. Never raises on input.

    `wide`: the session's framing is 1.1's (CRC-32 on all but the handshake); its owner sets it once the
    handshake has negotiated it.

    Counters: `frames` (valid), `crc_errors`, `bad_frames` (bad COBS, length, overlong, a field the spec
    rules out: an unknown enum value, a charge over 100 %, a reserved flag bit, an ACK/NACK naming no
    command; or a non-handshake frame from another major version) and `unknown_ids` (valid check, id not
    known; ignored).
    """

    def __init__(self, *, wide: bool = False) -> None:
        self.wide = wide
        self._buf = bytearray()
        self._overflow = False  # dropping bytes until the next delimiter
        self.frames = 0
        self.crc_errors = 0
        self.bad_frames = 0
        self.unknown_ids = 0

    def feed(self, data: bytes) -> Iterator[Packet]:
        for chunk_end, part in _split_keep(data):
            if not self._overflow:
                self._buf += part
                if len(self._buf) > MAX_FRAME_BYTES:
                    self._buf.clear()
                    self._overflow = True
                    self.bad_frames += 1
            if chunk_end:
                frame, self._overflow = bytes(self._buf), False
                self._buf.clear()
                if frame:
                    packet = self._decode(frame)
                    if packet is not None:
                        yield packet

    def _decode(self, frame: bytes) -> Packet | None:
        try:
            raw = cobs.decode(frame)
        except cobs.DecodeError:
            self.bad_frames += 1
            return None
        if len(raw) < HEADER.size + CRC.size:
            self.bad_frames += 1
            return None
        packer, check = _check(raw[1], self.wide)
        if len(raw) < HEADER.size + packer.size:
            self.bad_frames += 1
            return None
        body, (crc,) = raw[: -packer.size], packer.unpack(raw[-packer.size :])
        if check(body) != crc:
            self.crc_errors += 1
            return None
        version, msg_id, seq = HEADER.unpack_from(body)
        layout = _BY_ID.get(msg_id)
        if layout is None:
            self.unknown_ids += 1
            return None
        payload = body[HEADER.size :]
        if len(payload) != layout.body.size or (version != PROTOCOL_MAJOR and msg_id not in _ANY_VERSION):
            self.bad_frames += 1
            return None
        try:
            msg = layout.from_wire(layout.body.unpack(payload))
        except ValueError:  # a field out of the spec's range
            self.bad_frames += 1
            return None
        self.frames += 1
        return Packet(seq, msg)


def _split_keep(data: bytes) -> Iterator[tuple[bool, bytes]]:
    """Split on 0x00: yields (ends_with_delimiter, bytes before it) pieces covering `data`."""
    start = 0
    while True:
        end = data.find(0, start)
        if end < 0:
            if start < len(data):
                yield False, data[start:]
            return
        yield True, data[start:end]
        start = end + 1
