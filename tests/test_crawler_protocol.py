"""Crawler wire codec (docs/crawler_protocol.md): layouts, CRC, framing and a decoder that survives any input."""

import binascii
import random

import pytest
from cobs import cobs

from gridscout.hardware.crawler.protocol import (
    Ack,
    Close,
    CrawlerState,
    FrameDecoder,
    Heartbeat,
    Hello,
    HelloAck,
    HelloStatus,
    MsgId,
    Nack,
    NackReason,
    Packet,
    SetSpeed,
    Stop,
    Telemetry,
    TelemetryFlags,
    crc16,
    encode,
    seq_newer,
)

EVERY_MESSAGE = [
    Hello(1, 0),
    HelloAck(1, 0, HelloStatus.OK, 65535, 0.3, 2.0),
    HelloAck(2, 7, HelloStatus.MAJOR_MISMATCH, 0, 0.25, 1.5),
    Heartbeat(12.345),
    SetSpeed(1.5),
    SetSpeed(-32.768),
    SetSpeed(0.0),
    Stop(),
    Ack(513, MsgId.SET_SPEED),
    Nack(7, MsgId.SET_SPEED, NackReason.SPEED_OUT_OF_RANGE),
    Telemetry(12.345, -0.5, 24.9, 87, CrawlerState.MOVING, 0x0102, TelemetryFlags.SESSION),
    Telemetry(-1.0, 0.0, 19.8, 0, CrawlerState.FAILSAFE, 0, TelemetryFlags.FAILSAFE | TelemetryFlags.FAULT),
]


def decode_all(data: bytes) -> tuple[list[Packet], FrameDecoder]:
    decoder = FrameDecoder()
    return list(decoder.feed(data)), decoder


@pytest.mark.parametrize("msg", EVERY_MESSAGE, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(msg):
    """Each message encodes to one 0x00-terminated frame and decodes back to an equal message and seq."""
    frame = encode(msg, 0xBEEF)
    assert frame.endswith(b"\x00") and frame.count(0) == 1
    packets, decoder = decode_all(frame)
    assert packets == [Packet(0xBEEF, msg)]
    assert decoder.frames == 1


def test_crc_is_ccitt_false_with_the_documented_test_vector():
    """The spec's test vector: CRC-16/CCITT-FALSE("123456789") = 0x29B1, as binascii.crc_hqx with init 0xFFFF."""
    assert crc16(b"123456789") == 0x29B1 == binascii.crc_hqx(b"123456789", 0xFFFF)


def test_documented_example_frames():
    """The byte dumps in docs/crawler_protocol.md section 8 are what the codec produces."""
    assert encode(SetSpeed(1.5), 0x0102).hex(" ") == "09 01 10 02 01 dc 05 5d 95 00"
    assert encode(Stop(), 7).hex(" ") == "04 01 11 07 03 b0 1f 00"
    telemetry = Telemetry(12.345, -0.5, 24.9, 87, CrawlerState.MOVING, 0x0102, TelemetryFlags.SESSION)
    assert encode(telemetry, 0x0305).hex(" ") == "07 01 30 05 03 39 30 01 0c 0c fe 44 61 57 01 02 01 04 71 5f 00"


def test_speeds_beyond_int16_are_refused_at_encode():
    """A speed the wire cannot carry raises ValueError instead of wrapping into a wrong command."""
    with pytest.raises(ValueError):
        encode(SetSpeed(40.0), 1)


def test_decoder_resynchronises_after_garbage():
    """Line noise before, between and inside frames costs only the frames it touches."""
    good = [encode(SetSpeed(0.5), 1), encode(Stop(), 2), encode(Heartbeat(1.0), 3)]
    stream = b"\xff\x13garbage\x00" + good[0] + b"\x01\x02\x03\x00" + good[1] + b"noise-without-delimiter" + good[2]
    packets, decoder = decode_all(stream)
    # the noise glued in front of good[2] spoils it; the rest survives
    assert [p.msg for p in packets] == [SetSpeed(0.5), Stop()]
    assert decoder.bad_frames + decoder.crc_errors == 3
    packets, _ = decode_all(b"\x00" + good[2])
    assert [p.msg for p in packets] == [Heartbeat(1.0)]


def test_decoder_handles_frames_split_across_feeds():
    """A frame arriving one byte at a time decodes once it is complete."""
    decoder = FrameDecoder()
    frame = encode(Telemetry(1.0, 0.25, 24.0, 50, CrawlerState.MOVING, 3, TelemetryFlags.NONE), 9)
    got = [p for byte in frame for p in decoder.feed(bytes([byte]))]
    assert [p.seq for p in got] == [9]


@pytest.mark.parametrize(
    "msg", [SetSpeed(1.234), Telemetry(5.5, 1.0, 24.0, 90, CrawlerState.MOVING, 4, TelemetryFlags.SESSION)]
)
def test_no_single_bit_flip_is_accepted(msg):
    """Flip each bit of each byte of a valid frame (delimiter included): the result never decodes as a message,
    and the valid frame that follows still does."""
    frame = encode(msg, 0x1234)
    follower = encode(Heartbeat(2.0), 0x1235)
    for i in range(len(frame)):
        for bit in range(8):
            corrupt = bytearray(frame)
            corrupt[i] ^= 1 << bit
            packets, decoder = decode_all(bytes(corrupt) + b"\x00" + follower)
            assert [p.msg for p in packets] == [Heartbeat(2.0)], (i, bit)
            assert decoder.crc_errors + decoder.bad_frames >= 1


@pytest.mark.parametrize("msg", EVERY_MESSAGE[:6], ids=lambda m: type(m).__name__)
def test_truncated_frames_are_rejected(msg):
    """Every strict prefix of a frame, terminated early, is rejected and counted."""
    frame = encode(msg, 42)
    for cut in range(1, len(frame) - 1):
        packets, decoder = decode_all(frame[:cut] + b"\x00")
        assert packets == []
        assert decoder.bad_frames + decoder.crc_errors == 1


def test_unknown_ids_are_ignored_and_counted():
    """A well-formed frame with an id from a newer minor version is skipped, not an error."""
    raw = bytes([1, 0x7E, 5, 0, 0xAA])
    frame = cobs.encode(raw + crc16(raw).to_bytes(2, "little")) + b"\x00"
    packets, decoder = decode_all(frame + encode(Stop(), 6))
    assert [p.msg for p in packets] == [Stop()]
    assert decoder.unknown_ids == 1 and decoder.bad_frames == 0


def test_foreign_major_is_dropped_except_for_the_handshake():
    """Frames from another major are bad frames, but HELLO/HELLO_ACK decode so the mismatch can be reported."""

    def with_version(frame: bytes, version: int) -> bytes:
        raw = bytearray(cobs.decode(frame[:-1])[:-2])
        raw[0] = version
        return cobs.encode(bytes(raw) + crc16(bytes(raw)).to_bytes(2, "little")) + b"\x00"

    packets, decoder = decode_all(with_version(encode(SetSpeed(1.0), 1), 2))
    assert packets == [] and decoder.bad_frames == 1
    packets, _ = decode_all(with_version(encode(Hello(2, 1), 1), 2))
    assert [p.msg for p in packets] == [Hello(2, 1)]


def test_overlong_runs_without_delimiter_are_discarded():
    """Kilobytes of non-zero noise are dropped as one bad frame; the next frame decodes."""
    packets, decoder = decode_all(b"\x55" * 5000 + b"\x00" + encode(Stop(), 1))
    assert [p.msg for p in packets] == [Stop()]
    assert decoder.bad_frames == 1


def test_random_bytes_never_raise():
    """Fuzz: 2000 random chunks (biased to contain delimiters and valid frame pieces) never raise."""
    rng = random.Random(1234)
    valid = b"".join(encode(m, i) for i, m in enumerate(EVERY_MESSAGE))
    decoder = FrameDecoder()
    for _ in range(2000):
        kind = rng.random()
        if kind < 0.5:
            chunk = rng.randbytes(rng.randint(0, 80))
        elif kind < 0.8:
            chunk = bytes(rng.choice((0, 1, 2, 0xFF, rng.randint(0, 255))) for _ in range(rng.randint(0, 40)))
        else:
            start = rng.randrange(len(valid))
            chunk = valid[start : start + rng.randint(1, 40)]
        for packet in decoder.feed(chunk):
            assert isinstance(packet, Packet)
    assert decoder.crc_errors + decoder.bad_frames > 0


def test_seq_comparison_wraps():
    """Serial-number arithmetic: 2 is newer than 65535, 65535 is older than 2."""
    assert seq_newer(2, 65535) and not seq_newer(65535, 2) and not seq_newer(5, 5)


@pytest.mark.parametrize(
    "msg",
    [
        Telemetry(1.0, 0.0, 24.9, 150, CrawlerState.MOVING, 1, TelemetryFlags.SESSION),  # a charge over 100 %
        Telemetry(1.0, 0.0, 24.9, 80, CrawlerState.MOVING, 1, TelemetryFlags(0x14)),  # reserved bit 4
        Ack(3, MsgId.TELEMETRY),  # an ACK answers a command
        Nack(3, MsgId.HELLO, NackReason.NO_SESSION),  # HELLO is answered by HELLO_ACK
    ],
    ids=["battery-150", "reserved-flag", "ack-of-telemetry", "nack-of-hello"],
)
def test_frames_the_spec_rules_out_are_bad_frames_not_messages(msg):
    """Issue 16: these passed the decoder and reached the bus. A valid CRC does not make a frame valid."""
    packets, decoder = decode_all(encode(msg, 9) + encode(Stop(), 10))
    assert [p.msg for p in packets] == [Stop()]
    assert decoder.bad_frames == 1 and decoder.frames == 1


# -- protocol 1.1: CRC-32 framing, negotiated; CLOSE (issue 16) ------------------------------------------


def test_crc32_is_the_ieee_one_with_its_test_vector():
    from gridscout.hardware.crawler.protocol import crc32

    assert crc32(b"123456789") == 0xCBF43926


@pytest.mark.parametrize("msg", [*EVERY_MESSAGE, Close()], ids=lambda m: type(m).__name__)
def test_every_message_round_trips_in_wide_framing(msg):
    frame = encode(msg, 0x1234, wide=True)
    handshake = isinstance(msg, Hello | HelloAck)
    assert len(frame) == len(encode(msg, 0x1234)) + (0 if handshake else 2)  # CRC-32: two bytes more
    packets, decoder = decode_all_wide(frame)
    assert packets == [Packet(0x1234, msg)] and decoder.frames == 1


def decode_all_wide(data: bytes) -> tuple[list[Packet], FrameDecoder]:
    decoder = FrameDecoder(wide=True)
    return list(decoder.feed(data)), decoder


def test_a_session_takes_frames_of_its_own_framing_only_but_the_handshake_in_both():
    """In a 1.1 session a CRC-16 command is refused (a damaged frame could pass CRC-16), and a 1.0 session
    refuses CRC-32 frames; HELLO and HELLO_ACK keep CRC-16 in both, so any host can open a new session."""
    narrow_stop, wide_stop = encode(Stop(), 1), encode(Stop(), 1, wide=True)
    packets, decoder = decode_all_wide(narrow_stop)
    assert packets == [] and decoder.crc_errors + decoder.bad_frames == 1
    packets, decoder = decode_all(wide_stop)
    assert packets == [] and decoder.crc_errors + decoder.bad_frames == 1
    for msg in (Hello(1, 1), HelloAck(1, 1, HelloStatus.OK, 3, 0.3, 2.0)):
        assert decode_all(encode(msg, 2, wide=True))[0] == decode_all_wide(encode(msg, 2))[0] == [Packet(2, msg)]


def test_the_fuzzer_lets_no_damaged_command_through_the_negotiated_framing():
    """A short run of the mutation fuzzer (`python -m gridscout.hardware.crawler.fuzz` runs 1e6 per seed)."""
    from gridscout.hardware.crawler.fuzz import fuzz

    result = fuzz(50_000, seed=7, framing="1.1")
    assert result.accepted_commands == 0, result.line()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_million_damaged_frames_per_seed_let_no_command_through(seed):
    from gridscout.hardware.crawler.fuzz import fuzz

    assert fuzz(1_000_000, seed=seed, framing="1.1").accepted_commands == 0
