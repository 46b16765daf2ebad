"""The vehicle process: gated commands in, the vehicle driver's commands out; telemetry and link status back.

It never blocks for long: the driver's handshake runs inside its loop, so its own heartbeat to the
supervisor keeps going while a slow vehicle answers, and it reports ready only once the vehicle is
connected. A link that fails is reopened with backoff (the vehicle's own failsafe stops it meanwhile).
It is the last line of defence on the host side: when control goes silent for
`vehicle.command_timeout_s` it stops the vehicle itself, and on shutdown it stops the vehicle and waits
for the acknowledgement. Started with GRIDSCOUT_STOP_ONLY=1 (by a supervisor shutting down while this
process was down), it connects, stops the vehicle and exits.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import zmq

from gridscout.control.vehicle import VehicleState, VehicleTelemetry
from gridscout.edge.runtime.daemon import Runtime, run_daemon
from gridscout.edge.runtime.messages import TOPICS, CommandWritten, VehicleCommand, VehicleStatus
from gridscout.edge.runtime.settings import ConfigView, driver_settings, mission
from gridscout.edge.runtime.summary import COUNTERS, REFUSED_PREFIX
from gridscout.hardware.vehicle.driver import LinkError, LinkState, VehicleDriver
from gridscout.hardware.vehicle.registry import open_driver
from gridscout.hardware.vehicle.uri import VehicleTarget, parse_vehicle_uri, sim_link_path, sim_mavlink_link

TELEMETRY_PERIOD_S = 1.0 / TOPICS["telemetry"].rate_hz
STATUS_PERIOD_S = 1.0 / TOPICS["vehicle_status"].rate_hz
RECONNECT_INITIAL_S, RECONNECT_MAX_S = 0.2, 2.0
#: the longest the loop waits for a command or the vehicle's bytes before its own rounds (telemetry, heartbeat)
LOOP_WAIT_S = 0.005


def simulator_link(target: VehicleTarget, run_dir: str, vehicle: ConfigView) -> str:
    """Where the simulator of a `sim-*` vehicle serves, the same across its restarts: the crawler's pty is linked
    in the run directory; the MAVLink simulator listens on the loopback port `gridscout run` chose."""
    if target.driver == "crawler":
        return str(sim_link_path(run_dir, target.kind))
    return sim_mavlink_link(vehicle.sim_port)


def wait_for_inputs(commands: zmq.Socket | None, driver: VehicleDriver, timeout_s: float) -> None:
    """Wait until `commands` (control's socket) or the vehicle's link has something to read, or the driver has
    something to send, at most `timeout_s`. Both are polled together: when the loop waited on the link alone, a
    command that came meanwhile sat in the queue for the rest of that wait (5 ms), on every command."""
    poller = zmq.Poller()
    if commands is not None:
        poller.register(commands, zmq.POLLIN)
    if (handle := driver.wait_handle) is not None:
        poller.register(handle, zmq.POLLIN)
    wait_s = min(timeout_s, driver.due_in_s())
    if poller.sockets:
        poller.poll(math.ceil(wait_s * 1000))
    else:
        time.sleep(wait_s)


class Vehicle:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.cfg = rt.config.vehicle
        target = parse_vehicle_uri(self.cfg.uri)
        if target.simulated:
            target = replace(target, link=simulator_link(target, rt.spec_dir, self.cfg))
        self.uri = self.cfg.uri
        self.driver: VehicleDriver = open_driver(target, driver_settings(rt.config), mission(rt.config.mission))
        self.commands = rt.subscriber(["vehicle_command"], hwm=100)
        self.telemetry_pub = rt.publisher("telemetry")
        self.status_pub = rt.publisher("vehicle_status")
        self.written_pub = rt.publisher("command_written", hwm=1000)
        self.stats: dict[str, float] = dict.fromkeys(
            ("commands_written", "stops_written", "commands_dropped", "link_errors", "control_silent_stops"), 0.0
        )
        self.connected_once = False
        self.detail = ""
        self.last_refusal = ""
        self._next_connect_s = 0.0
        self._connect_wait_s = RECONNECT_INITIAL_S
        self._last_command_s = time.monotonic()
        self._moving = False
        self._last_telemetry_s = 0.0
        self._last_status_s = 0.0
        self._status_key: tuple = ()

    @property
    def connected(self) -> bool:
        return self.driver.link_state is LinkState.CONNECTED

    # ---- the link ----

    def keep_link(self, timeout_s: float) -> None:
        """Open the link when it is closed (with backoff), and service it; never blocks past `timeout_s`."""
        d = self.driver
        now = time.monotonic()
        was = d.link_state
        if d.link_state is LinkState.CLOSED and now >= self._next_connect_s:
            try:
                d.connect()
                self._connect_wait_s = RECONNECT_INITIAL_S
                self.rt.log.info("link to %s open; shaking hands", d.url)
            except LinkError as exc:
                self.stats["link_errors"] += self.connected_once  # before the first connection it is only waiting
                self.detail = str(exc)
                self._next_connect_s = now + self._connect_wait_s
                self.rt.log.warning("%s; retrying in %.1f s", exc, self._connect_wait_s)
                self._connect_wait_s = min(self._connect_wait_s * 2, RECONNECT_MAX_S)
        try:
            d.service(timeout_s)
        except LinkError as exc:
            self.stats["link_errors"] += 1
            self.detail = f"link failed: {exc}"
            self.rt.log.warning("%s; reopening", self.detail)
            d.close()
            self._next_connect_s = time.monotonic() + RECONNECT_INITIAL_S
            return
        if d.link_state is not was:
            self._on_link_change(was)
        for refusal in d.take_refusals():
            self.last_refusal = f"{refusal.command} seq {refusal.seq}: {refusal.reason}"
            self.rt.log.warning("vehicle refused %s", self.last_refusal)

    def _on_link_change(self, was: LinkState) -> None:
        d = self.driver
        if d.link_state is LinkState.CONNECTED:
            self.connected_once, self.detail = True, ""
            limits = d.limits
            self.rt.log.info(
                "connected to %s (max speed %s m/s, its heartbeat timeout %s s)",
                self.uri,
                limits.max_speed_mps if limits else "?",
                limits.heartbeat_timeout_s if limits else "?",
            )
        else:
            self.detail = d.link_detail
            log = self.rt.log.error if d.link_state is LinkState.REFUSED else self.rt.log.warning
            log("vehicle link %s -> %s: %s", was, d.link_state, d.link_detail)

    def wait(self, timeout_s: float) -> None:
        """Until a command or the vehicle's bytes arrive, or the driver has something due; at most `timeout_s`.
        Commands are taken only while running: polled before, they would spin the loop."""
        running = self.rt.run_state == "running"
        wait_for_inputs(self.commands.socket if running else None, self.driver, timeout_s)

    # ---- commands ----

    def write(self, cmd: VehicleCommand) -> None:
        d = self.driver
        if cmd.stop:
            seq = d.stop()
        elif cmd.speed_mps == 0.0:
            seq = d.hold()
        else:
            seq = d.command_speed(cmd.speed_mps)
        if seq < 0:
            self.stats["commands_dropped"] += 1  # not connected: nothing sent (the gate sees the link down)
            return
        self._moving = not cmd.stop and cmd.speed_mps != 0.0
        self.stats["commands_written"] += 1
        self.stats["stops_written"] += cmd.stop
        self.written_pub.publish(
            CommandWritten(
                t_mono_ns=time.monotonic_ns(),
                frame_id=cmd.frame_id,
                seq=seq,
                speed_mps=cmd.speed_mps,
                stop=cmd.stop,
                t_write_mono_ns=d.last_write_mono_ns,
                t_capture_mono_ns=cmd.t_capture_mono_ns,
            )
        )

    def take_commands(self) -> None:
        batch = [r.msg for r in self.commands.drain() if isinstance(r.msg, VehicleCommand)]
        if batch:
            self._last_command_s = time.monotonic()
            if batch[-1].stop or not any(c.stop for c in batch):
                self.write(batch[-1])
            else:  # a stop is never skipped, even when a newer speed follows it
                self.write(next(c for c in reversed(batch) if c.stop))
                self.write(batch[-1])
        elif self._moving and time.monotonic() - self._last_command_s > self.cfg.command_timeout_s:
            self.rt.log.warning("no command from control for %.2f s: stopping the vehicle", self.cfg.command_timeout_s)
            self.stats["control_silent_stops"] += 1
            self.write(self._stop_command("control silent", "FAILSAFE"))

    @staticmethod
    def _stop_command(reason: str, mode: str) -> VehicleCommand:
        return VehicleCommand(t_mono_ns=time.monotonic_ns(), speed_mps=0.0, stop=True, reason=reason, mode=mode)

    # ---- reporting ----

    def publish_telemetry(self) -> None:
        now = time.monotonic()
        if now - self._last_telemetry_s < TELEMETRY_PERIOD_S:
            return
        self._last_telemetry_s = now
        d = self.driver
        t = d.telemetry
        if t is None or not self.connected:
            t = VehicleTelemetry(
                t_mono_ns=0, t_rx_mono_ns=t.t_rx_mono_ns if t else 0, state=VehicleState.DISCONNECTED, link_ok=False
            )
        self.telemetry_pub.publish(replace(t, t_mono_ns=time.monotonic_ns(), link_ok=d.link_ok))

    @property
    def link_detail(self) -> str:
        """Why the link is not up: the open error while closed, else the driver's own account."""
        d = self.driver
        return "" if self.connected else (self.detail if d.link_state is LinkState.CLOSED else d.link_detail)

    def publish_status(self) -> None:
        d, c = self.driver, self.driver.counters
        key = (d.link_state, self.link_detail, c.handshakes, c.link_drops, c.unanswered, sum(c.refusals.values()),
               c.failsafes, len(d.warnings))  # fmt: skip
        now = time.monotonic()
        if key == self._status_key and now - self._last_status_s < STATUS_PERIOD_S:
            return
        self._status_key, self._last_status_s = key, now
        limits = d.limits
        self.status_pub.publish(
            VehicleStatus(
                t_mono_ns=time.monotonic_ns(),
                uri=self.uri,
                link=str(d.link_state),
                detail=self.link_detail,
                connected_once=self.connected_once,
                handshakes=c.handshakes,
                link_drops=c.link_drops,
                retries=c.retries,
                unanswered=c.unanswered,
                clamped=c.clamped,
                refusals=dict(c.refusals),
                last_refusal=self.last_refusal,
                max_speed_mps=limits.max_speed_mps if limits else None,
                heartbeat_timeout_s=limits.heartbeat_timeout_s if limits else None,
                failsafes=c.failsafes,
                last_failsafe=d.last_failsafe,
                last_link_drop=d.last_link_drop,
                warnings=tuple(d.warnings),
            )
        )

    def beat(self, *, force: bool = False) -> None:
        c = self.driver.counters
        stats = {
            **self.stats,
            **{name: float(getattr(c, name)) for name in COUNTERS},
            "connected": float(self.connected),
            "connected_once": float(self.connected_once),
            "refusals": float(sum(c.refusals.values())),
            **{f"{REFUSED_PREFIX}{reason}": float(n) for reason, n in c.refusals.items()},
        }
        self.rt.heartbeat.beat(ready=self.connected, stats=stats, force=force)

    # ---- the loop ----

    def run(self) -> int:
        if self.rt.stop_only:
            return self.stop_only()
        while not self.rt.should_stop:
            self.rt.poll()
            self.wait(LOOP_WAIT_S)
            self.keep_link(0.0)
            if self.rt.run_state == "running":
                self.take_commands()
            self.publish_telemetry()
            self.publish_status()
            self.beat()
        self.stop_and_wait()
        return 0

    def _service_until(self, done, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not done() and time.monotonic() < deadline:
            self.keep_link(0.01)
            self.publish_status()
            self.beat()
        return done()

    def stop_and_wait(self) -> bool:
        """Stop the vehicle and wait (up to `stop_timeout_s` for a link, and as long for the acknowledgement)."""
        timeout = self.cfg.stop_timeout_s
        try:
            if not self._service_until(lambda: self.connected, timeout):
                self.rt.log.warning(
                    "cannot send the shutdown STOP: vehicle %s not connected (%s); its own failsafe will stop it",
                    self.uri,
                    self.link_detail,
                )
                return False
            self.write(self._stop_command("shutdown", "SHUTDOWN"))
            if self._service_until(lambda: not self.driver.stop_pending, timeout):
                self.rt.log.info("vehicle stopped (acknowledged)")
                self._wait_for_rest()
                return True
            self.rt.log.warning("shutdown STOP not acknowledged; the vehicle's own failsafe will stop it")
            return False
        finally:
            self.publish_status()
            self.beat(force=True)
            self.driver.close()

    def _wait_for_rest(self) -> None:
        """After the shutdown STOP's acknowledgement, service the link until the vehicle is at rest (a drone
        braking from cruise takes seconds; closing the link at once left it moving), or `stop_settle_s`."""
        still = self.cfg.stop_rest_mps

        def speed() -> float | None:
            t = self.driver.telemetry
            if t is None:
                return None
            return t.ground_speed_mps if t.ground_speed_mps is not None else abs(t.speed_mps or 0.0)

        started = time.monotonic()
        if self._service_until(lambda: (speed() or 0.0) <= still, self.cfg.stop_settle_s):
            self.rt.log.info("vehicle at rest %.1f s after the STOP's acknowledgement", time.monotonic() - started)
        else:
            self.rt.log.warning(
                "vehicle still moving at %.2f m/s %.0f s after the STOP's acknowledgement",
                speed(),
                self.cfg.stop_settle_s,
            )

    def stop_only(self) -> int:
        self.rt.log.info("started to stop the vehicle during shutdown")
        return 0 if self.stop_and_wait() else 1


def main(argv: list[str] | None = None) -> int:
    return run_daemon("vehicle", lambda rt: Vehicle(rt).run(), argv, realtime=True)


if __name__ == "__main__":
    raise SystemExit(main())
