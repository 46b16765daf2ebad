"""The one interface every vehicle driver implements, and what it reports besides telemetry.

A driver is not threaded and never blocks for long: its owner calls `service(timeout_s)` in a loop (at
least every 20 ms), which reads the link, answers the handshake, retries unacknowledged commands and
sends the host heartbeat. An owner with inputs of its own polls them with `wait_handle` until `due_in_s`
and then calls `service(0)`. `connect()` only opens the link and starts the handshake, so the owner's own
watchdog heartbeat keeps going while a slow vehicle answers; `link_state` says when it is ready.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from gridscout.control.vehicle import VehicleLimits, VehicleTelemetry

if TYPE_CHECKING:
    import zmq


class LinkState(StrEnum):
    """Where the link to the vehicle stands."""

    CLOSED = "CLOSED"  # not opened yet, or closed after a failure
    CONNECTING = "CONNECTING"  # open, handshake under way
    CONNECTED = "CONNECTED"  # handshake done: commands may be sent
    REFUSED = "REFUSED"  # the vehicle answered but cannot be driven by us (version, impossible limits)


@dataclass(frozen=True, slots=True)
class Refusal:
    """The vehicle refused a command (a NACK, or MAVLink's COMMAND_ACK result), with its reason's name."""

    seq: int
    command: str
    reason: str
    t_mono_ns: int


@dataclass
class DriverCounters:
    """What went wrong on the link, counted since the driver was made."""

    #: commands re-sent for want of an answer
    retries: int = 0
    #: refused commands by reason name
    refusals: Counter[str] = field(default_factory=Counter)
    #: commands that never got an answer, however often they were sent
    unanswered: int = 0
    #: times a connected link was lost (silence, a refusal that ends the session, an I/O error)
    link_drops: int = 0
    #: handshakes completed (the first one included)
    handshakes: int = 0
    #: speed commands lowered to the vehicle's own limit
    clamped: int = 0
    #: times the vehicle left the driver's control unasked (its own failsafe, or the crew taking over)
    failsafes: int = 0


def heard_within(last_rx_ns: int | None, seconds: float) -> bool:
    """Something arrived from the vehicle (at monotonic `last_rx_ns`; None: never) within the last `seconds`."""
    return last_rx_ns is not None and time.monotonic_ns() - last_rx_ns < seconds * 1e9


class LinkError(OSError):
    """A link could not be opened, or failed while in use. The message names the URL."""


class VehicleDriver(Protocol):
    """Drives one vehicle. Speeds are m/s along the inspection path, positive forward."""

    #: the link it drives (device path, URL), for messages
    url: str
    link_state: LinkState
    #: why the link is not CONNECTED (empty when it is)
    link_detail: str
    #: the latest report, or None before the first
    telemetry: VehicleTelemetry | None
    #: what the vehicle announced at the handshake, or None before it
    limits: VehicleLimits | None
    counters: DriverCounters
    #: monotonic ns of the latest command bytes handed to the link
    last_write_mono_ns: int
    #: what the driver found wrong with the vehicle's set-up (a failsafe parameter that is off), for the summary
    warnings: list[str]
    #: the latest time the vehicle left the driver's control unasked, described; empty when it never did
    last_failsafe: str
    #: why the latest connected link was lost (it may have come back since)
    last_link_drop: str

    def connect(self) -> None:
        """Open the link and start the handshake; returns at once. Raises LinkError when it cannot open."""

    def service(self, timeout_s: float) -> None:
        """Read what arrives within `timeout_s` and do what is due: handshake, heartbeat, retries."""

    @property
    def wait_handle(self) -> int | zmq.Socket | None:
        """What to poll for the vehicle's bytes: a file descriptor, or a ZeroMQ socket (a `tcp://` crawler link).
        None while the link is closed, or for one that cannot be polled. An owner waiting on its own inputs too
        polls this beside them, then calls `service(0)`, so that neither side waits on the other."""

    def due_in_s(self) -> float:
        """Seconds until the driver has something to send (a hello, a heartbeat, a retry): the longest its owner
        may wait before the next `service` call; 0 when overdue."""

    @property
    def link_ok(self) -> bool:
        """CONNECTED, and the vehicle was heard from recently."""

    def command_speed(self, speed_mps: float) -> int:
        """Move along the path at this speed (clamped to the vehicle's limit); returns the command's seq."""

    def hold(self) -> int:
        """Stand still where it is, ready to move on (a crawler: speed 0; a drone: brake and hover)."""

    def stop(self) -> int:
        """Stop now, braking hard; acknowledged before anything else; retried until it is."""

    @property
    def stop_pending(self) -> bool:
        """A STOP was sent and not yet acknowledged."""

    def take_refusals(self) -> list[Refusal]:
        """Refusals since the last call, oldest first."""

    def close(self) -> None:
        """Close the link. Safe to call twice."""
