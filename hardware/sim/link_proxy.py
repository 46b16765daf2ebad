"""A slow, lossy crawler link on loopback: a ZeroMQ proxy between a host and a crawler that delays every
protocol frame and drops some, as a radio or a companion computer's link would.

    gridscout sim crawler --zmq tcp://127.0.0.1:5601 &
    gridscout sim link --listen tcp://127.0.0.1:5600 --to tcp://127.0.0.1:5601 --delay-ms 125 --loss 0.01
    gridscout run --vehicle crawler:tcp://127.0.0.1:5600

Each direction delays a frame by `delay_ms` (one way: the round trip is twice that) and drops it with
probability `loss`, from a seeded generator, so a run can be repeated. Frames keep their order.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from gridscout.hardware.crawler.link import ZmqLink
from gridscout.hardware.vehicle.driver import LinkError


@dataclass
class Direction:
    """Frames from one end waiting to reach the other: (release time, frame), in order."""

    name: str
    queue: deque[tuple[float, bytes]] = field(default_factory=deque)
    forwarded: int = 0
    dropped: int = 0


class LinkProxy:
    """Host side binds at `listen` (the host connects there as to a crawler); crawler side connects to `to`."""

    def __init__(self, listen: str, to: str, *, delay_s: float, loss: float, seed: int = 0) -> None:
        if delay_s < 0 or not 0 <= loss < 1:
            raise ValueError(f"delay {delay_s} s, loss {loss}: expected a delay >= 0 and 0 <= loss < 1")
        self.delay_s, self.loss = delay_s, loss
        self._rng = random.Random(seed)
        self.host = ZmqLink(listen, bind=True)
        self.crawler = ZmqLink(to, bind=False)
        self.up = Direction("host->crawler")
        self.down = Direction("crawler->host")

    def _take(self, data: bytes, direction: Direction, now: float) -> None:
        for frame in data.split(b"\x00"):
            if not frame:
                continue
            if self._rng.random() < self.loss:
                direction.dropped += 1
            else:
                direction.queue.append((now + self.delay_s, frame + b"\x00"))

    def _release(self, direction: Direction, out: ZmqLink, now: float) -> None:
        while direction.queue and direction.queue[0][0] <= now:
            out.write(direction.queue.popleft()[1])
            direction.forwarded += 1

    def run(self, stop: threading.Event, poll_s: float = 0.001) -> None:
        """Forward until `stop` is set."""
        try:
            while not stop.is_set():
                self._take(self.host.read(poll_s), self.up, time.monotonic())
                self._take(self.crawler.read(0.0), self.down, time.monotonic())
                now = time.monotonic()
                self._release(self.up, self.crawler, now)
                self._release(self.down, self.host, now)
        finally:
            self.host.close()
            self.crawler.close()

    def counts(self) -> str:
        return ", ".join(f"{d.name}: {d.forwarded} forwarded, {d.dropped} dropped" for d in (self.up, self.down))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", required=True, metavar="tcp://HOST:PORT", help="where the host connects")
    p.add_argument("--to", required=True, metavar="tcp://HOST:PORT", help="the crawler's ZeroMQ address")
    p.add_argument("--delay-ms", type=float, default=125.0, help="one-way delay of every frame (default 125)")
    p.add_argument("--loss", type=float, default=0.0, help="share of frames dropped each way, 0-1 (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the drops (default 0)")


def run(args: argparse.Namespace) -> int:
    try:
        proxy = LinkProxy(args.listen, args.to, delay_s=args.delay_ms / 1000, loss=args.loss, seed=args.seed)
    except (ValueError, LinkError) as exc:
        print(f"gridscout sim link: error: {exc}", file=sys.stderr)
        return 2
    print(args.listen, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    proxy.run(stop)
    print(proxy.counts(), file=sys.stderr)
    return 0
