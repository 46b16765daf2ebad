"""Simulated line crawler on a pseudo-terminal (or ZeroMQ): `python -m gridscout.hardware.sim.crawler --help`.

Contract: the first stdout line is the path to open (the pty slave, e.g. /dev/pts/7) or, with --zmq, the
tcp:// URL; nothing else goes to stdout. Human-readable logs go to stderr, JSON lines to --log.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import time
import tty
from pathlib import Path
from typing import Any, TextIO

from gridscout.hardware.crawler.link import ZmqLink
from gridscout.hardware.crawler.protocol import FrameDecoder, Message, encode
from gridscout.hardware.sim.crawler.core import CrawlerSim, SimConfig

STATE_LOG_PERIOD_S = 0.5
LINK_ERROR_LOG_PERIOD_S = 1.0


class PtyLink:
    """The master side of a pseudo-terminal. Writes never block: bytes nobody reads are dropped."""

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.url = os.ttyname(self._slave)  # we keep the slave open, so hosts may come and go
        self.dropped_bytes = 0

    def write(self, data: bytes) -> None:
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        self.dropped_bytes += len(data) - written

    def read(self, timeout_s: float) -> bytes:
        ready, _, _ = select.select([self._master], [], [], max(0.0, timeout_s))
        if not ready:
            return b""
        try:
            return os.read(self._master, 4096)
        except (BlockingIOError, OSError):
            return b""

    def close(self) -> None:
        os.close(self._master)
        os.close(self._slave)


class EventLog:
    """JSON lines to a file (flushed per line) plus a readable line on stderr for the notable ones."""

    def __init__(self, path: Path | None, stderr: TextIO = sys.stderr) -> None:
        self._file = path.open("a", encoding="utf-8") if path else None
        self._stderr = stderr

    def write(self, event: dict[str, Any], *, echo: bool = True) -> None:
        record = {"t_wall": time.time(), "t_mono": event.get("t_mono", time.monotonic()), **event}
        if self._file:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
        if echo:
            details = " ".join(f"{k}={_fmt(v)}" for k, v in event.items() if k not in ("t_mono", "event"))
            print(f"crawler-sim: {event['event']} {details}".rstrip(), file=self._stderr, flush=True)

    def close(self) -> None:
        if self._file:
            self._file.close()


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The simulator's options, shared by `python -m gridscout.hardware.sim.crawler` and `gridscout sim crawler`."""
    d = SimConfig()
    p.add_argument("--zmq", metavar="tcp://HOST:PORT", help="serve over ZeroMQ (bind here) instead of a pty")
    p.add_argument("--log", type=Path, metavar="FILE", help="append JSON lines (commands, events, state) here")
    p.add_argument(
        "--line-length",
        type=_positive,
        default=d.line_length_m,
        metavar="M",
        help=f"length of the line in metres (default {d.line_length_m:g})",
    )
    p.add_argument(
        "--start-position",
        type=float,
        default=d.start_position_m,
        metavar="M",
        help="starting position along the line in metres (default 0)",
    )
    p.add_argument(
        "--max-speed",
        type=_positive,
        default=d.max_speed_mps,
        metavar="M/S",
        help=f"fastest accepted |speed|; faster commands are NACKed (default {d.max_speed_mps:g})",
    )
    p.add_argument(
        "--accel",
        type=_positive,
        default=d.accel_mps2,
        metavar="M/S2",
        help=f"acceleration limit (default {d.accel_mps2:g})",
    )
    p.add_argument(
        "--brake",
        type=_positive,
        default=d.brake_mps2,
        metavar="M/S2",
        help=f"hard-braking deceleration for STOP, failsafe and line ends (default {d.brake_mps2:g})",
    )
    p.add_argument(
        "--heartbeat-timeout",
        type=_positive,
        default=d.heartbeat_timeout_s,
        metavar="S",
        help=f"stop by itself (FAILSAFE) after this long without a host frame (default {d.heartbeat_timeout_s:g})",
    )
    p.add_argument(
        "--battery",
        type=float,
        default=d.battery_pct,
        metavar="PCT",
        help="starting battery charge in percent (default 100)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gridscout.hardware.sim.crawler",
        description=(
            "Simulate a line crawler speaking the GridScout crawler protocol (docs/crawler_protocol.md) on a "
            "pseudo-terminal or a ZeroMQ socket. Prints the path to open (or the tcp:// URL) alone on the first "
            "stdout line, then logs to stderr. Stops cleanly on SIGTERM / Ctrl-C."
        ),
        epilog="Example: python -m gridscout.hardware.sim.crawler --log crawler.jsonl --line-length 120",
    )
    add_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the simulator until SIGTERM/SIGINT; returns the exit code."""
    config = SimConfig(
        line_length_m=args.line_length,
        start_position_m=args.start_position,
        max_speed_mps=args.max_speed,
        accel_mps2=args.accel,
        brake_mps2=args.brake,
        heartbeat_timeout_s=args.heartbeat_timeout,
        battery_pct=args.battery,
    )
    try:
        link = ZmqLink(args.zmq, bind=True) if args.zmq else PtyLink()
    except OSError as exc:  # LinkError included
        print(f"crawler-sim: error: {exc}", file=sys.stderr)
        return 2
    print(link.url, flush=True)
    log = EventLog(args.log)
    stopping: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: stopping.append(signum))
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        log.write(
            {
                "event": "start",
                "url": link.url,
                "line_length_m": config.line_length_m,
                "max_speed_mps": config.max_speed_mps,
                "heartbeat_timeout_s": config.heartbeat_timeout_s,
            }
        )
        _serve(link, CrawlerSim(config, time.monotonic()), log, stopping)
        log.write({"event": "shutdown", "signal": signal.Signals(stopping[0]).name})
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        link.close()
        log.close()
    return 0


def _serve(link: PtyLink | ZmqLink, sim: CrawlerSim, log: EventLog, stopping: list[int]) -> None:
    decoder = FrameDecoder()
    seq = 0
    dt = 1.0 / sim.config.physics_hz
    next_tick = next_state_log = next_error_log = time.monotonic()
    logged_errors = (0, 0, 0)

    def send(messages: list[Message]) -> None:
        nonlocal seq
        for msg in messages:
            link.write(encode(msg, seq))
            seq = (seq + 1) & 0xFFFF

    while not stopping:
        data = link.read(max(0.0, next_tick - time.monotonic()))
        now = time.monotonic()
        for packet in decoder.feed(data):
            send(sim.handle(packet, now))
        if now >= next_tick:
            send(sim.tick(now))
            next_tick = max(next_tick + dt, now)
        for event in sim.events:
            log.write(event)
        sim.events.clear()
        if now >= next_state_log:
            next_state_log = now + STATE_LOG_PERIOD_S
            log.write(
                {
                    "t_mono": now,
                    "event": "state",
                    "state": sim.state.name,
                    "position_m": round(sim.position_m, 4),
                    "speed_mps": round(sim.speed_mps, 4),
                    "battery_pct": round(sim.battery_pct, 2),
                },
                echo=False,
            )
        errors = (decoder.crc_errors, decoder.bad_frames, decoder.unknown_ids)
        if now >= next_error_log and errors != logged_errors:
            next_error_log, logged_errors = now + LINK_ERROR_LOG_PERIOD_S, errors
            log.write(
                {
                    "t_mono": now,
                    "event": "link_errors",
                    "crc_errors": errors[0],
                    "bad_frames": errors[1],
                    "unknown_ids": errors[2],
                    "frames_ok": decoder.frames,
                }
            )


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
