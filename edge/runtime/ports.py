"""Free loopback TCP ports for listeners the chain (or a test, or a bench) binds itself: the tcp bus's consecutive
endpoints, the MAVLink simulator's port.

They are taken below the ephemeral range: there no outgoing connection's source port can take one between this
check and the bind (a port picked anywhere else was once taken by another process's connection in that gap).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

#: the lowest port handed out (well above the registered services most machines run)
LOWEST_PORT = 20000
#: Linux's default start of the ephemeral range, when /proc does not say
EPHEMERAL_LOW_DEFAULT = 32768
#: random bases tried before giving up
TRIES = 200


def ephemeral_low() -> int:
    """The first port of this machine's ephemeral range."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return EPHEMERAL_LOW_DEFAULT


def free_port_block(n: int = 1) -> int:
    """A base port with `n` consecutive loopback ports from it free, all below the ephemeral range. RuntimeError
    when none is found."""
    top = ephemeral_low() - n
    if top <= LOWEST_PORT:
        raise RuntimeError(f"no room for {n} consecutive ports between {LOWEST_PORT} and the ephemeral range")
    rng = random.Random()
    for _ in range(TRIES):
        base = rng.randrange(LOWEST_PORT, top)
        socks: list[socket.socket] = []
        try:
            for i in range(n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no block of {n} free loopback ports below the ephemeral range ({TRIES} tries)")
