"""Simulated line crawler on a pseudo-terminal (or ZeroMQ): `python -m gridscout.hardware.sim.crawler --help`.

Contract: the first stdout line is the path to open (the pty slave, e.g. /dev/pts/7) or, with --zmq, the
tcp:// URL; nothing else goes to stdout. Human-readable logs go to stderr, JSON lines to --log.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import time
import tty
from pathlib import Path

from gridscout.hardware.crawler.link import ZmqLink
from gridscout.hardware.crawler.protocol import PROTOCOL_MINOR, FrameDecoder, Message, NackReason, encode
from gridscout.hardware.sim.crawler.core import CrawlerSim, SimConfig
from gridscout.hardware.sim.serving import EventLog, serve_until_signalled

STATE_LOG_PERIOD_S = 0.5
LINK_ERROR_LOG_PERIOD_S = 1.0


class PtyLink:
    """The master side of a pseudo-terminal. Writes never block: bytes nobody reads are dropped.

    With `link_path`, a symlink there points at the pty (replaced atomically), so a host can open the
    same path across simulator restarts, the way udev names a USB serial adapter.
    """

    def __init__(self, link_path: Path | None = None) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.url = os.ttyname(self._slave)  # we keep the slave open, so hosts may come and go
        self.dropped_bytes = 0
        self._pty, self._link_path = self.url, link_path
        if link_path is not None:
            temporary = link_path.with_name(f".{link_path.name}.{os.getpid()}")
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(self.url)
            os.replace(temporary, link_path)
            self.url = str(link_path)

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
        path = self._link_path
        if path is not None and os.path.islink(path) and os.readlink(path) == self._pty:  # not a newer sim's
            path.unlink(missing_ok=True)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The simulator's options, shared by `python -m gridscout.hardware.sim.crawler` and `gridscout sim crawler`."""
    d = SimConfig()
    p.add_argument("--zmq", metavar="tcp://HOST:PORT", help="serve over ZeroMQ (bind here) instead of a pty")
    p.add_argument(
        "--link", type=Path, metavar="PATH", help="also make PATH a symlink to the pty (stable across restarts)"
    )
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
        help=f"fastest accepted |speed|, announced in HELLO_ACK; faster ones are NACKed (default {d.max_speed_mps:g})",
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
        help=f"stop by itself (FAILSAFE) after this long without a host frame, announced in HELLO_ACK "
        f"(default {d.heartbeat_timeout_s:g})",
    )
    p.add_argument(
        "--battery",
        type=float,
        default=d.battery_pct,
        metavar="PCT",
        help="starting battery charge in percent (default 100)",
    )
    p.add_argument(
        "--conformance",
        metavar="URL",
        help="instead of simulating a crawler, check the real one at URL (a serial device, pyserial URL or "
        "tcp://host:port) against docs/crawler_protocol.md: PASS/FAIL per check, exit 1 on a failure; it is "
        "only ever commanded speed 0 and STOP",
    )
    faults = p.add_argument_group("faults to rehearse (a crawler that misbehaves)")
    faults.add_argument("--mute", action="store_true", help="never answer anything, HELLO included")
    faults.add_argument(
        "--hello-delay",
        type=float,
        default=d.hello_delay_s,
        metavar="S",
        help="answer HELLO only S seconds after the first",
    )
    faults.add_argument(
        "--refuse",
        choices=[r.name for r in NackReason if r != NackReason.STALE],
        help="NACK every command with this reason (NO_SESSION: a controller that keeps losing its session)",
    )
    faults.add_argument("--no-ack", action="store_true", help="apply commands but never ACK or NACK them")
    faults.add_argument("--fault-at-start", action="store_true", help="sit in FAULT from power-on (only STOP accepted)")
    faults.add_argument(
        "--outage",
        type=_outage,
        metavar="KIND:START:SECONDS",
        help="one outage, START seconds after the first session began, SECONDS long: mute (sends nothing), deaf "
        "(hears nothing, so its failsafe fires) or silent (both); e.g. deaf:5:2.5",
    )
    faults.add_argument(
        "--protocol-minor",
        type=int,
        choices=range(PROTOCOL_MINOR + 1),
        default=d.protocol_minor,
        metavar="N",
        help=f"speak protocol 1.N (default {d.protocol_minor}); 0: a 1.0 crawler, CRC-16 throughout and no CLOSE",
    )


def config_from_args(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        line_length_m=args.line_length,
        start_position_m=args.start_position,
        max_speed_mps=args.max_speed,
        accel_mps2=args.accel,
        brake_mps2=args.brake,
        heartbeat_timeout_s=args.heartbeat_timeout,
        battery_pct=args.battery,
        mute=args.mute,
        hello_delay_s=args.hello_delay,
        refuse=NackReason[args.refuse] if args.refuse else None,
        ack=not args.no_ack,
        protocol_minor=args.protocol_minor,
        fault_at_start=args.fault_at_start,
        outage=args.outage,
    )


def _outage(text: str) -> tuple[str, float, float]:
    kind, start, seconds = [*text.split(":"), "", ""][:3]
    try:
        window = float(start), float(seconds)
    except ValueError:
        window = (-1.0, -1.0)
    if kind not in ("mute", "deaf", "silent") or window[0] < 0 or window[1] <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected KIND:START:SECONDS, KIND mute, deaf or silent, e.g. deaf:5:2.5"
        )
    return kind, *window


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
    """Run the simulator until SIGTERM/SIGINT, or with --conformance check a device; returns the exit code."""
    if args.conformance:
        return _conformance(args.conformance)
    try:
        link = ZmqLink(args.zmq, bind=True) if args.zmq else PtyLink(args.link)
    except OSError as exc:  # LinkError included
        print(f"crawler-sim: error: {exc}", file=sys.stderr)
        return 2
    print(link.url, flush=True)
    return serve_until_signalled(SimServer(link, config_from_args(args), EventLog(args.log)))


class SimServer:
    """One simulated crawler served on `link`: call `step()` in a loop (each waits at most one physics step)."""

    def __init__(self, link: PtyLink | ZmqLink, config: SimConfig, log: EventLog) -> None:
        self.link, self.log = link, log
        self.sim = CrawlerSim(config, time.monotonic())
        self._decoder = FrameDecoder()
        self._seq = 0
        self._dt = 1.0 / config.physics_hz
        self._next_tick = self._next_state_log = self._next_error_log = time.monotonic()
        self._logged_errors = (0, 0, 0)
        log.write(
            {
                "event": "start",
                "url": link.url,
                "line_length_m": config.line_length_m,
                "max_speed_mps": config.max_speed_mps,
                "heartbeat_timeout_s": config.heartbeat_timeout_s,
            }
        )

    def _send(self, messages: list[Message]) -> None:
        for msg in messages:
            self.link.write(encode(msg, self._seq, wide=self.sim.wide))
            self._seq = (self._seq + 1) & 0xFFFF

    def step(self) -> None:
        sim, log = self.sim, self.log
        data = self.link.read(max(0.0, self._next_tick - time.monotonic()))
        now = time.monotonic()
        for packet in self._decoder.feed(data):
            self._send(sim.handle(packet, now))
            self._decoder.wide = sim.wide  # a HELLO may have changed the framing: for the frames after it
        if now >= self._next_tick:
            self._send(sim.tick(now))
            self._next_tick = max(self._next_tick + self._dt, now)
        for event in sim.events:
            log.write(event)
        sim.events.clear()
        if now >= self._next_state_log:
            self._next_state_log = now + STATE_LOG_PERIOD_S
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
        d = self._decoder
        errors = (d.crc_errors, d.bad_frames, d.unknown_ids)
        if now >= self._next_error_log and errors != self._logged_errors:
            self._next_error_log, self._logged_errors = now + LINK_ERROR_LOG_PERIOD_S, errors
            log.write(
                {
                    "t_mono": now,
                    "event": "link_errors",
                    "crc_errors": errors[0],
                    "bad_frames": errors[1],
                    "unknown_ids": errors[2],
                    "frames_ok": d.frames,
                }
            )

    def close(self) -> None:
        self.link.close()
        self.log.close()


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())


def _conformance(url: str) -> int:
    from gridscout.hardware.crawler.conformance import run_checks

    try:
        outcomes = run_checks(url)
    except OSError as exc:  # LinkError included
        print(f"crawler conformance: error: {exc}", file=sys.stderr)
        return 2
    failed = [o for o in outcomes if not o.passed]
    print(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} checks passed"
        + (f"; failed: {failed[0].name}" if failed else "")
    )
    return 1 if failed else 0
