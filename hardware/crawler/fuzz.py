"""Mutation fuzzer of the crawler framing: how many corrupted frames does a receiver accept as valid?

    python -m gridscout.hardware.crawler.fuzz --cases 1000000 --seed 1          # both framings
    python -m gridscout.hardware.crawler.fuzz --cases 1000000 --seed 2 --framing 1.1

Each case takes a random valid frame (any message, random fields and seq) and damages it with 1 to 4 random
edits: a bit flipped, a byte replaced, inserted or deleted, two bytes swapped, a burst of bytes overwritten.
The damaged bytes go to a fresh decoder; a case is *accepted* when the decoder yields a message that differs
from the one sent (the same message back, e.g. a byte replaced by itself, is no corruption). Accepted
commands (SET_SPEED, STOP, CLOSE: frames that move or stop a vehicle) are counted apart. Framing 1.0 checks
every frame with CRC-16; 1.1 (negotiated in the handshake) checks all but HELLO / HELLO_ACK with CRC-32.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass

from gridscout.hardware.crawler.protocol import (
    COMMANDS,
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
    SetSpeed,
    Stop,
    Telemetry,
    TelemetryFlags,
    encode,
)

FRAMINGS = {"1.0": False, "1.1": True}  # framing -> wide (CRC-32) checks
_COMMAND_TYPES = (SetSpeed, Stop, Close)
assert {MsgId.SET_SPEED, MsgId.STOP} <= COMMANDS


def random_message(rng: random.Random) -> Message:
    kind = rng.randrange(9)
    if kind == 0:
        return Hello(1, rng.randrange(2))
    if kind == 1:
        return HelloAck(1, 1, HelloStatus.OK, rng.randrange(65536), rng.randrange(50, 2000) / 1000, 2.0)
    if kind == 2:
        return Heartbeat(rng.randrange(1 << 32) / 1000)
    if kind == 3:
        return SetSpeed(rng.randrange(-2000, 2001) / 1000)
    if kind == 4:
        return Stop()
    if kind == 5:
        return Close()
    if kind == 6:
        return Ack(rng.randrange(65536), rng.choice(sorted(COMMANDS)))
    if kind == 7:
        return Nack(rng.randrange(65536), rng.choice(sorted(COMMANDS)), rng.choice(list(NackReason)))
    return Telemetry(
        rng.randrange(-10_000, 300_000) / 1000,
        rng.randrange(-2000, 2001) / 1000,
        rng.randrange(18_000, 26_000) / 1000,
        rng.randrange(101),
        rng.choice(list(CrawlerState)),
        rng.randrange(65536),
        TelemetryFlags(rng.randrange(16)),
    )


def mutate(frame: bytes, rng: random.Random) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        if not data:
            break
        at = rng.randrange(len(data))
        edit = rng.randrange(6)
        if edit == 0:
            data[at] ^= 1 << rng.randrange(8)
        elif edit == 1:
            data[at] = rng.randrange(256)
        elif edit == 2:
            data.insert(at, rng.randrange(256))
        elif edit == 3:
            del data[at]
        elif edit == 4 and at + 1 < len(data):
            data[at], data[at + 1] = data[at + 1], data[at]
        else:
            for i in range(at, min(len(data), at + rng.randint(2, 4))):
                data[i] = rng.randrange(256)
    return bytes(data)


@dataclass
class FuzzResult:
    framing: str
    seed: int
    cases: int
    accepted: int = 0
    accepted_commands: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"framing {self.framing} seed {self.seed}: {self.accepted} accepted of {self.cases:,} damaged frames "
            f"({self.accepted_commands} of them commands) in {self.seconds:.0f} s"
        )


def fuzz(cases: int, seed: int, framing: str) -> FuzzResult:
    """`cases` damaged frames through `framing`'s decoder; counts the corrupted messages it let through."""
    wide = FRAMINGS[framing]
    rng = random.Random(seed)
    result = FuzzResult(framing, seed, cases)
    started = time.perf_counter()
    for _ in range(cases):
        msg, seq = random_message(rng), rng.randrange(65536)
        frame = encode(msg, seq, wide=wide)
        damaged = mutate(frame, rng)
        if damaged == frame:
            continue
        decoder = FrameDecoder(wide=wide)
        wrong = [p for p in decoder.feed(damaged + b"\x00") if (p.seq, p.msg) != (seq, msg)]
        if wrong:
            result.accepted += 1
            result.accepted_commands += any(isinstance(p.msg, _COMMAND_TYPES) for p in wrong)
    result.seconds = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000, help="damaged frames per framing (default 1e6)")
    parser.add_argument("--seed", type=int, nargs="+", default=[1], help="seeds, one run each (default 1)")
    parser.add_argument("--framing", choices=sorted(FRAMINGS), nargs="+", default=sorted(FRAMINGS))
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error(f"--cases {args.cases}: expected at least 1")
    commands_through = 0
    for framing in args.framing:
        for seed in args.seed:
            result = fuzz(args.cases, seed, framing)
            print(result.line(), flush=True)
            commands_through += result.accepted_commands if FRAMINGS[framing] else 0
    return 1 if commands_through else 0  # the negotiated framing must let no corrupted command through


if __name__ == "__main__":
    sys.exit(main())
