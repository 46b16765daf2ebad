"""The MAVLink vehicle driver: GridScout as the companion computer of an ArduPilot or PX4 drone or rover.

Not threaded, like every driver: the owner calls `service(timeout_s)` in its loop. `connect()` opens the
link; the rest happens in `service`:

- Our heartbeat goes out at `heartbeat_period_s` (1 Hz) as MAV_TYPE_GCS from `system_id` (255): ArduPilot's
  GCS failsafe counts heartbeats from MAV_GCS_SYSID (255 by default) whatever their type, and PX4 counts a
  GCS link by MAV_TYPE_GCS. So when this process dies, the autopilot's own failsafe takes over.
- The first autopilot HEARTBEAT names the vehicle; its modes come from pymavlink's tables (`modes.py`).
  The driver asks for its streams (MAV_CMD_SET_MESSAGE_INTERVAL), reads its failsafe parameters
  (PARAM_REQUEST_READ, `failsafe_params.py`) and warns about each one that is off.
- It then waits, saying so in `link_detail`, for the vehicle to be armed, in GUIDED (PX4: OFFBOARD) and,
  a multicopter, airborne. It never arms and never takes off unless `allow_arm` / `allow_takeoff` say so;
  it switches the mode itself on PX4 (after a second of setpoints, as OFFBOARD requires), and on ArduPilot
  only when `engage` says so.
- Connected, "move along the inspection path at v" is a velocity setpoint from the mission's path
  (`control.mission.velocity_setpoint`), sent as SET_POSITION_TARGET_LOCAL_NED (MAV_FRAME_LOCAL_NED, velocity
  and yaw) at `setpoint_rate_hz`, well above ArduPilot's 3 s GUIDED timeout and PX4's 2 Hz. `hold()` is the
  same at speed 0 (hover on the path); `stop()` switches to BRAKE (Rover: HOLD; PX4: Hold), acknowledged.
  After its own stop the driver goes back to GUIDED when told to move; from any mode it did not choose
  (the crew took over, a failsafe) it never does: the vehicle is the crew's until they give it back.
- Commands go as COMMAND_LONG and are resent until COMMAND_ACK (`commands.py`); a refusal is a `Refusal`
  with MAV_RESULT's name.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, replace

from gridscout.control.geodesy import distance_m
from gridscout.control.mission import Mission, velocity_setpoint
from gridscout.control.vehicle import VehicleLimits, VehicleState, VehicleTelemetry
from gridscout.hardware.mavlink.commands import Answer, CommandQueue, PendingCommand
from gridscout.hardware.mavlink.failsafe_params import ParamReader, checks_for
from gridscout.hardware.mavlink.link import open_connection
from gridscout.hardware.mavlink.mav import (
    POSITION_MASK,
    UNKNOWN_U16,
    VELOCITY_YAW_MASK,
    enum_name,
    has_position,
    mavlink,
    send_gcs_heartbeat,
    text_of,
)
from gridscout.hardware.mavlink.modes import (
    UnsupportedVehicleError,
    VehicleModes,
    is_armed,
    is_target_autopilot,
    mode_name,
    modes_for,
)
from gridscout.hardware.mavlink.settings import MavlinkSettings
from gridscout.hardware.mavlink.statustext import StatusTextAssembler
from gridscout.hardware.vehicle.driver import DriverCounters, LinkError, LinkState, Refusal, heard_within
from gridscout.hardware.vehicle.uri import VehicleTarget

log = logging.getLogger(__name__)

#: a multicopter this high above home counts as airborne
AIRBORNE_M = 1.0
#: position older than this is not steered on (the setpoint is zero velocity then)
POSITION_STALE_S = 1.0
#: PX4 takes OFFBOARD only after setpoints have streamed this long
PX4_STREAM_BEFORE_S = 1.0
#: at most this often while waiting: ask for the control mode, arming, take-off again
ENGAGE_RETRY_S = 2.0
#: after a mode change (or arming) the vehicle accepted, heartbeats saying otherwise for this long are older than it
MODE_SETTLE_S = 1.5
#: a STATUSTEXT this recent is quoted as the reason the vehicle left our mode
STATUSTEXT_REASON_S = 3.0
#: STATUSTEXT severity -> log level
_LEVELS = {
    mavlink.MAV_SEVERITY_EMERGENCY: logging.ERROR,
    mavlink.MAV_SEVERITY_ALERT: logging.ERROR,
    mavlink.MAV_SEVERITY_CRITICAL: logging.ERROR,
    mavlink.MAV_SEVERITY_ERROR: logging.ERROR,
    mavlink.MAV_SEVERITY_WARNING: logging.WARNING,
}


class MavlinkError(RuntimeError):
    """The vehicle did not become ready (tools and tests: `MavlinkDriver.wait_ready`)."""


@dataclass(slots=True)
class _Position:
    lat_deg: float
    lon_deg: float
    alt_m: float
    alt_rel_m: float
    v_north: float
    v_east: float
    v_down: float
    heading_deg: float | None
    rx_ns: int


class MavlinkDriver:
    """Drives one MAVLink vehicle over `url`, a pymavlink connection string, along `mission`'s path."""

    def __init__(self, url: str, mission: Mission, settings: MavlinkSettings | None = None) -> None:
        self.url = url
        self.mission = mission
        self.settings = s = settings or MavlinkSettings()
        self.conn = None
        self.link_state = LinkState.CLOSED
        self.link_detail = "not connected yet"
        self.telemetry: VehicleTelemetry | None = None
        self.limits: VehicleLimits | None = None
        self.counters = DriverCounters()
        self.last_write_mono_ns = 0
        #: what the vehicle's set-up check found wrong (failsafe parameters, refused stream rates), for the summary
        self.warnings: list[str] = []
        #: the latest time the vehicle left our modes unasked, described ('GUIDED -> RTL: GCS failsafe')
        self.last_failsafe = ""
        self.last_link_drop = ""
        self.modes: VehicleModes | None = None
        self.mode: str | None = None
        self.armed: bool | None = None
        self.target = (s.target_system, 0)
        self._commands = CommandQueue(s.ack_timeout_s, s.max_retries)
        self._refusals: list[Refusal] = []
        self._t0_ns = time.monotonic_ns()
        self._seq = 0
        self._speed = 0.0
        self._direction = 1.0
        self._goto: tuple[float, float, float] | None = None
        self._position: _Position | None = None
        self._attitude: tuple[float, float, float] | None = None
        self._battery: tuple[float | None, float | None] = (None, None)
        self._last_rx_ns: int | None = None
        self._last_heartbeat_ns: int | None = None
        self._ready_once = False
        #: the mode we last asked for (so a change to it is not a failsafe), and when
        self._asked_mode: str | None = None
        self._mode_set_ns = 0  # when the vehicle accepted the latest mode change or arming
        self._braked_by_us = False
        self._next_heartbeat_ns = 0
        self._next_setpoint_ns = 0
        self._stream_since_ns: int | None = None
        self._next_engage_ns = 0
        self._took_off = False
        self._params: ParamReader | None = None
        self._statustexts: list[tuple[int, str]] = []
        self._texts = StatusTextAssembler()
        self._stream_requests: list[tuple[int, str, float]] = []
        self._data_stream_asked = False
        #: home's altitude above sea level (HOME_POSITION), None until the vehicle says
        self._home_alt_m: float | None = None

    @classmethod
    def for_target(
        cls, target: VehicleTarget, settings: MavlinkSettings, mission: Mission | None = None
    ) -> MavlinkDriver:
        """The driver for a parsed `mavlink:` URI (its `?baud=` wins over the settings')."""
        if mission is None:
            raise ValueError(f"vehicle {target.uri!r}: a MAVLink vehicle needs a mission (the line to fly)")
        return cls(target.link, mission, replace(settings, baud=target.baud) if target.baud else settings)

    # ---- the link ----

    def connect(self) -> None:
        """Open the link; the autopilot is found by its heartbeat inside `service`. LinkError when it cannot open."""
        self.close()
        s = self.settings
        self.conn = open_connection(self.url, s.baud, s.system_id, s.component_id)
        self.link_state = LinkState.CONNECTING
        self.link_detail = f"no HEARTBEAT from an autopilot on {self.url} yet (powered? right address or baud rate?)"
        # The vehicle is found again (it may have rebooted: streams and parameters are asked for anew); its last
        # mode is kept, so a failsafe it went into meanwhile shows as one.
        self.modes, self.target = None, (s.target_system, 0)
        self._commands.clear(keep_stop=True)
        self._params = None
        self._stream_requests.clear()
        self._data_stream_asked = False
        self._home_alt_m = None
        self._last_rx_ns = self._last_heartbeat_ns = None
        self._next_heartbeat_ns = self._next_setpoint_ns = 0
        self._stream_since_ns = None

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Connect and service until CONNECTED (tools and tests); MavlinkError with `link_detail` when not."""
        self.connect()
        deadline = time.monotonic() + timeout_s
        while self.link_state is LinkState.CONNECTING and time.monotonic() < deadline:
            self.service(min(0.02, max(0.0, deadline - time.monotonic())))
        if self.link_state is not LinkState.CONNECTED:
            raise MavlinkError(self.link_detail)

    @property
    def link_ok(self) -> bool:
        return self.link_state is LinkState.CONNECTED and heard_within(self._last_rx_ns, self.settings.link_timeout_s)

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()
            self.conn = None
        self.link_state = LinkState.CLOSED

    # ---- commands (the VehicleDriver protocol) ----

    def command_speed(self, speed_mps: float) -> int:
        """Move along the mission's path at this speed (m/s, negative: backwards), clamped to `max_speed_mps`.
        Returns the command's seq, or -1 when not connected (nothing sent)."""
        if self.link_state is not LinkState.CONNECTED:
            return -1
        top = self.settings.max_speed_mps
        if abs(speed_mps) > top:
            speed_mps = math.copysign(top, speed_mps)
            self.counters.clamped += 1
        changed = speed_mps != self._speed or self._goto is not None
        self._speed, self._goto = speed_mps, None
        if speed_mps:
            self._direction = math.copysign(1.0, speed_mps)
            self._resume_if_braked()
        return self._send_setpoint_now() if changed else self._next_seq()  # unchanged: the stream carries it

    def hold(self) -> int:
        """Stand still on the path, in the mode it is in (hover; a rover stands)."""
        return self.command_speed(0.0)

    def stop(self) -> int:
        """Brake now: zero velocity at once, and the brake mode (Copter BRAKE, Rover HOLD, PX4 Hold), resent
        until acknowledged. In a mode GridScout did not choose, the vehicle is left as it is."""
        if self.link_state is not LinkState.CONNECTED or self.modes is None:
            return -1
        self._speed, self._goto = 0.0, None
        seq = self._send_setpoint_now()
        if self.mode == self.modes.control and not self._commands.stop_pending:
            self._set_mode(self.modes.brake, is_stop=True)
            self._braked_by_us = True
        return seq

    @property
    def stop_pending(self) -> bool:
        return self._commands.stop_pending

    def take_refusals(self) -> list[Refusal]:
        taken, self._refusals = self._refusals, []
        return taken

    # ---- further commands (tools, tests, the crew's scripts) ----

    def change_speed(self, speed_mps: float) -> int:
        """MAV_CMD_DO_CHANGE_SPEED (param1 1: ground speed, param2 m/s, > 0; param3 -1: throttle unchanged): the
        speed of position moves (`goto`), not of the velocity setpoints GridScout steers by, so a refusal is a
        warning. ArduCopter resets it to WPNAV_SPEED each time GUIDED is entered. Returns its seq or -1."""
        label = f"DO_CHANGE_SPEED({speed_mps:g})"
        return self._command(mavlink.MAV_CMD_DO_CHANGE_SPEED, (1, speed_mps, -1), label, setup=True)

    def goto(self, lat_deg: float, lon_deg: float, alt_rel_m: float) -> int:
        """Fly to a point (SET_POSITION_TARGET_GLOBAL_INT, altitude above home), streamed like a velocity;
        the next `command_speed`, `hold` or `stop` ends it. Returns its seq or -1."""
        if self.link_state is not LinkState.CONNECTED:
            return -1
        self._goto = (lat_deg, lon_deg, alt_rel_m)
        return self._send_setpoint_now()

    def return_to_launch(self) -> int:
        """MAV_CMD_NAV_RETURN_TO_LAUNCH, acknowledged; returns its seq or -1."""
        if self.modes is not None:
            self._asked_mode = self.modes.rtl
        return self._command(mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH, (), "NAV_RETURN_TO_LAUNCH")

    def set_mode(self, name: str) -> int:
        """MAV_CMD_DO_SET_MODE by mode name, looked up for this vehicle; returns its seq or -1.
        UnsupportedVehicleError when the vehicle has no such mode."""
        if self.modes is None or self.conn is None:
            return -1
        return self._set_mode(name)

    # ---- the loop ----

    def service(self, timeout_s: float = 0.0) -> None:
        """Read what arrives within `timeout_s` (returning early once something did), handle it, and send what
        is due. Raises LinkError when the link fails (the owner reconnects)."""
        if self.conn is None:
            time.sleep(max(0.0, timeout_s))
            return
        try:
            self._due_work()
            wait_s = min(timeout_s, (self._next_due_ns() - time.monotonic_ns()) / 1e9)
            if wait_s > 0:
                self.conn.select(wait_s)
            for _ in range(500):  # what has arrived, not forever under a flood
                msg = self.conn.recv_msg()
                if msg is None:
                    break
                self._handle(msg, time.monotonic_ns())
            self._due_work()
        except OSError as exc:  # LinkError included
            if self.link_state is LinkState.CONNECTED:
                self.counters.link_drops += 1
                self.last_link_drop = f"MAVLink link {self.url}: {exc}"
            if isinstance(exc, LinkError):
                raise
            raise LinkError(f"MAVLink link {self.url}: {exc}") from exc

    @property
    def wait_handle(self) -> int | None:
        """pymavlink's descriptor for a serial, UDP or TCP link (None for the kinds that have none)."""
        return None if self.conn is None else getattr(self.conn, "fd", None)

    def due_in_s(self) -> float:
        if self.conn is None:  # closed: nothing to send until the owner connects again
            return float("inf")
        return max(0.0, (self._next_due_ns() - time.monotonic_ns()) / 1e9)

    # ---- internals: sending ----

    def _time_boot_ms(self) -> int:
        return ((time.monotonic_ns() - self._t0_ns) // 1_000_000) & 0xFFFFFFFF

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _command(self, command: int, params: tuple, label: str, *, is_stop: bool = False, setup: bool = False) -> int:
        if self.conn is None or self.modes is None:
            return -1
        now = time.monotonic_ns()
        cmd = self._commands.make(self._next_seq(), command, params, now, label=label, is_stop=is_stop, setup=setup)
        self._send_command(cmd)
        return cmd.seq

    def _send_command(self, cmd: PendingCommand) -> None:
        assert self.conn is not None
        self.conn.mav.command_long_send(self.target[0], self.target[1], cmd.command, cmd.retries, *cmd.params)
        if not cmd.setup:
            self.last_write_mono_ns = time.monotonic_ns()

    def _set_mode(self, name: str, *, is_stop: bool = False) -> int:
        assert self.modes is not None
        params = self.modes.set_mode_params(name)
        self._asked_mode = name
        return self._command(mavlink.MAV_CMD_DO_SET_MODE, params, f"DO_SET_MODE({name})", is_stop=is_stop)

    def _resume_if_braked(self) -> None:
        """Back to the control mode after our own stop (never out of a mode someone else chose)."""
        m = self.modes
        waiting = self._commands.stop_pending or mavlink.MAV_CMD_DO_SET_MODE in self._commands.pending
        if m and self._braked_by_us and self.mode == m.brake and not waiting:
            self._set_mode(m.control)

    def _send_setpoint_now(self) -> int:
        seq = self._next_seq()
        if self._streaming():
            self._send_setpoint(time.monotonic_ns())
        return seq

    def _streaming(self) -> bool:
        """Setpoints go out in the control mode once the vehicle was ready (ArduPilot: not to a vehicle still
        being waited for or refused), and always to PX4 (OFFBOARD needs them before it is entered)."""
        m = self.modes
        if m is None or self.conn is None or self.link_state in (LinkState.CLOSED, LinkState.REFUSED):
            return False
        return m.px4 or (self._ready_once and self.mode == m.control)

    def _send_setpoint(self, now_ns: int) -> None:
        assert self.conn is not None and self.modes is not None
        self._next_setpoint_ns = now_ns + round(1e9 / self.settings.setpoint_rate_hz)
        if self._stream_since_ns is None:
            self._stream_since_ns = now_ns
        p = self._position
        fresh = p is not None and now_ns - p.rx_ns < POSITION_STALE_S * 1e9
        ts, tc = self.target
        if fresh and self._goto is not None:
            lat, lon, alt = self._goto
            self.conn.mav.set_position_target_global_int_send(
                self._time_boot_ms(), ts, tc, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, POSITION_MASK,
                round(lat * 1e7), round(lon * 1e7), alt, 0, 0, 0, 0, 0, 0, 0, 0,
            )  # fmt: skip
        else:
            (v_north, v_east, v_down), yaw = self._velocity(p) if fresh else ((0.0, 0.0, 0.0), math.nan)
            mask = VELOCITY_YAW_MASK | (mavlink.POSITION_TARGET_TYPEMASK_YAW_IGNORE if math.isnan(yaw) else 0)
            self.conn.mav.set_position_target_local_ned_send(
                self._time_boot_ms(), ts, tc, mavlink.MAV_FRAME_LOCAL_NED, mask,
                0, 0, 0, v_north, v_east, v_down, 0, 0, 0, 0.0 if math.isnan(yaw) else yaw, 0,
            )  # fmt: skip
        self.last_write_mono_ns = time.monotonic_ns()

    def _velocity(self, p: _Position) -> tuple[tuple[float, float, float], float]:
        """The NED velocity setpoint along the path at the commanded speed, and the path's heading (rad).
        A rover told to stand gets zero: it cannot step sideways back onto the path, and chasing that
        correction drove ArduRover to and fro at 0.7 m/s through a hold."""
        mission = self.mission
        if self.modes.family == "rover" and self._speed == 0.0:
            return (0.0, 0.0, 0.0), math.nan
        east, north, _ = mission.frame.to_local(p.lat_deg, p.lon_deg)
        v_north, v_east, v_down = velocity_setpoint(
            mission.path, east, north, p.alt_rel_m, self._speed, mission.altitude_m
        )
        horizontal = math.hypot(v_north, v_east)
        top = self.settings.max_speed_mps
        if horizontal > top:
            v_north, v_east = v_north * top / horizontal, v_east * top / horizontal
        if self.modes.family == "rover":
            v_down = 0.0
        s, _ = mission.path.project(east, north)
        de, dn = mission.path.tangent_at(s)
        return (v_north, v_east, v_down), math.atan2(de, dn)

    # ---- internals: receiving ----

    def _handle(self, msg, rx_ns: int) -> None:
        kind = msg.get_type()
        if kind == "BAD_DATA":
            return
        src = (msg.get_srcSystem(), msg.get_srcComponent())
        if kind == "HEARTBEAT" and src != self.target:
            self._other_heartbeat(msg, src)  # the autopilot found now is handled below
        if src != self.target or self.modes is None:
            return  # another system or component (a GCS, a camera) on the same link
        self._last_rx_ns = rx_ns
        match kind:
            case "HEARTBEAT":
                self._on_heartbeat(msg, rx_ns)
            case "GLOBAL_POSITION_INT":
                if not has_position(msg):
                    return
                hdg = None if msg.hdg == UNKNOWN_U16 else msg.hdg / 100.0
                self._position = _Position(
                    msg.lat / 1e7, msg.lon / 1e7, msg.alt / 1000.0, msg.relative_alt / 1000.0,
                    msg.vx / 100.0, msg.vy / 100.0, msg.vz / 100.0, hdg, rx_ns,
                )  # fmt: skip
                self._update_telemetry(rx_ns)
            case "ATTITUDE":
                self._attitude = (math.degrees(msg.roll), math.degrees(msg.pitch), math.degrees(msg.yaw) % 360.0)
            case "SYS_STATUS":
                volts = None if msg.voltage_battery == UNKNOWN_U16 else msg.voltage_battery / 1000.0
                pct = None if msg.battery_remaining < 0 else float(msg.battery_remaining)
                self._battery = (volts, pct if pct is not None else self._battery[1])
            case "BATTERY_STATUS":
                cells = [v for v in msg.voltages if v != UNKNOWN_U16]
                volts = self._battery[0] if self._battery[0] is not None else (sum(cells) / 1000.0 if cells else None)
                pct = float(msg.battery_remaining) if msg.battery_remaining >= 0 else self._battery[1]
                self._battery = (volts, pct)
            case "STATUSTEXT":
                # MAVLink 2 splits a long text into chunks sharing an id (MAVLink 1 has neither field)
                text_id, chunk = getattr(msg, "id", 0), getattr(msg, "chunk_seq", 0)
                for severity, text in self._texts.add(src[0], msg.severity, text_of(msg.text), text_id, chunk, rx_ns):
                    self._on_statustext(severity, text, rx_ns)
            case "COMMAND_ACK":
                if self._acks_us(msg):
                    answer = self._commands.answer(msg.command, msg.result, rx_ns)
                    if answer is not None:
                        self._on_answer(answer)
            case "PARAM_VALUE":
                self._on_param(msg)
            case "HOME_POSITION":
                self._home_alt_m = msg.altitude / 1000.0

    def _other_heartbeat(self, hb, src: tuple[int, int]) -> None:
        """A heartbeat not from our target: the autopilot itself while none is found yet (its component 1; MAVProxy
        and ArduPilot's routing relay GCSs, gimbals, cameras and ADS-B receivers too), else a note when another
        ground station shares our system id."""
        s = self.settings
        if self.modes is None and is_target_autopilot(hb, src, s.target_system):
            self._found_autopilot(hb, src)
        elif src[0] == s.system_id and src[1] != s.component_id:
            # ArduPilot's GCS failsafe counts any heartbeat from MAV_GCS_SYSID, whichever component sent it
            self._warn(
                f"system {src[0]} component {src[1]} ({enum_name('MAV_TYPE', hb.type).removeprefix('MAV_TYPE_')}, "
                "e.g. MAVProxy) shares GridScout's system id: its heartbeats also hold off the vehicle's GCS "
                "failsafe, which will not trip if GridScout stops while it runs"
            )

    def _acks_us(self, ack) -> bool:
        """A COMMAND_ACK meant for us: ArduPilot and PX4 address it to the sender's system and component (MAVProxy,
        also system 255, gets its own relayed on the same link); older firmware leaves both 0."""
        s = self.settings
        to = (getattr(ack, "target_system", 0), getattr(ack, "target_component", 0))
        return to in ((0, 0), (s.system_id, 0), (s.system_id, s.component_id))

    def _on_statustext(self, severity: int, text: str, rx_ns: int) -> None:
        self._statustexts = [*self._statustexts[-9:], (rx_ns, text)]
        log.log(_LEVELS.get(severity, logging.INFO), "vehicle says: %s", text)

    @property
    def statustexts(self) -> list[str]:
        """The vehicle's latest STATUSTEXTs (up to 10, chunked ones whole), oldest first."""
        return [text for _, text in self._statustexts]

    def _found_autopilot(self, heartbeat, src: tuple[int, int]) -> None:
        try:
            self.modes = modes_for(heartbeat.autopilot, heartbeat.type)
        except UnsupportedVehicleError as exc:
            self.link_state = LinkState.REFUSED
            self.link_detail = f"vehicle on {self.url} (system {src[0]}): {exc}; refusing to drive it"
            return
        self.target = src
        log.info("found %s on %s (system %d, component %d)", self.modes.describe, self.url, *src)
        self._request_streams()
        self._read_failsafe_params()

    def _request_streams(self) -> None:
        s = self.settings
        # one SET_MESSAGE_INTERVAL may wait at a time (an ACK names only the command); the next goes once it is answered
        self._stream_requests = [
            (getattr(mavlink, f"MAVLINK_MSG_ID_{name}"), name, rate)
            for name, rate in (
                ("GLOBAL_POSITION_INT", s.telemetry_rate_hz),
                ("ATTITUDE", s.telemetry_rate_hz),
                ("SYS_STATUS", s.status_rate_hz),
                ("BATTERY_STATUS", s.status_rate_hz),
                ("HOME_POSITION", s.status_rate_hz),  # a rover's altitude is judged against it
            )
        ]
        self._next_stream_request()

    def _next_stream_request(self) -> None:
        if mavlink.MAV_CMD_SET_MESSAGE_INTERVAL in self._commands.pending or not self._stream_requests:
            return
        msg_id, name, rate = self._stream_requests.pop(0)
        self._command(
            mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, (msg_id, 1e6 / rate), f"SET_MESSAGE_INTERVAL({name}, {rate:g} Hz)",
            setup=True,
        )  # fmt: skip

    def _read_failsafe_params(self) -> None:
        assert self.modes is not None
        s = self.settings
        self._params = ParamReader(
            checks_for(self.modes.autopilot_name, self.modes.family), px4=self.modes.px4, system_id=s.system_id,
            resend_s=s.ack_timeout_s,
            max_retries=s.max_retries, request=self._request_param,
        )  # fmt: skip
        self._params.start(time.monotonic_ns())

    def _request_param(self, name: str) -> None:
        assert self.conn is not None
        self.conn.mav.param_request_read_send(self.target[0], self.target[1], name.encode(), -1)

    def _on_param(self, msg) -> None:
        name = text_of(msg.param_id)
        verdict = self._params.on_value(name, msg.param_type, msg.param_value) if self._params else None
        if verdict is None:
            return
        value = self._params.values[name]
        if verdict:
            self._warn(verdict)
        else:
            log.info("vehicle parameter %s = %g: fine", name, value)
        if name in ("FS_GCS_TIMEOUT", "COM_OF_LOSS_T"):
            self.limits = VehicleLimits(max_speed_mps=self.settings.max_speed_mps, heartbeat_timeout_s=value)

    def _warn(self, text: str) -> None:
        """Log and keep a warning once (a shared system id is seen in every heartbeat: it was logged every second)."""
        if text not in self.warnings:
            log.warning("%s", text)
            self.warnings.append(text)

    def _on_answer(self, answer: Answer) -> None:
        cmd = answer.pending
        if cmd.command == mavlink.MAV_CMD_SET_MESSAGE_INTERVAL:
            if not answer.accepted:
                self._warn(f"vehicle refused {cmd.label}: {answer.result_name}; asking with REQUEST_DATA_STREAM")
                self._request_data_stream()
            self._next_stream_request()
            return
        if answer.accepted:
            log.info("vehicle accepted %s", cmd.label)
            self._next_engage_ns = 0  # while waiting for the vehicle: the next step may go at once
            # what it accepted holds now; its heartbeat says so within a second
            if cmd.command == mavlink.MAV_CMD_DO_SET_MODE and self._asked_mode:
                self.mode, self._mode_set_ns = self._asked_mode, time.monotonic_ns()
                if self._ready_once and self.mode == self.modes.control:
                    self._send_cruise_speed()  # entering GUIDED reset it
            elif cmd.command == mavlink.MAV_CMD_COMPONENT_ARM_DISARM:
                self.armed, self._mode_set_ns = cmd.params[0] >= 0.5, time.monotonic_ns()
            return
        if cmd.setup:
            self._warn(f"vehicle refused {cmd.label}: {answer.result_name}")
            return
        if cmd.command == mavlink.MAV_CMD_DO_SET_MODE and cmd.is_stop:
            self._braked_by_us = False  # still in the control mode: the zero-velocity setpoints hold it
        self._asked_mode = None
        self._refusals.append(Refusal(cmd.seq, cmd.label, answer.result_name, time.monotonic_ns()))
        self.counters.refusals[answer.result_name] += 1
        log.warning("vehicle refused %s: %s", cmd.label, answer.result_name)

    def _request_data_stream(self) -> None:
        """The older way (ArduPilot before SET_MESSAGE_INTERVAL, some companions): every stream at one rate."""
        if self._data_stream_asked or self.conn is None:
            return
        self._data_stream_asked = True
        rate = round(self.settings.telemetry_rate_hz)
        self.conn.mav.request_data_stream_send(self.target[0], self.target[1], mavlink.MAV_DATA_STREAM_ALL, rate, 1)

    def _on_heartbeat(self, hb, rx_ns: int) -> None:
        assert self.modes is not None
        self._last_heartbeat_ns = rx_ns
        mode, armed = mode_name(hb), is_armed(hb)
        if rx_ns - self._mode_set_ns < MODE_SETTLE_S * 1e9:  # a heartbeat from before the change it just accepted?
            mode, armed = self.mode or mode, armed if self.armed is None else self.armed
        before, was_armed = self.mode, self.armed
        self.mode, self.armed = mode, armed
        if mode != before or armed != was_armed:
            log.info("vehicle %s, %s", mode, "armed" if armed else "disarmed")
            self._judge_change(before, was_armed, mode, armed)
            if mode != self.modes.brake:
                self._braked_by_us = self._braked_by_us and self._asked_mode == self.modes.brake
        if self.link_state is LinkState.CONNECTING and self._ready_once:
            self._on_ready()  # back after a link drop: drivable or not, the state says so
        self._update_telemetry(rx_ns)

    def _judge_change(self, before: str | None, was_armed: bool | None, mode: str, armed: bool) -> None:
        """A mode or arming change nobody here asked for, while the vehicle was ours, is a failsafe (its own,
        or the crew taking over)."""
        m = self.modes
        assert m is not None
        ours = (m.control, m.brake) if self._braked_by_us else (m.control,)  # BRAKE by the pilot's switch is theirs
        if not self._ready_once or before is None or before not in ours or not was_armed:
            return
        if armed and (mode == m.control or mode == self._asked_mode):
            return
        now = time.monotonic_ns()
        said = [text for t, text in self._statustexts if now - t < STATUSTEXT_REASON_S * 1e9]
        change = f"{before} -> {mode}" + ("" if armed else ", disarmed")
        self.last_failsafe = change + (f" ({'; '.join(said[-2:])})" if said else "")
        self.counters.failsafes += 1
        log.warning("vehicle left GridScout's control: %s", self.last_failsafe)

    # ---- internals: what is due ----

    def _next_due_ns(self) -> int:
        now = time.monotonic_ns()
        due = [self._next_heartbeat_ns, now + 100_000_000]
        if self._streaming():
            due.append(self._next_setpoint_ns)
        if (next_ack := self._commands.next_due_ns()) is not None:
            due.append(next_ack)
        return min(due)

    def _due_work(self) -> None:
        if self.conn is None or self.link_state is LinkState.CLOSED:
            return
        now = time.monotonic_ns()
        s = self.settings
        if now >= self._next_heartbeat_ns:
            send_gcs_heartbeat(self.conn)
            self._next_heartbeat_ns = now + round(s.heartbeat_period_s * 1e9)
        if self.modes is None or self.link_state is LinkState.REFUSED:
            return
        self._check_heartbeat(now)
        resend, given_up = self._commands.due(now)
        for cmd in resend:
            self.counters.retries += not cmd.setup
            self._send_command(cmd)
        for cmd in given_up:
            self._on_unanswered(cmd)
        self._params_due(now)
        if self.link_state is LinkState.CONNECTING and not self._ready_once:
            self._wait_for_vehicle(now)
        if self._streaming() and now >= self._next_setpoint_ns:
            self._send_setpoint(now)
        elif not self._streaming():
            self._stream_since_ns = None

    def _on_unanswered(self, cmd: PendingCommand) -> None:
        if cmd.setup:
            self._warn(f"vehicle never answered {cmd.label}")
            if cmd.command == mavlink.MAV_CMD_SET_MESSAGE_INTERVAL:
                self._request_data_stream()
                self._next_stream_request()
            return
        self.counters.unanswered += 1
        log.warning("vehicle never answered %s (%d sends)", cmd.label, cmd.retries + 1)

    def _params_due(self, now: int) -> None:
        if self._params is None:
            return
        for check, name in self._params.due(now):
            if check.optional:
                log.info("vehicle has no parameter %s (older firmware?); not checked", name)
            else:
                wanted = check.wanted_for(self.settings.system_id)
                self._warn(f"vehicle parameter {check.name}: no answer to PARAM_REQUEST_READ; should be {wanted}")

    def _check_heartbeat(self, now: int) -> None:
        last = self._last_heartbeat_ns
        if last is None or now - last <= self.settings.heartbeat_lost_s * 1e9:
            return
        if self.link_state is LinkState.CONNECTED:
            self.counters.link_drops += 1
            self.last_link_drop = f"no HEARTBEAT from the vehicle on {self.url} for {(now - last) / 1e9:.1f} s"
            self.link_state = LinkState.CONNECTING
            self._commands.clear(keep_stop=True)
            log.warning("no HEARTBEAT from the vehicle for %.1f s: link lost", (now - last) / 1e9)
        self.link_detail = (
            f"no HEARTBEAT from the vehicle on {self.url} for {(now - last) / 1e9:.1f} s (link lost; its own "
            "failsafe acts)"
        )

    def _wait_for_vehicle(self, now: int) -> None:
        """Before the vehicle is first ready: say what is awaited, and do what the config allows."""
        m, s, p = self.modes, self.settings, self._position
        assert m is not None
        if self._last_heartbeat_ns is None or self.mode is None:
            return
        if p is not None and self._too_far(p):
            return
        in_mode = self.mode == m.control
        airborne = m.family == "rover" or (p is not None and p.alt_rel_m >= AIRBORNE_M)
        if self.armed and in_mode and airborne:
            self._on_ready()
            return
        if p is None:
            self.link_detail = (
                f"{m.describe} on {self.url}: waiting for its position (GLOBAL_POSITION_INT with a GPS fix)"
            )
            return
        engage = s.engage == "always" or (s.engage == "auto" and m.px4)
        missing = []
        if not self.armed:
            missing.append("arm it" + ("" if s.allow_arm else " by hand (vehicle.allow_arm is false)"))
        if not in_mode:
            missing.append(f"switch it to {m.control}" + (" (GridScout is asking)" if engage else ""))
        if not airborne:
            missing.append(
                "take it off"
                + (" (GridScout is asking)" if s.allow_takeoff else " by hand (vehicle.allow_takeoff is false)")
            )
        where = "" if m.family == "rover" else ", airborne" if airborne else ", on the ground"
        self.link_detail = (
            f"{m.describe} on {self.url} is {self.mode}, {'armed' if self.armed else 'disarmed'}{where}: "
            "waiting for the crew to " + ", ".join(missing)
        )
        if now < self._next_engage_ns or self._commands.pending.keys() - {mavlink.MAV_CMD_SET_MESSAGE_INTERVAL}:
            return
        self._next_engage_ns = now + round(ENGAGE_RETRY_S * 1e9)
        streamed_s = (now - self._stream_since_ns) / 1e9 if self._stream_since_ns is not None else 0.0
        if engage and not in_mode and (not m.px4 or streamed_s >= PX4_STREAM_BEFORE_S):
            self._set_mode(m.control)
        elif s.allow_arm and in_mode and not self.armed:
            self._command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, (1,), "COMPONENT_ARM_DISARM(arm)")
        elif s.allow_takeoff and in_mode and self.armed and not airborne and not self._took_off:
            self._took_off = True
            alt = self.mission.altitude_m
            self._command(
                mavlink.MAV_CMD_NAV_TAKEOFF, (0, 0, 0, math.nan, math.nan, math.nan, alt), f"NAV_TAKEOFF({alt:g} m)"
            )

    def _too_far(self, p: _Position) -> bool:
        """Refuse a vehicle farther than `max_path_distance_m` from the mission's flight path: it would fly there in
        a straight line (a mission made elsewhere, a vehicle somewhere else). Anywhere along the path is fine: a
        vehicle process restarted mid-line finds the vehicle where it left it."""
        mission, top = self.mission, self.settings.max_path_distance_m
        east, north, _ = mission.frame.to_local(p.lat_deg, p.lon_deg)
        s_m, _ = mission.path.project(east, north)
        lat, lon, _ = mission.frame.to_global(*mission.path.point_at(s_m))
        away = distance_m(p.lat_deg, p.lon_deg, lat, lon)  # geodesic: a vehicle may be a continent away
        if away <= top:
            return False
        far = f"{away / 1000:.1f} km" if away >= 10_000 else f"{away:.0f} m"
        self.link_state = LinkState.REFUSED
        self.link_detail = (
            f"vehicle on {self.url} is {far} from the flight path of mission {mission.name!r} (nearest at "
            f"{lat:.6f}, {lon:.6f}; vehicle.max_path_distance_m = {top:g}): refusing to fly there; make a mission "
            f"where it is with `gridscout mission here --vehicle mavlink:{self.url} -o FILE`"
        )
        log.error("%s", self.link_detail)
        return True

    def _on_ready(self) -> None:
        m = self.modes
        assert m is not None
        first = not self._ready_once
        self._ready_once = True
        self.link_state, self.link_detail = LinkState.CONNECTED, ""
        self.counters.handshakes += 1
        if self.limits is None:
            self.limits = VehicleLimits(max_speed_mps=self.settings.max_speed_mps, heartbeat_timeout_s=None)
        if first:
            log.info(
                "%s on %s ready: %s, armed; steering it along %s", m.describe, self.url, self.mode, self.mission.name
            )
            self._send_cruise_speed()
        else:
            log.info("%s on %s heard again (%s)", m.describe, self.url, self.mode)
            self._request_streams()  # it may have rebooted meanwhile
        if self.stop_pending:  # a stop from before the link dropped: still wanted, send it again
            self._commands.clear()
            self.stop()

    def _send_cruise_speed(self) -> None:
        self.change_speed(min(self.mission.cruise_speed_mps, self.settings.max_speed_mps))

    def _vehicle_state(self) -> VehicleState:
        m, p = self.modes, self._position
        if m is None or self.link_state is not LinkState.CONNECTED:
            return VehicleState.DISCONNECTED
        if not self.armed:
            return VehicleState.FAULT
        if self.mode == m.brake and self._braked_by_us:
            return VehicleState.READY
        if self.mode != m.control:
            return VehicleState.FAILSAFE
        if p is not None:
            east, north, _ = self.mission.frame.to_local(p.lat_deg, p.lon_deg)
            s, _ = self.mission.path.project(east, north)
            length, tol = self.mission.path.length_m, self.settings.end_tolerance_m
            if (self._direction > 0 and s >= length - tol) or (self._direction < 0 and s <= tol):
                return VehicleState.END_OF_PATH
        return VehicleState.MOVING if self._speed else VehicleState.READY

    def _update_telemetry(self, rx_ns: int) -> None:
        p = self._position
        if p is None:
            return
        east, north, _ = self.mission.frame.to_local(p.lat_deg, p.lon_deg)
        s, _ = self.mission.path.project(east, north)
        de, dn = self.mission.path.tangent_at(s)
        ground = math.hypot(p.v_north, p.v_east)
        heading = p.heading_deg
        if heading is None and ground > 0.2:
            heading = math.degrees(math.atan2(p.v_east, p.v_north)) % 360.0
        roll, pitch, yaw = self._attitude or (None, None, None)
        rover = self.modes is not None and self.modes.family == "rover"
        alt_rel = p.alt_rel_m
        if rover:  # ArduRover's relative_alt is its altitude above sea level (299.6 m on the ground, home at 300 m)
            alt_rel = p.alt_m - self._home_alt_m if self._home_alt_m is not None else None
        self.telemetry = VehicleTelemetry(
            t_mono_ns=rx_ns,
            t_rx_mono_ns=p.rx_ns,
            state=self._vehicle_state(),
            link_ok=self.link_ok,
            position_m=s,
            speed_mps=p.v_east * de + p.v_north * dn,
            battery_v=self._battery[0],
            battery_pct=self._battery[1],
            lat_deg=p.lat_deg,
            lon_deg=p.lon_deg,
            alt_m=p.alt_m,
            alt_rel_m=alt_rel,
            ground_speed_mps=ground,
            heading_deg=heading,
            roll_deg=roll,
            pitch_deg=pitch,
            yaw_deg=yaw,
            mode=self.mode,
            armed=self.armed,
            max_speed_mps=self.settings.max_speed_mps,
            ground_vehicle=rover,
        )


__all__ = ["MavlinkDriver", "MavlinkError", "MavlinkSettings"]
