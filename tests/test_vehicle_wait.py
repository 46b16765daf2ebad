"""The vehicle process's wait: control's commands and the vehicle's bytes polled together, over real sockets
(a ZeroMQ PUB/SUB pair on ipc, a pseudo-terminal, a ZeroMQ crawler link).

A command must not sit behind the wait for the link (it did, for up to 5 ms each), and the vehicle's bytes must
not sit behind the wait for commands. The bounds are generous (seconds, against a wait that ends in milliseconds
when it works): they tell "woke on the input" from "slept out the timeout", and time no latency.
"""

from __future__ import annotations

import math
import time

import pytest
import zmq

from gridscout.edge.daemons.vehicled import wait_for_inputs
from gridscout.edge.runtime.bus import Endpoints, Publisher, Subscriber
from gridscout.edge.runtime.messages import VehicleCommand
from gridscout.hardware.crawler import CrawlerDriver, CrawlerSettings
from gridscout.hardware.crawler.link import ZmqLink
from gridscout.hardware.sim.crawler.server import PtyLink
from sim_tests.chain import free_port

LONG_S = 5.0
#: a wait that ended this much before LONG_S woke on its input
WOKE_S = LONG_S / 2
#: nothing due on the link for longer than LONG_S: a wait that ends early woke on an input, not on a resend
QUIET = CrawlerSettings(hello_resend_s=60.0)


def took(fn) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


@pytest.fixture
def commands(tmp_path):
    """Control's command topic: a publisher and the vehicle process's subscriber, joined (a PUB drops what it
    sends before the subscription reaches it, so a first command is sent until one arrives)."""
    ctx = zmq.Context()
    endpoints = Endpoints("ipc", ipc_dir=tmp_path)
    pub = Publisher(ctx, endpoints, "vehicle_command")
    sub = Subscriber(ctx, endpoints, ["vehicle_command"])
    deadline = time.monotonic() + 10
    while sub.recv(0.05) is None:
        assert time.monotonic() < deadline, "the subscription never joined"
        pub.publish(command())
    sub.drain()
    yield pub, sub
    sub.close()
    ctx.destroy(linger=0)


def command() -> VehicleCommand:
    return VehicleCommand(t_mono_ns=time.monotonic_ns(), speed_mps=0.5, stop=False, reason="test", mode="PATROL")


@pytest.fixture
def pty_driver():
    """A crawler driver with its link open on a pseudo-terminal (handshake under way, nothing due for a minute)."""
    far = PtyLink()
    driver = CrawlerDriver(far.url, QUIET)
    driver.connect()
    far.read(0.5)  # the HELLO
    yield driver, far
    driver.close()
    far.close()


def test_a_command_ends_the_wait_while_the_link_is_quiet(commands, pty_driver):
    pub, sub = commands
    driver, _ = pty_driver
    assert isinstance(driver.wait_handle, int) and driver.due_in_s() > LONG_S
    pub.publish(command())
    assert took(lambda: wait_for_inputs(sub.socket, driver, LONG_S)) < WOKE_S
    assert len(sub.drain()) == 1


def test_the_vehicles_bytes_end_the_wait_while_control_is_quiet(commands, pty_driver):
    _, sub = commands
    driver, far = pty_driver
    far.write(b"\x00")
    assert took(lambda: wait_for_inputs(sub.socket, driver, LONG_S)) < WOKE_S


def test_with_nothing_to_read_the_wait_lasts_its_timeout(commands, pty_driver):
    _, sub = commands
    driver, _ = pty_driver
    assert took(lambda: wait_for_inputs(sub.socket, driver, 0.3)) >= 0.25


def test_commands_left_out_of_the_wait_do_not_end_it(commands, pty_driver):
    """Before the run starts the process takes no commands: one queued then must not turn the loop into a spin."""
    pub, _ = commands
    driver, _ = pty_driver
    pub.publish(command())
    time.sleep(0.1)
    assert took(lambda: wait_for_inputs(None, driver, 0.3)) >= 0.25


def test_a_closed_link_has_nothing_to_poll_and_nothing_due(commands):
    pub, sub = commands
    driver = CrawlerDriver("/dev/null-not-a-port", QUIET)
    assert driver.wait_handle is None and math.isinf(driver.due_in_s())
    assert took(lambda: wait_for_inputs(None, driver, 0.3)) >= 0.25
    pub.publish(command())
    assert took(lambda: wait_for_inputs(sub.socket, driver, LONG_S)) < WOKE_S


def test_something_due_on_the_link_ends_the_wait():
    """A connected link's heartbeat is due within its period: the owner wakes for it, however long it meant to
    wait."""
    far = PtyLink()
    driver = CrawlerDriver(far.url, CrawlerSettings(hello_resend_s=0.2))
    try:
        driver.connect()
        assert 0 < driver.due_in_s() <= 0.2
        assert took(lambda: wait_for_inputs(None, driver, LONG_S)) < WOKE_S
    finally:
        driver.close()
        far.close()


def test_a_zeromq_crawler_link_is_polled_as_its_socket(tmp_path):
    """`tcp://` crawler links are ZeroMQ sockets: the poller takes the socket itself, and wakes on a frame."""
    port = free_port()
    vehicle_side = ZmqLink(f"tcp://127.0.0.1:{port}", bind=True)
    driver = CrawlerDriver(f"tcp://127.0.0.1:{port}", QUIET)
    try:
        driver.connect()
        assert isinstance(driver.wait_handle, zmq.Socket)
        # the ROUTER learns its peer from the host's first frame; the HELLO may have gone before the connection
        # was up (a DEALER with IMMEDIATE drops it, as a serial line would), so the host sends until one arrives
        deadline = time.monotonic() + 10
        while not vehicle_side.read(0.05):
            assert time.monotonic() < deadline, "the host's frames never reached the vehicle side"
            driver.link.write(b"\x00")
        vehicle_side.write(b"\x01\x02")
        assert took(lambda: wait_for_inputs(None, driver, LONG_S)) < WOKE_S
    finally:
        driver.close()
        vehicle_side.close()
