"""The vehicle process: gated commands in, serial frames out; telemetry back onto the bus.

It is the last line of defence on the host side: when control goes silent for
`vehicle.command_timeout_s` it stops the vehicle itself, and on shutdown it stops the vehicle
and waits for the acknowledgement before exiting. A link that fails is reopened with backoff
(the crawler's own heartbeat failsafe stops it meanwhile).
"""

from __future__ import annotations

import time

from gridscout.edge.runtime.daemon import Runtime
from gridscout.edge.runtime.messages import CommandWritten, Telemetry, VehicleCommand
from gridscout.hardware.crawler.driver import CrawlerDriver, CrawlerError
from gridscout.hardware.crawler.link import LinkError, open_link

TELEMETRY_PERIOD_S = 0.05
STOP_ACK_WAIT_S = 1.0


class Vehicle:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.cfg = rt.config.vehicle
        self.commands = rt.subscriber(["vehicle_command"], hwm=100)
        self.telemetry_pub = rt.publisher("telemetry")
        self.written_pub = rt.publisher("command_written", hwm=1000)
        self.driver: CrawlerDriver | None = None
        self.stats: dict[str, float] = dict.fromkeys(
            ("commands_written", "stops_written", "link_errors", "commands_failed", "control_silent_stops"), 0.0
        )
        self._last_command_s = time.monotonic()
        self._moving = False
        self._last_telemetry = 0.0

    def connect(self) -> None:
        """Open the link and shake hands, retrying with backoff until it works or we must stop."""
        wait_s = 0.2
        while not self.rt.should_stop:
            try:
                link = open_link(self.rt.spec.vehicle_link, self.rt.spec.vehicle_baud)
                driver = CrawlerDriver(
                    link,
                    heartbeat_period_s=self.cfg.heartbeat_period_s,
                    ack_timeout_s=self.cfg.ack_timeout_s,
                    max_retries=self.cfg.max_retries,
                )
                try:
                    driver.handshake()
                except CrawlerError:
                    driver.close()
                    raise
                self.driver = driver
                self.rt.log.info("connected to the crawler on %s", self.rt.spec.vehicle_link)
                return
            except (LinkError, CrawlerError, OSError) as exc:
                self.stats["link_errors"] += 1
                self.rt.log.warning("vehicle link: %s; retrying in %.1f s", exc, wait_s)
                self._idle(wait_s)
                wait_s = min(wait_s * 2, 5.0)

    def _idle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.rt.should_stop:
            self.rt.poll()
            self.rt.heartbeat.beat(stats=self.stats)
            self.publish_telemetry()
            time.sleep(0.02)

    def write(self, cmd: VehicleCommand) -> None:
        assert self.driver is not None
        seq = self.driver.stop() if cmd.stop else self.driver.set_speed(cmd.speed_mps)
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
                t_write_mono_ns=self.driver.last_write_mono_ns,
                t_capture_mono_ns=cmd.t_capture_mono_ns,
            )
        )

    def publish_telemetry(self) -> None:
        now = time.monotonic()
        if now - self._last_telemetry < TELEMETRY_PERIOD_S:
            return
        self._last_telemetry = now
        t = self.driver.telemetry if self.driver else None
        link_ok = bool(self.driver and self.driver.link_ok)
        self.telemetry_pub.publish(
            Telemetry(
                t_mono_ns=time.monotonic_ns(),
                position_m=t.position_m if t else 0.0,
                speed_mps=t.speed_mps if t else 0.0,
                battery_v=t.battery_v if t else 0.0,
                battery_pct=float(t.battery_pct) if t else 0.0,
                state=t.state.name if t else "UNKNOWN",
                failsafe=t.failsafe if t else False,
                link_ok=link_ok,
                last_cmd_seq=t.last_cmd_seq if t else -1,
                t_rx_mono_ns=t.t_rx_mono_ns if t else 0,
            )
        )

    def run(self) -> int:
        self.connect()
        if self.driver is None:
            return 0
        if not self.rt.wait_until_running(self.stats, idle=lambda: self.driver and self.driver.service(0.02)):
            self.stop_and_wait()
            return 0
        self._last_command_s = time.monotonic()
        while not self.rt.should_stop:
            try:
                self.driver.service(0.002)
            except OSError as exc:
                self.stats["link_errors"] += 1
                self.rt.log.warning("vehicle link failed: %s; reconnecting", exc)
                self.driver.close()
                self.driver = None
                self.connect()
                if self.driver is None:
                    break
                continue
            batch = [r.msg for r in self.commands.drain() if isinstance(r.msg, VehicleCommand)]
            if batch:
                self._last_command_s = time.monotonic()
                if batch[-1].stop or not any(c.stop for c in batch):
                    self.write(batch[-1])
                else:  # a stop is never skipped, even when a newer speed follows it
                    self.write(next(c for c in reversed(batch) if c.stop))
                    self.write(batch[-1])
            elif self._moving and time.monotonic() - self._last_command_s > self.cfg.command_timeout_s:
                self.rt.log.warning(
                    "no command from control for %.2f s: stopping the vehicle", self.cfg.command_timeout_s
                )
                self.stats["control_silent_stops"] += 1
                self.write(
                    VehicleCommand(
                        t_mono_ns=time.monotonic_ns(),
                        speed_mps=0.0,
                        stop=True,
                        reason="control silent",
                        mode="FAILSAFE",
                    )
                )
            self.publish_telemetry()
            self.stats["commands_failed"] = self.driver.counters["commands_failed"]
            self.rt.heartbeat.beat(stats=self.stats)
            self.rt.poll()
        self.stop_and_wait()
        return 0

    def stop_and_wait(self) -> None:
        """Stop the vehicle and wait (briefly) for the acknowledgement."""
        if self.driver is None:
            return
        try:
            self.write(
                VehicleCommand(
                    t_mono_ns=time.monotonic_ns(), speed_mps=0.0, stop=True, reason="shutdown", mode="SHUTDOWN"
                )
            )
            deadline = time.monotonic() + STOP_ACK_WAIT_S
            while self.driver.pending_seqs and time.monotonic() < deadline:
                self.driver.service(0.01)
            if self.driver.pending_seqs:
                self.rt.log.warning("shutdown STOP not acknowledged; the crawler's heartbeat failsafe will stop it")
            else:
                self.rt.log.info("vehicle stopped (acknowledged)")
        except OSError as exc:
            self.rt.log.warning("could not send the shutdown STOP (%s); the crawler's failsafe will stop it", exc)
        self.rt.heartbeat.beat(stats=self.stats, force=True)
        self.driver.close()


def main(argv: list[str] | None = None) -> int:
    rt = Runtime("vehicle", argv)
    rt.make_realtime()
    try:
        return Vehicle(rt).run()
    finally:
        rt.close()


if __name__ == "__main__":
    raise SystemExit(main())
