"""Byte links to a crawler: any pyserial URL, or `tcp://host:port` over ZeroMQ.

ZeroMQ carries exactly one protocol frame (with its 0x00 delimiter) per message. The host side is a
DEALER that connects (and silently reconnects); the vehicle side a ROUTER that binds and replies to the
peer that spoke last. With IMMEDIATE set, frames written while no peer is connected are dropped, as
on an unplugged serial line, rather than queued and delivered late.
"""

from __future__ import annotations

import re
from typing import Protocol

import serial
import zmq

from gridscout.hardware.vehicle.driver import LinkError

SERIAL_FORMS = "a serial device (/dev/ttyUSB0, /dev/pts/N) or pyserial URL (loop://, socket://host:port, rfc2217://...)"
_ZMQ_URL = re.compile(r"^tcp://[^:/]+:\d+$")


class Link(Protocol):
    url: str

    def write(self, data: bytes) -> None: ...

    def read(self, timeout_s: float) -> bytes:
        """Whatever arrived, waiting up to `timeout_s` for the first byte; b"" on timeout."""
        ...

    @property
    def wait_handle(self) -> int | zmq.Socket | None:
        """What to poll for incoming bytes (a file descriptor or the ZeroMQ socket); None: cannot be polled."""
        ...

    def close(self) -> None: ...


def open_link(url: str, baudrate: int = 115200) -> Link:
    """Open the host side of a crawler link: `tcp://host:port` (ZeroMQ) or any pyserial URL/device."""
    if url.startswith("tcp://"):
        return ZmqLink(url, bind=False)
    return SerialLink(url, baudrate)


class SerialLink:
    def __init__(self, url: str, baudrate: int = 115200) -> None:
        self.url = url
        self._timeout: float | None = 0.0
        try:
            self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=self._timeout)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise LinkError(
                f"cannot open crawler link {url!r} at {baudrate} baud: {exc}; expected {SERIAL_FORMS} "
                "or tcp://host:port for ZeroMQ"
            ) from exc

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"crawler link {self.url!r}: write failed: {exc}") from exc

    def read(self, timeout_s: float) -> bytes:
        try:
            timeout = max(0.0, timeout_s)
            if timeout != self._timeout:  # setting it reconfigures the port: only when it changes
                self._port.timeout = self._timeout = timeout
            first = self._port.read(1)
            if not first:
                return b""
            waiting = self._port.in_waiting
            return first + (self._port.read(waiting) if waiting else b"")
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"crawler link {self.url!r}: read failed: {exc}") from exc

    @property
    def wait_handle(self) -> int | None:
        try:
            return self._port.fileno()
        except (AttributeError, serial.SerialException, OSError):  # a URL handler (loop://, socket://) has none
            return None

    def close(self) -> None:
        self._port.close()


class ZmqLink:
    """DEALER (connect, host side) or ROUTER (bind, vehicle side) carrying one frame per message."""

    def __init__(self, url: str, *, bind: bool) -> None:
        if not _ZMQ_URL.match(url):
            raise LinkError(f"bad ZeroMQ crawler link {url!r}: expected tcp://host:port")
        self.url = url
        self._bind = bind
        self._peer: bytes | None = None
        self._ctx = zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.ROUTER if bind else zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.SNDHWM, 100)
        self._sock.setsockopt(zmq.RECONNECT_IVL, 100)
        self._sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        if bind:
            self._sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        else:
            self._sock.setsockopt(zmq.IMMEDIATE, 1)
        try:
            self._sock.bind(url) if bind else self._sock.connect(url)
        except zmq.ZMQError as exc:
            self._sock.close()
            raise LinkError(
                f"cannot {'bind' if bind else 'connect'} crawler link {url!r}: {exc}; expected tcp://host:port"
            ) from exc

    def write(self, data: bytes) -> None:
        try:
            if not self._bind:
                self._sock.send(data, zmq.NOBLOCK)
            elif self._peer is not None:
                self._sock.send_multipart([self._peer, data], zmq.NOBLOCK)
        except zmq.Again:
            pass  # no peer connected / peer not reading: drop, as a serial line would
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:  # ROUTER: the peer went away
                raise LinkError(f"crawler link {self.url!r}: write failed: {exc}") from exc

    def read(self, timeout_s: float) -> bytes:
        if not self._sock.poll(max(0, round(timeout_s * 1000)), zmq.POLLIN):
            return b""
        chunks = []
        while True:
            try:
                parts = self._sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if self._bind:
                self._peer, parts = parts[0], parts[1:]
            frame = b"".join(parts)
            chunks.append(frame if frame.endswith(b"\x00") else frame + b"\x00")  # one message = one frame
        return b"".join(chunks)

    @property
    def wait_handle(self) -> zmq.Socket:
        return self._sock

    def close(self) -> None:
        self._sock.close()
