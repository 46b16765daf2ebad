"""The simulated MAVLink vehicle, without I/O: an ArduPilot-like multicopter or rover.

`handle(msg, now)` answers one MAVLink message from a ground station or companion computer and returns
the replies; `tick(now)` advances the kinematics, runs the setpoint timeout and the GCS failsafe, and
returns the telemetry due. Times are monotonic seconds the caller passes, so a test can drive it with
any clock; given the same messages at the same times (and the same seed) it does the same thing.

What it does, as ArduPilot documents it for Copter and Rover:

- HEARTBEAT as MAV_AUTOPILOT_ARDUPILOTMEGA, MAV_TYPE_QUADROTOR or MAV_TYPE_GROUND_ROVER, the mode as
  ArduPilot numbers it (pymavlink's table); GLOBAL_POSITION_INT, ATTITUDE, SYS_STATUS, BATTERY_STATUS and
  HOME_POSITION at rates MAV_CMD_SET_MESSAGE_INTERVAL (or REQUEST_DATA_STREAM) sets, or once on
  MAV_CMD_REQUEST_MESSAGE; STATUSTEXT on what it does by itself. A rover's GLOBAL_POSITION_INT.relative_alt
  is its altitude above sea level, as ArduRover 4.7 reported it (299.6 m on the ground, home at 300 m).
- Modes: GUIDED (SET_POSITION_TARGET_LOCAL_NED / GLOBAL_INT: velocity, or position at the DO_CHANGE_SPEED
  speed), BRAKE (Copter: a hard stop), LOITER / HOLD (stop and stay), RTL (climb to RTL_ALT, fly home, land
  and disarm; a rover drives home and holds), LAND. Setpoints outside GUIDED are ignored, as ArduPilot does.
- A velocity setpoint older than `setpoint_timeout_s` (3 s) is dropped: it stops.
- GCS failsafe: armed, FS_GCS_ENABLE set, and no HEARTBEAT from system MAV_GCS_SYSID for FS_GCS_TIMEOUT
  (ArduPilot 4.7's name; SYSID_MYGCS before); a drone whose FS_OPTIONS has bit 4 (16, Copter's default)
  in a pilot-controlled mode (BRAKE, LOITER) lets it pass, as the real firmware does
  seconds (after one was seen): RTL (a rover: HOLD), with a STATUSTEXT; cleared when heartbeats return.
- COMMAND_LONG is answered with COMMAND_ACK: a mode it does not simulate, a mode `refuse_modes` lists,
  RTL without a home, a take-off outside GUIDED or disarmed, a command it does not know: each refused
  with the MAV_RESULT ArduPilot gives.
- PARAM_REQUEST_READ / _LIST / PARAM_SET on its few parameters (the failsafe ones among them).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from gridscout.control.geodesy import LocalFrame
from gridscout.hardware.mavlink.mav import command_name, enum_name, mavlink, mavutil, text_of
from gridscout.hardware.sim.mavlink.config import FAILSAFE_ACTIONS, SIM_MODES, MavSimConfig

G = 9.80665
#: the MAV_TYPE each simulated vehicle announces
MAV_TYPES = {"drone": mavlink.MAV_TYPE_QUADROTOR, "rover": mavlink.MAV_TYPE_GROUND_ROVER}
#: message -> its rate (Hz) until a GCS asks for another, as ArduPilot's SRx_ defaults roughly are
#: HOME_POSITION is not streamed until asked for (a rate, or once by REQUEST_MESSAGE)
DEFAULT_RATES_HZ = {
    "GLOBAL_POSITION_INT": 4.0, "ATTITUDE": 4.0, "SYS_STATUS": 1.0, "BATTERY_STATUS": 1.0, "HOME_POSITION": 0.0,
}  # fmt: skip
HEARTBEAT_HZ = 1.0
#: ArduPilot's "force disarm" magic number (COMPONENT_ARM_DISARM param2)
FORCE_DISARM = 21196
CELLS, CELL_FULL_V, CELL_EMPTY_V = 6, 4.2, 3.3
DRAIN_PCT_PER_S = 0.01
ON_GROUND_M = 0.05
DEDUPE_WINDOW_S = 1.0
#: bytes in one STATUSTEXT's text
TEXT_CHUNK = 50
#: FS_OPTIONS bit 4: on a GCS failsafe, continue in pilot-controlled modes (ArduCopter counts BRAKE among them)
FS_OPTION_CONTINUE_PILOT = 16
PILOT_MODES = frozenset({"BRAKE", "LOITER"})
#: MAVProxy's own component id, as it speaks on ArduPilot SITL (not MISSIONPLANNER's 190)
MAVPROXY_COMPONENT = 230
#: with `relayed`: how often the other ground station's traffic comes
RELAY_PERIOD_S = 0.2


def parameters(config: MavSimConfig) -> dict[str, float]:
    """The simulator's parameters, as ArduPilot names them, with the config's values."""
    values = {
        "SYSID_THISMAV": float(config.system_id),
        "MAV_GCS_SYSID": float(config.gcs_system_id),
        "FS_GCS_ENABLE": 1.0 if config.gcs_failsafe else 0.0,
        "FS_GCS_TIMEOUT": config.gcs_timeout_s,
        "RTL_ALT": config.rtl_alt_m * 100,  # cm, as Copter has it
        "WPNAV_SPEED": config.wp_speed_mps * 100,  # cm/s
    }
    if config.vehicle == "drone":
        values["FS_OPTIONS"] = float(config.fs_options)
    for name, value in config.params:
        if name not in values:
            raise ValueError(f"simulator parameter {name!r}: not one it has ({', '.join(values)})")
        values[name] = float(value)
    return values


@dataclass(slots=True)
class _Target:
    #: "velocity" or "position"
    kind: str
    #: velocity (north, east, down) m/s, or position (east, north, up) m in the home frame
    vector: tuple[float, float, float]
    yaw_deg: float | None
    t_set: float


@dataclass
class MavVehicleSim:
    """One vehicle. `events` collects dicts for the log (commands, setpoints, mode changes, failsafes); the
    caller drains it."""

    config: MavSimConfig
    now: float
    events: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        c = self.config
        if c.vehicle not in SIM_MODES:
            raise ValueError(f"simulated vehicle {c.vehicle!r}: expected one of {', '.join(SIM_MODES)}")
        self.mav_type, self.flown_modes = MAV_TYPES[c.vehicle], SIM_MODES[c.vehicle]
        self.failsafe_action = FAILSAFE_ACTIONS[c.vehicle]
        self.mode_numbers: dict[str, int] = mavutil.mode_mapping_byname(self.mav_type)
        for mode in (*self.flown_modes, c.start_mode):
            if mode not in self.mode_numbers or mode not in self.flown_modes:
                raise ValueError(f"simulated {c.vehicle}: cannot start in or fly mode {mode!r}")
        self.params = parameters(c)
        self.frame = LocalFrame(c.home_lat_deg, c.home_lon_deg, c.home_alt_m)
        self.rover = c.vehicle == "rover"
        self.position = [0.0, 0.0, 0.0 if self.rover else c.start_alt_m]  # east, north, up of home
        self.velocity = [0.0, 0.0, 0.0]  # east, north, up
        self.accel = (0.0, 0.0)  # the latest horizontal acceleration (east, north), for the attitude
        self.yaw_deg = c.start_heading_deg % 360.0
        self.mode = c.start_mode
        self.armed = c.start_armed
        self.target: _Target | None = None
        self.wp_speed = c.wp_speed_mps
        self.battery_pct = c.battery_pct
        self.rates = dict(DEFAULT_RATES_HZ)
        #: messages asked for once (REQUEST_MESSAGE), sent on the next tick
        self._once: set[str] = set()
        self.gcs_seen: float | None = None
        self.in_failsafe = False
        self.rtl_phase = ""
        self.duplicates = 0
        self._rng = random.Random(c.seed)
        self._t0 = self._t_physics = self.now
        self._next_send = {name: self.now for name in (*self.rates, "HEARTBEAT")}
        self._sends: dict[int, int] = {}  # command -> sends seen since it was last answered (drop_commands)
        self._answered: dict[tuple, tuple[float, int]] = {}  # (command, params) -> (when, result)
        self._text_id = 0
        self._next_relay = self._next_relay_heartbeat = self.now

    # ---- MAVLink in ----

    def handle(self, msg, now: float) -> list:
        """Answer one message; returns the replies (pymavlink message objects)."""
        kind = msg.get_type()
        if kind == "HEARTBEAT":
            if msg.get_srcSystem() == int(self.params["MAV_GCS_SYSID"]):
                self.gcs_seen = now
                if self.in_failsafe:
                    self.in_failsafe = False
                    self._event(now, "failsafe_cleared")
                    return self._text(mavlink.MAV_SEVERITY_INFO, "GCS Failsafe Cleared")
            return []
        if getattr(msg, "target_system", self.config.system_id) not in (0, self.config.system_id):
            return []
        if getattr(msg, "target_component", 0) not in (0, mavlink.MAV_COMP_ID_AUTOPILOT1):
            return []  # for another component of this system (ArduPilot routes it there)
        match kind:
            case "COMMAND_LONG":
                return self._command_long(msg, now)
            case "SET_POSITION_TARGET_LOCAL_NED" | "SET_POSITION_TARGET_GLOBAL_INT":
                self._setpoint(msg, now)
            case "PARAM_REQUEST_READ":
                return self._param_read(text_of(msg.param_id), msg.param_index)
            case "PARAM_REQUEST_LIST":
                return [self._param_value(name) for name in self.params]
            case "PARAM_SET":
                name = text_of(msg.param_id)
                if name in self.params:
                    self.params[name] = float(msg.param_value)
                    self._event(now, "param_set", name=name, value=self.params[name])
                    return [self._param_value(name)]
            case "REQUEST_DATA_STREAM":
                if msg.start_stop and msg.req_message_rate > 0:
                    self.rates = dict.fromkeys(self.rates, float(msg.req_message_rate))
        return []

    def _command_long(self, msg, now: float) -> list:
        cmd, c = msg.command, self.config
        params = (msg.param1, msg.param2, msg.param3, msg.param4, msg.param5, msg.param6, msg.param7)
        key = (cmd, tuple(p if math.isfinite(p) else None for p in params))
        previous = self._answered.get(key)
        if msg.confirmation > 0 and previous is not None and now - previous[0] < DEDUPE_WINDOW_S:
            self.duplicates += 1
            return [self._ack(msg, previous[1])] if c.ack else []  # a resend of one already done: answer again
        self._sends[cmd] = self._sends.get(cmd, 0) + 1
        if self._sends[cmd] <= c.drop_commands:
            self._event(now, "command_dropped", command=command_name(cmd), confirmation=msg.confirmation)
            return []
        self._sends[cmd] = 0
        result, texts = self._execute(msg, now)
        self._answered[key] = (now, result)
        self._event(
            now,
            "command",
            command=command_name(cmd),
            params=[round(p, 6) for p in params[:3] if math.isfinite(p)],
            confirmation=msg.confirmation,
            result=enum_name("MAV_RESULT", result),
        )
        replies = [reply for severity, text in texts for reply in self._text(severity, text)]
        return replies + ([self._ack(msg, result)] if c.ack else [])

    def _execute(self, msg, now: float) -> tuple[int, list[tuple[int, str]]]:
        """Do one COMMAND_LONG: (MAV_RESULT, STATUSTEXTs)."""
        m, cmd = mavlink, msg.command
        if cmd == m.MAV_CMD_DO_SET_MODE:
            if not int(msg.param1) & m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
                return m.MAV_RESULT_UNSUPPORTED, []
            names = {number: name for name, number in self.mode_numbers.items()}
            name = names.get(int(msg.param2))
            if name is None:
                return m.MAV_RESULT_UNSUPPORTED, []
            return self._set_mode(name, now, "GCS command")
        if cmd == m.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            return self._set_mode("RTL", now, "GCS command")
        if cmd == m.MAV_CMD_NAV_LAND and not self.rover:
            return self._set_mode("LAND", now, "GCS command")
        if cmd == m.MAV_CMD_DO_CHANGE_SPEED:
            if msg.param2 <= 0 or not 0 <= msg.param1 <= 3:
                return m.MAV_RESULT_DENIED, []  # ArduCopter 4.5: no speed, or no such speed type
            if int(msg.param1) <= 1:  # 0 airspeed (taken as ground speed), 1 ground speed; 2, 3 climb, descent
                self.wp_speed = min(float(msg.param2), self.config.max_speed_mps)
            return m.MAV_RESULT_ACCEPTED, []
        if cmd == m.MAV_CMD_SET_MESSAGE_INTERVAL:
            return self._set_interval(int(msg.param1), msg.param2, now), []
        if cmd == m.MAV_CMD_REQUEST_MESSAGE:
            names = {getattr(m, f"MAVLINK_MSG_ID_{name}"): name for name in self.rates}
            if int(msg.param1) not in names:
                return m.MAV_RESULT_DENIED, []
            self._once.add(names[int(msg.param1)])  # once, on the next tick, as well as its stream
            return m.MAV_RESULT_ACCEPTED, []
        if cmd == m.MAV_CMD_COMPONENT_ARM_DISARM:
            return self._arm(msg.param1 >= 0.5, int(msg.param2) == FORCE_DISARM, now)
        if cmd == m.MAV_CMD_NAV_TAKEOFF and not self.rover:
            if self.mode != "GUIDED" or not self.armed or not self._landed:
                return m.MAV_RESULT_FAILED, [(m.MAV_SEVERITY_WARNING, "Takeoff: not armed in GUIDED on the ground")]
            alt = msg.param7 if math.isfinite(msg.param7) and msg.param7 > 0 else self.config.start_alt_m
            self.target = _Target("position", (self.position[0], self.position[1], alt), None, now)
            return m.MAV_RESULT_ACCEPTED, []
        return m.MAV_RESULT_UNSUPPORTED, []

    def _set_mode(self, name: str, now: float, reason: str) -> tuple[int, list[tuple[int, str]]]:
        m = mavlink
        if name in self.config.refuse_modes:
            return m.MAV_RESULT_DENIED, [
                (m.MAV_SEVERITY_WARNING, f"Mode change to {name} failed: refused (--refuse-mode)")
            ]
        if name not in self.flown_modes:
            return m.MAV_RESULT_UNSUPPORTED, [(m.MAV_SEVERITY_WARNING, f"Mode {name} is not simulated")]
        if name == "RTL" and not self.config.home_set:
            return m.MAV_RESULT_FAILED, [(m.MAV_SEVERITY_WARNING, "Mode change to RTL failed: no home")]
        self._enter(name, now, reason)
        return m.MAV_RESULT_ACCEPTED, []

    def _enter(self, name: str, now: float, reason: str) -> None:
        if name != self.mode:
            self._event(now, "mode", mode=name, was=self.mode, reason=reason)
            if name == "GUIDED":  # ArduCopter: entering GUIDED sets its speeds back to WPNAV_SPEED
                self.wp_speed = self.params["WPNAV_SPEED"] / 100
        self.mode, self.target, self.rtl_phase = name, None, "climb" if name == "RTL" else ""

    def _arm(self, arm: bool, force: bool, now: float) -> tuple[int, list[tuple[int, str]]]:
        m = mavlink
        if arm == self.armed:
            return m.MAV_RESULT_ACCEPTED, []
        if not arm and not self._landed and not force:
            return m.MAV_RESULT_FAILED, [(m.MAV_SEVERITY_WARNING, "Disarm: vehicle is flying")]
        self.armed = arm
        self._event(now, "armed" if arm else "disarmed", reason="GCS command")
        return m.MAV_RESULT_ACCEPTED, [(m.MAV_SEVERITY_INFO, "Arming motors" if arm else "Disarming motors")]

    def _set_interval(self, msg_id: int, interval_us: float, now: float) -> int:
        names = {getattr(mavlink, f"MAVLINK_MSG_ID_{name}"): name for name in self.rates}
        name = names.get(msg_id)
        if name is None:
            return mavlink.MAV_RESULT_DENIED  # not a message it streams
        if interval_us < 0:
            self.rates[name] = 0.0
        else:
            self.rates[name] = DEFAULT_RATES_HZ[name] if interval_us == 0 else 1e6 / interval_us
            if self.rates[name] > 0:
                self._next_send[name] = min(self._next_send[name], now + 1.0 / self.rates[name])
        return mavlink.MAV_RESULT_ACCEPTED

    def _setpoint(self, msg, now: float) -> None:
        """A position or velocity target: taken in GUIDED while armed, ignored (and logged) otherwise."""
        m, mask = mavlink, msg.type_mask
        if self.mode != "GUIDED" or not self.armed or (self._landed and not self.rover):
            # outside GUIDED, disarmed, or a copter still on the ground (it takes off only by NAV_TAKEOFF)
            self._event(now, "setpoint_ignored", mode=self.mode, armed=self.armed, landed=self._landed)
            return
        yaw = None if mask & m.POSITION_TARGET_TYPEMASK_YAW_IGNORE else math.degrees(msg.yaw) % 360.0
        position_given = not mask & (m.POSITION_TARGET_TYPEMASK_X_IGNORE | m.POSITION_TARGET_TYPEMASK_Y_IGNORE)
        if position_given:
            self.target = _Target("position", self._target_position(msg), yaw, now)
        elif not mask & (m.POSITION_TARGET_TYPEMASK_VX_IGNORE | m.POSITION_TARGET_TYPEMASK_VY_IGNORE):
            vn, ve, vd = msg.vx, msg.vy, msg.vz
            if msg.coordinate_frame in (m.MAV_FRAME_BODY_NED, m.MAV_FRAME_BODY_OFFSET_NED):  # forward, right, down
                c, s = math.cos(math.radians(self.yaw_deg)), math.sin(math.radians(self.yaw_deg))
                vn, ve = vn * c - ve * s, vn * s + ve * c
            if self.rover or mask & m.POSITION_TARGET_TYPEMASK_VZ_IGNORE:
                vd = 0.0
            self.target = _Target("velocity", (vn, ve, vd), yaw, now)
        else:
            return
        t = self.target
        self._event(now, "setpoint", target=t.kind, vector=[round(v, 4) for v in t.vector], yaw_deg=_round(t.yaw_deg))

    def _target_position(self, msg) -> tuple[float, float, float]:
        m = mavlink
        if msg.get_type() == "SET_POSITION_TARGET_GLOBAL_INT":
            east, north, _ = self.frame.to_local(msg.lat_int / 1e7, msg.lon_int / 1e7, self.config.home_alt_m)
            up = (
                msg.alt - self.config.home_alt_m
                if msg.coordinate_frame in (m.MAV_FRAME_GLOBAL_INT, m.MAV_FRAME_GLOBAL)
                else msg.alt
            )
            return east, north, self.position[2] if self.rover else up
        if msg.coordinate_frame in (m.MAV_FRAME_LOCAL_OFFSET_NED, m.MAV_FRAME_BODY_OFFSET_NED):
            return self.position[0] + msg.y, self.position[1] + msg.x, self.position[2] - msg.z
        return msg.y, msg.x, -msg.z  # MAV_FRAME_LOCAL_NED: north, east, down of the origin (home)

    def _param_read(self, name: str, index: int) -> list:
        names = list(self.params)
        if 0 <= index < len(names):
            name = names[index]
        return [self._param_value(name)] if name in self.params else []  # an unknown name: no answer, as ArduPilot

    # ---- time ----

    def tick(self, now: float) -> list:
        """Advance to `now` in fixed steps, run the timeouts; returns the messages due."""
        dt = 1.0 / self.config.physics_hz
        self._t_physics = max(self._t_physics, now - 1.0)  # after a long stall, do not replay it all
        out: list = []
        while self._t_physics + dt <= now:
            self._t_physics += dt
            out += self.step(dt, self._t_physics)
        out += self._relayed(now)
        out += self._gcs_failsafe(now)
        self.now = now
        out += [self._message(name, now) for name in sorted(self._once)]
        self._once.clear()
        for name, due in list(self._next_send.items()):
            rate = HEARTBEAT_HZ if name == "HEARTBEAT" else self.rates[name]
            if rate <= 0 or now < due:
                continue
            out.append(self._message(name, now))
            self._next_send[name] = max(due + 1.0 / rate, now)
        return out

    def step(self, dt: float, now: float) -> list:
        """One kinematics step: velocity towards what the mode wants, within the acceleration limits."""
        c, out = self.config, []
        target = self.target
        if target and target.kind == "velocity" and now - target.t_set > c.setpoint_timeout_s:
            self.target = target = None
            self._event(now, "setpoint_timeout", after_s=c.setpoint_timeout_s)
        want, rate = self._wanted_velocity(now), c.accel_mps2
        if self.mode == "BRAKE":
            rate = c.brake_mps2
        elif self.mode in ("LOITER", "HOLD") and math.hypot(*self.velocity[:2]) > 0:
            rate = max(c.accel_mps2, c.brake_mps2 / 2)
        dv_e, dv_n = want[0] - self.velocity[0], want[1] - self.velocity[1]
        dv = math.hypot(dv_e, dv_n)
        scale = min(1.0, rate * dt / dv) if dv > 0 else 0.0
        self.accel = (dv_e * scale / dt, dv_n * scale / dt)
        self.velocity[0] += dv_e * scale
        self.velocity[1] += dv_n * scale
        dv_u = want[2] - self.velocity[2]
        self.velocity[2] += max(-c.accel_mps2 * dt, min(c.accel_mps2 * dt, dv_u))
        for i in range(3):
            self.position[i] += self.velocity[i] * dt
        if self.position[2] <= 0.0 and not self.rover:
            self.position[2], self.velocity[2] = 0.0, max(0.0, self.velocity[2])
        self._turn(dt, target)
        self.battery_pct = max(0.0, self.battery_pct - DRAIN_PCT_PER_S * dt * self.armed)
        if self.mode == "RTL":
            out += self._rtl_progress(now)
        if self.mode in ("LAND", "RTL") and self.armed and self._landed and self.rtl_phase in ("", "land"):
            self.armed = False
            self._event(now, "landed", reason=self.mode)
            out += self._text(mavlink.MAV_SEVERITY_INFO, "Landed, disarming")
        return out

    def _wanted_velocity(self, now: float) -> tuple[float, float, float]:
        """(east, north, up) the current mode asks for."""
        c = self.config
        if not self.armed:
            return 0.0, 0.0, 0.0
        if self.mode == "GUIDED" and self.target is not None:
            t = self.target
            if t.kind == "velocity":
                vn, ve, vd = t.vector
                return (*_clamp_h(ve, vn, c.max_speed_mps), _clamp(-vd, c.climb_mps))
            return self._towards(t.vector, self.wp_speed)
        if self.mode == "RTL":
            home_up = max(self.position[2], c.rtl_alt_m) if not self.rover else 0.0
            if self.rtl_phase == "climb":
                return 0.0, 0.0, c.climb_mps
            if self.rtl_phase == "return":
                return self._towards((0.0, 0.0, home_up), self.wp_speed)
            return 0.0, 0.0, -c.land_speed_mps
        if self.mode == "LAND":
            return 0.0, 0.0, -c.land_speed_mps
        return 0.0, 0.0, 0.0  # GUIDED without a target, BRAKE, LOITER, HOLD: stand still

    def _towards(self, goal: tuple[float, float, float], speed: float) -> tuple[float, float, float]:
        c = self.config
        de, dn, du = (goal[i] - self.position[i] for i in range(3))
        dist = math.hypot(de, dn)
        v = min(speed, math.sqrt(2 * c.accel_mps2 * dist) * 0.9, dist * 2.0)
        ve, vn = (de / dist * v, dn / dist * v) if dist > 1e-6 else (0.0, 0.0)
        return ve, vn, 0.0 if self.rover else _clamp(du * 1.0, c.climb_mps)

    def _rtl_progress(self, now: float) -> list:
        c, (e, n, u) = self.config, self.position
        if self.rtl_phase == "climb" and (self.rover or u >= c.rtl_alt_m - 0.2):
            self.rtl_phase = "return"
        elif self.rtl_phase == "return" and math.hypot(e, n) < 0.5 and math.hypot(*self.velocity[:2]) < 0.2:
            if self.rover:
                self._enter("HOLD", now, "RTL complete")
                return self._text(mavlink.MAV_SEVERITY_INFO, "Reached home")
            self.rtl_phase = "land"
            self._event(now, "rtl_landing")
        return []

    def _turn(self, dt: float, target: _Target | None) -> None:
        goal = target.yaw_deg if target is not None and self.mode == "GUIDED" else None
        speed = math.hypot(*self.velocity[:2])
        if self.rover and speed > 0.1:
            goal = math.degrees(math.atan2(self.velocity[0], self.velocity[1])) % 360.0
        if goal is None:
            return
        error = (goal - self.yaw_deg + 180.0) % 360.0 - 180.0
        turn = self.config.yaw_rate_dps * dt
        self.yaw_deg = (self.yaw_deg + max(-turn, min(turn, error))) % 360.0

    def _gcs_failsafe(self, now: float) -> list:
        p = self.params
        if self.in_failsafe or not self.armed or not p["FS_GCS_ENABLE"] or self.gcs_seen is None:
            return []
        silent = now - self.gcs_seen
        if silent <= p["FS_GCS_TIMEOUT"]:
            return []
        if int(p.get("FS_OPTIONS", 0)) & FS_OPTION_CONTINUE_PILOT and self.mode in PILOT_MODES:
            return []  # "continue if in pilot-controlled modes": the drone stays as it is
        self.in_failsafe = True
        action = self.failsafe_action if self.config.home_set or self.failsafe_action != "RTL" else "LAND"
        self._event(now, "failsafe", kind="gcs", silent_s=round(silent, 3), action=action, position=self._where())
        self._enter(action, now, "GCS failsafe")
        return self._text(mavlink.MAV_SEVERITY_CRITICAL, f"GCS Failsafe: {action}")

    # ---- MAVLink out ----

    @property
    def _landed(self) -> bool:
        return self.rover or self.position[2] <= ON_GROUND_M

    @property
    def lat_lon_alt(self) -> tuple[float, float, float]:
        """Where the vehicle really is (no GPS noise): latitude, longitude, altitude AMSL."""
        lat, lon, _ = self.frame.to_global(self.position[0], self.position[1], 0.0)
        return lat, lon, self.config.home_alt_m + self.position[2]

    def _where(self) -> dict[str, float]:
        lat, lon, _ = self.lat_lon_alt
        return {"lat": round(lat, 8), "lon": round(lon, 8), "alt_rel_m": round(self.position[2], 3)}

    def state(self) -> dict[str, Any]:
        """The truth, for the log: mode, position, velocity, heading."""
        e, n, _ = self.position
        return {
            "mode": self.mode,
            "armed": self.armed,
            **self._where(),
            "east_m": round(e, 3),
            "north_m": round(n, 3),
            "ground_speed_mps": round(math.hypot(*self.velocity[:2]), 3),
            "climb_mps": round(self.velocity[2], 3),
            "yaw_deg": round(self.yaw_deg, 2),
        }

    def _message(self, name: str, now: float):
        m = mavlink
        boot_ms = int((now - self._t0) * 1000) & 0xFFFFFFFF
        ve, vn, vu = self.velocity
        if name == "HEARTBEAT":
            base = (
                m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | m.MAV_MODE_FLAG_GUIDED_ENABLED | m.MAV_MODE_FLAG_STABILIZE_ENABLED
            )
            base |= m.MAV_MODE_FLAG_SAFETY_ARMED if self.armed else 0
            status = (
                m.MAV_STATE_CRITICAL if self.in_failsafe else m.MAV_STATE_ACTIVE if self.armed else m.MAV_STATE_STANDBY
            )
            return m.MAVLink_heartbeat_message(
                self.mav_type, m.MAV_AUTOPILOT_ARDUPILOTMEGA, base, self.mode_numbers[self.mode], status, 3
            )
        if name == "GLOBAL_POSITION_INT":
            lat, lon, alt = self.lat_lon_alt
            noise = self.config.gps_noise_m
            if noise > 0:
                e, n, _ = self.frame.to_local(lat, lon)
                lat, lon, _ = self.frame.to_global(e + self._rng.gauss(0, noise), n + self._rng.gauss(0, noise), 0.0)
            relative = alt if self.rover else self.position[2]  # ArduRover's relative_alt: above sea level
            return m.MAVLink_global_position_int_message(
                boot_ms, round(lat * 1e7), round(lon * 1e7), round(alt * 1000), round(relative * 1000),
                round(vn * 100), round(ve * 100), round(-vu * 100), round(self.yaw_deg * 100) % 36000,
            )  # fmt: skip
        if name == "HOME_POSITION":
            home_lat, home_lon, _ = self.frame.to_global(0.0, 0.0, 0.0)
            return m.MAVLink_home_position_message(
                round(home_lat * 1e7), round(home_lon * 1e7), round(self.config.home_alt_m * 1000), 0.0, 0.0, 0.0,
                [1.0, 0.0, 0.0, 0.0], 0.0, 0.0, 0.0,
            )  # fmt: skip
        if name == "ATTITUDE":
            roll, pitch = self._tilt()
            return m.MAVLink_attitude_message(boot_ms, roll, pitch, _wrap_pi(math.radians(self.yaw_deg)), 0.0, 0.0, 0.0)
        volts = CELLS * (CELL_EMPTY_V + (CELL_FULL_V - CELL_EMPTY_V) * self.battery_pct / 100)
        if name == "SYS_STATUS":
            return m.MAVLink_sys_status_message(
                0, 0, 0, 200, round(volts * 1000), 1500, round(self.battery_pct), 0, 0, 0, 0, 0, 0
            )
        cells = [round(volts / CELLS * 1000)] * CELLS + [0xFFFF] * (10 - CELLS)
        return m.MAVLink_battery_status_message(
            0, m.MAV_BATTERY_FUNCTION_ALL, m.MAV_BATTERY_TYPE_LIPO, 2500, cells, 1500, -1, -1, round(self.battery_pct)
        )

    def _tilt(self) -> tuple[float, float]:
        """(roll, pitch) in radians a multicopter leans at to accelerate as it does (a rover: level)."""
        if self.rover:
            return 0.0, 0.0
        yaw = math.radians(self.yaw_deg)
        ae, an = self.accel
        forward = an * math.cos(yaw) + ae * math.sin(yaw)
        right = -an * math.sin(yaw) + ae * math.cos(yaw)
        return math.atan2(right, G), -math.atan2(forward, G)

    def _ack(self, command_msg, result: int):
        """The answer to a command, addressed to whoever sent it (as ArduPilot does)."""
        return mavlink.MAVLink_command_ack_message(
            command_msg.command, result, 0, 0, command_msg.get_srcSystem(), command_msg.get_srcComponent()
        )

    def _text(self, severity: int, text: str) -> list:
        """A STATUSTEXT; a text over 50 bytes in chunks sharing an id, as MAVLink 2 specifies."""
        self._event(self.now, "statustext", text=text)
        data = text.encode()
        if len(data) <= TEXT_CHUNK:
            return [mavlink.MAVLink_statustext_message(severity, data)]
        self._text_id = self._text_id % 0xFFFF + 1
        chunks = [data[i : i + TEXT_CHUNK] for i in range(0, len(data), TEXT_CHUNK)]
        if len(chunks[-1]) == TEXT_CHUNK:
            chunks.append(b"")  # the last chunk is the one with room for the terminator
        return [mavlink.MAVLink_statustext_message(severity, c, self._text_id, i) for i, c in enumerate(chunks)]

    def _relayed(self, now: float) -> list:
        """What else is on a link behind MAVProxy: its own GCS heartbeat (system 255 too), the vehicle's gimbal and
        ADS-B receiver, and answers to the other ground station's commands (addressed to it, not to us)."""
        if not self.config.relayed or now < self._next_relay:
            return []
        self._next_relay = now + RELAY_PERIOD_S
        m, out = mavlink, []
        gcs = (int(self.params["MAV_GCS_SYSID"]), MAVPROXY_COMPONENT)
        if now >= self._next_relay_heartbeat:
            self._next_relay_heartbeat = now + 1.0 / HEARTBEAT_HZ
            me = self.config.system_id
            others = ((gcs, m.MAV_TYPE_GCS), ((me, m.MAV_COMP_ID_GIMBAL), m.MAV_TYPE_GIMBAL),
                      ((me, m.MAV_COMP_ID_ADSB), m.MAV_TYPE_ADSB))  # fmt: skip
            for src, mav_type in others:
                out.append(_from(src, m.MAVLink_heartbeat_message(mav_type, m.MAV_AUTOPILOT_INVALID, 0, 0, 4, 3)))
            self.gcs_seen = now  # MAVProxy's heartbeat holds the GCS failsafe off, as on ArduPilot
        for command, result in (
            (m.MAV_CMD_DO_SET_MODE, m.MAV_RESULT_DENIED),
            (m.MAV_CMD_DO_CHANGE_SPEED, m.MAV_RESULT_FAILED),
        ):
            out.append(_from(self._source, m.MAVLink_command_ack_message(command, result, 0, 0, *gcs)))
        return out

    @property
    def _source(self) -> tuple[int, int]:
        return self.config.system_id, mavlink.MAV_COMP_ID_AUTOPILOT1

    def _param_value(self, name: str):
        names = list(self.params)
        return mavlink.MAVLink_param_value_message(
            name.encode(), self.params[name], mavlink.MAV_PARAM_TYPE_REAL32, len(names), names.index(name)
        )

    def _event(self, now: float, event: str, **fields: Any) -> None:
        self.events.append({"t_mono": now, "event": event, **fields})


def _from(source: tuple[int, int], msg):
    """`msg`, to be sent as from another system or component (`source_of`)."""
    msg._sim_source = source
    return msg


def source_of(msg) -> tuple[int, int] | None:
    """The (system, component) a message from `MavVehicleSim` is sent as; None: the autopilot's own."""
    return getattr(msg, "_sim_source", None)


def _clamp(x: float, limit: float) -> float:
    return max(-limit, min(limit, x))


def _clamp_h(east: float, north: float, limit: float) -> tuple[float, float]:
    speed = math.hypot(east, north)
    return (east, north) if speed <= limit else (east * limit / speed, north * limit / speed)


def _wrap_pi(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
