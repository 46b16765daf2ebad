"""Free loopback port blocks for the chain's own listeners: free as a whole, and below the ephemeral range, where no
outgoing connection's source port can take one before the bind (bench_bus once picked one inside it and lost it)."""

import socket

import pytest

from gridscout.edge.runtime.ports import LOWEST_PORT, ephemeral_low, free_port_block


def test_a_block_is_free_end_to_end_and_below_the_ephemeral_range():
    base = free_port_block(40)
    assert base >= LOWEST_PORT and base + 40 <= ephemeral_low()
    socks = [socket.socket() for _ in range(40)]
    try:
        for i, s in enumerate(socks):
            s.bind(("127.0.0.1", base + i))
    finally:
        for s in socks:
            s.close()


def test_a_block_too_large_for_the_room_below_the_ephemeral_range_is_refused_naming_it():
    with pytest.raises(RuntimeError, match=r"no room for \d+ consecutive ports"):
        free_port_block(ephemeral_low())
