"""The MAVLink vehicle simulator on loopback TCP or UDP: `gridscout sim drone|rover --help`.

Contract: the first stdout line is the pymavlink connection string a driver opens (`tcp:127.0.0.1:PORT`,
or for UDP the address it sends from); nothing else goes to stdout. Readable logs go to stderr, JSON lines
(what it received and did, and its true state at `STATE_LOG_PERIOD_S`) to --log.

TCP serves any number of clients at once (each its own pymavlink parser; what the vehicle says goes to
all), and a client that goes away (killed) leaves the port open for the next, as SITL's 5760 does.
UDP either listens and answers whoever spoke (`--udp-in`, for `mavlink:udpout:`) or sends to a driver
that listens (`--udp-out`, as SITL's --out does, for `mavlink:udpin:`).
"""

from __future__ import annotations

import argparse
import select
import socket
import sys
import time

from gridscout.hardware.mavlink.mav import mavlink
from gridscout.hardware.sim.mavlink.config import SIM_KINDS, MavSimConfig
from gridscout.hardware.sim.mavlink.core import MavVehicleSim, source_of
from gridscout.hardware.sim.mavlink.options import LOOPBACK, add_arguments, config_from_args
from gridscout.hardware.sim.serving import EventLog, serve_until_signalled

STATE_LOG_PERIOD_S = 0.1


class _Peer:
    """One client: where to send, and its own parser (MAVLink framing is pymavlink's)."""

    def __init__(self, address, sock: socket.socket | None) -> None:
        self.address, self.sock = address, sock
        self.parser = mavlink.MAVLink(None, srcSystem=0, srcComponent=0)
        self.parser.robust_parsing = True


class SimPort:
    """The simulator's end of the link: TCP (listening) or UDP (in: answer senders; out: send to one address)."""

    def __init__(self, *, tcp: tuple[str, int] | None = None, udp_in: tuple[str, int] | None = None,
                 udp_out: tuple[str, int] | None = None) -> None:  # fmt: skip
        if sum(x is not None for x in (tcp, udp_in, udp_out)) != 1:
            raise ValueError("serve on exactly one of tcp, udp_in, udp_out")
        self.peers: dict[object, _Peer] = {}
        self.dropped_bytes = 0
        if tcp is not None:
            self._listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listen.bind(tcp)
            self._listen.listen(4)
            self._udp = None
            host, port = self._listen.getsockname()
            self.url = f"tcp:{host}:{port}"
        else:
            self._listen = None
            self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._udp.bind(udp_in if udp_in is not None else (LOOPBACK, 0))
            host, port = self._udp.getsockname()
            if udp_out is not None:
                self.peers[udp_out] = _Peer(udp_out, None)
                self.url = f"udpin:{udp_out[0]}:{udp_out[1]}"  # what the driver listens on
            else:
                self.url = f"udpout:{host}:{port}"

    def read(self, timeout_s: float) -> list:
        """MAVLink messages that arrive within `timeout_s` (from every client)."""
        socks = [s for s in (self._listen, self._udp) if s is not None]
        socks += [p.sock for p in self.peers.values() if p.sock is not None]
        ready, _, _ = select.select(socks, [], [], max(0.0, timeout_s))
        messages = []
        for sock in ready:
            if sock is self._listen:
                conn, address = self._listen.accept()
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.peers[conn] = _Peer(address, conn)
                continue
            if sock is self._udp:
                data, address = self._udp.recvfrom(65535)
                peer = self.peers.setdefault(address, _Peer(address, None))
            else:
                peer = self.peers[sock]
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:  # the client went away: the port stays open for the next
                    sock.close()
                    del self.peers[sock]
                    continue
            messages += [m for m in (peer.parser.parse_buffer(data) or []) if m.get_type() != "BAD_DATA"]
        return messages

    def write(self, data: bytes) -> None:
        """To every client; bytes a client cannot take now are dropped (as on a radio link)."""
        for key, peer in list(self.peers.items()):
            try:
                if peer.sock is not None:
                    sent = peer.sock.send(data)
                    self.dropped_bytes += len(data) - sent
                else:
                    self._udp.sendto(data, peer.address)
            except BlockingIOError:
                self.dropped_bytes += len(data)
            except OSError:
                if peer.sock is not None:
                    peer.sock.close()
                    del self.peers[key]

    def close(self) -> None:
        for peer in self.peers.values():
            if peer.sock is not None:
                peer.sock.close()
        for sock in (self._listen, self._udp):
            if sock is not None:
                sock.close()


class MavSimServer:
    """One simulated vehicle on `port`: call `step()` in a loop (each waits at most one physics step)."""

    def __init__(self, port: SimPort, config: MavSimConfig, log: EventLog) -> None:
        self.port, self.log = port, log
        self.sim = MavVehicleSim(config, time.monotonic())
        self._encoder = mavlink.MAVLink(port, srcSystem=config.system_id, srcComponent=mavlink.MAV_COMP_ID_AUTOPILOT1)
        self._relay_encoders: dict[tuple[int, int], mavlink.MAVLink] = {}  # another system or component's messages
        self._dt = 1.0 / config.physics_hz
        self._next_tick = self._next_state_log = time.monotonic()
        log.write({"event": "start", "url": port.url, "vehicle": config.vehicle, "mode": config.start_mode,
                   "armed": config.start_armed, **self.sim.state()})  # fmt: skip

    def _send(self, messages: list) -> None:
        for msg in messages:
            source = source_of(msg)
            if source is None:
                self._encoder.send(msg)
                continue
            if source not in self._relay_encoders:
                self._relay_encoders[source] = mavlink.MAVLink(self.port, srcSystem=source[0], srcComponent=source[1])
            self._relay_encoders[source].send(msg)

    def step(self) -> None:
        sim = self.sim
        received = self.port.read(max(0.0, self._next_tick - time.monotonic()))
        now = time.monotonic()
        for msg in received:
            self._send(sim.handle(msg, now))
        if now >= self._next_tick:
            self._send(sim.tick(now))
            self._next_tick = max(self._next_tick + self._dt, now)
        for event in sim.events:
            self.log.write(event, echo=event["event"] not in _QUIET)
        sim.events.clear()
        if now >= self._next_state_log:
            self._next_state_log = now + STATE_LOG_PERIOD_S
            self.log.write({"t_mono": now, "event": "state", **sim.state()}, echo=False)

    def close(self) -> None:
        self.port.close()
        self.log.close()


#: logged to the JSON lines only, not echoed on stderr (many a second)
_QUIET = frozenset({"setpoint", "setpoint_ignored", "command_dropped"})


def open_port(args: argparse.Namespace) -> SimPort:
    if args.udp_in:
        return SimPort(udp_in=args.udp_in)
    if args.udp_out:
        return SimPort(udp_out=args.udp_out)
    return SimPort(tcp=args.tcp or (LOOPBACK, 5760))


def run(args: argparse.Namespace) -> int:
    """Run the simulator until SIGTERM/SIGINT; returns the exit code."""
    vehicle = args.device
    try:
        config = config_from_args(args, vehicle)
        server_log = EventLog(args.log, name=f"{vehicle}-sim")
        port = open_port(args)
        server = MavSimServer(port, config, server_log)
    except (OSError, ValueError) as exc:
        print(f"{vehicle}-sim: error: {exc}", file=sys.stderr)
        return 2
    print(port.url, flush=True)
    return serve_until_signalled(server)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gridscout.hardware.sim.mavlink",
        description=(
            "Simulate an ArduPilot-like MAVLink drone or rover (GUIDED, BRAKE/HOLD, LOITER, RTL; setpoint timeout; "
            "GCS failsafe) on loopback TCP or UDP. Prints the connection string to drive it with (prefix it with "
            "mavlink: for --vehicle) alone on the first stdout line, then logs to stderr. Stops on SIGTERM / Ctrl-C."
        ),
    )
    devices = p.add_subparsers(dest="device", metavar="VEHICLE", required=True)
    for vehicle in SIM_KINDS:
        add_arguments(devices.add_parser(vehicle, help=f"a simulated {vehicle}"), vehicle)
    return p


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
