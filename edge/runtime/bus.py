"""The ZeroMQ bus: one PUB socket per topic, bound by its producer; consumers SUB to what they need.

Endpoints are `ipc://<dir>/<topic>` by default, or `tcp://<host>:<base_port + i>` when configured.
Frames travel as a multipart message [topic, FrameMeta, pixels]: the sender hands zmq the numpy
buffer (`copy=False`) and the receiver wraps the received buffer with `np.frombuffer`, so the only
copy is the one the transport itself makes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import zmq

from gridscout.edge.runtime.messages import TOPICS, FrameMeta, ProcessHeartbeat

if TYPE_CHECKING:  # numpy is imported only where pixels move: control and vehicle never load it
    import numpy as np

log = logging.getLogger(__name__)

_ENCODER = msgspec.msgpack.Encoder()
_DECODERS = {name: msgspec.msgpack.Decoder(topic.type) for name, topic in TOPICS.items()}


@dataclass(frozen=True)
class Endpoints:
    """Where each topic lives. `transport` is "ipc" (files under `ipc_dir`) or "tcp"."""

    transport: str = "ipc"
    ipc_dir: Path = Path("/tmp")
    tcp_host: str = "127.0.0.1"
    tcp_base_port: int = 8500

    def __post_init__(self) -> None:
        if self.transport not in ("ipc", "tcp"):
            raise ValueError(f"bus transport {self.transport!r}: expected 'ipc' or 'tcp'")

    def of(self, topic: str) -> str:
        if topic not in TOPICS:
            raise KeyError(f"unknown topic {topic!r}; known: {sorted(TOPICS)}")
        if self.transport == "ipc":
            return f"ipc://{self.ipc_dir / topic}"
        return f"tcp://{self.tcp_host}:{self.tcp_base_port + list(TOPICS).index(topic)}"


@dataclass(frozen=True, slots=True)
class Received:
    """One message off the bus. `image` is set for frames (read-only, backed by the zmq buffer)."""

    topic: str
    msg: Any
    image: np.ndarray | None = None


class Publisher:
    """Binds the PUB socket for one topic. Drops (never blocks) when a subscriber is `hwm` behind."""

    def __init__(self, ctx: zmq.Context, endpoints: Endpoints, topic: str, *, hwm: int = 100) -> None:
        self.topic = topic
        self._prefix = topic.encode()
        self._sock = ctx.socket(zmq.PUB)
        self._sock.setsockopt(zmq.SNDHWM, hwm)
        self._sock.setsockopt(zmq.LINGER, 200)
        self._sock.bind(endpoints.of(topic))

    def publish(self, msg: Any) -> None:
        self._sock.send_multipart([self._prefix, _ENCODER.encode(msg)])

    def publish_frame(self, meta: FrameMeta, image: np.ndarray) -> None:
        """Send the frame's pixels without copying them into a bytes object first."""
        import numpy as np

        pixels = np.ascontiguousarray(image)
        self._sock.send_multipart([self._prefix, _ENCODER.encode(meta), pixels], copy=False)

    def close(self) -> None:
        self._sock.close()


class Subscriber:
    """One SUB socket connected to the producers of `topics`. Undecodable messages are counted, skipped."""

    def __init__(self, ctx: zmq.Context, endpoints: Endpoints, topics: list[str], *, hwm: int = 100) -> None:
        self._sock = ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.RCVHWM, hwm)
        self._sock.setsockopt(zmq.LINGER, 0)
        for topic in topics:
            self._sock.connect(endpoints.of(topic))
            self._sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self.bad_messages = 0

    @property
    def socket(self) -> zmq.Socket:
        """The SUB socket, for a caller that polls it beside other inputs (`zmq.Poller`); read with `drain`."""
        return self._sock

    def recv(self, timeout_s: float) -> Received | None:
        """The next message, or None when nothing arrives within `timeout_s`."""
        if not self._sock.poll(int(timeout_s * 1000)):
            return None
        return self._decode(self._sock.recv_multipart(copy=False))

    def drain(self) -> list[Received]:
        """Every message already queued, oldest first, without waiting."""
        out = []
        while True:
            try:
                parts = self._sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return out
            received = self._decode(parts)
            if received is not None:
                out.append(received)

    def _decode(self, parts: list[zmq.Frame]) -> Received | None:
        topic = bytes(parts[0].buffer).decode(errors="replace")
        try:
            msg = _DECODERS[topic].decode(parts[1].buffer)
            image = None
            if TOPICS[topic].carries_pixels:
                import numpy as np

                image = np.frombuffer(parts[2].buffer, dtype=np.uint8).reshape(msg.height, msg.width, 3)
                image.flags.writeable = False
        except (KeyError, IndexError, ValueError, msgspec.DecodeError) as exc:
            self.bad_messages += 1
            log.warning("bad message on topic %r (%s); %d so far", topic, exc, self.bad_messages)
            return None
        return Received(topic, msg, image)

    def close(self) -> None:
        self._sock.close()


class HeartbeatSender:
    """PUSHes heartbeats to the supervisor's PULL socket; never blocks the caller's loop."""

    def __init__(self, ctx: zmq.Context, endpoints: Endpoints, process: str, *, period_s: float | None = None) -> None:
        self.process = process
        self.period_s = period_s if period_s is not None else 1.0 / TOPICS["heartbeat"].rate_hz
        self._sock = ctx.socket(zmq.PUSH)
        self._sock.setsockopt(zmq.SNDHWM, 10)
        self._sock.setsockopt(zmq.LINGER, 200)  # a process's last words (its final counters) still go out
        self._sock.connect(endpoints.of("heartbeat"))
        self._last = 0.0

    def beat(self, *, ready: bool = True, stats: dict[str, float] | None = None, force: bool = False) -> None:
        """Send a heartbeat if one is due (or `force`)."""
        now = time.monotonic()
        if not force and now - self._last < self.period_s:
            return
        self._last = now
        msg = ProcessHeartbeat(
            t_mono_ns=time.monotonic_ns(), process=self.process, pid=os.getpid(), ready=ready, stats=stats or {}
        )
        with contextlib.suppress(zmq.Again):
            self._sock.send_multipart([b"heartbeat", _ENCODER.encode(msg)], zmq.NOBLOCK)

    def close(self) -> None:
        self._sock.close()


class HeartbeatReceiver:
    """The supervisor's end of the heartbeats."""

    def __init__(self, ctx: zmq.Context, endpoints: Endpoints) -> None:
        self._sock = ctx.socket(zmq.PULL)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(endpoints.of("heartbeat"))
        self._decoder = msgspec.msgpack.Decoder(ProcessHeartbeat)
        self.bad_messages = 0

    def recv_all(self, timeout_s: float) -> list[ProcessHeartbeat]:
        out: list[ProcessHeartbeat] = []
        if not self._sock.poll(int(timeout_s * 1000)):
            return out
        while True:
            try:
                parts = self._sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return out
            try:
                out.append(self._decoder.decode(parts[-1]))
            except msgspec.DecodeError:
                self.bad_messages += 1

    def close(self) -> None:
        self._sock.close()
